"""The output heads (ffnlab.model.head): adaptive softmax's log-probabilities are a distribution whose loss is the
cross-entropy the full head would compute on them; the full head is the model as it was; bad settings are one line."""

import math

import pytest
import torch

from ffnlab.errors import ConfigError
from ffnlab.model import head as heads
from ffnlab.model.transformer import ModelConfig, Transformer

V = 300


def _model(head=None, **kw) -> Transformer:
    cfg = ModelConfig(vocab_size=V, seq_len=16, d_model=32, n_layers=2, n_heads=2, head=head, **kw)
    return Transformer(cfg, seed=3)


def _batch():
    g = torch.Generator().manual_seed(0)
    zipf = 1.0 / torch.arange(1, V + 1).float()  # frequent ids first, as ffnlab.data.words numbers them
    return torch.multinomial(zipf, 4 * 17, replacement=True, generator=g).view(4, 17)


def test_adaptive_log_probabilities_sum_to_one_and_its_loss_is_their_cross_entropy():
    m, b = _model("adaptive", adaptive_cutoffs=[20, 100]), _batch()
    x, y = b[:, :-1], b[:, 1:]
    logp, none = m(x)
    assert none is None and logp.shape == (4, 16, V)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(4, 16), atol=1e-5)
    ce = torch.nn.functional.nll_loss(logp.reshape(-1, V), y.reshape(-1), reduction="sum")
    no_logits, loss_sum = m(x, y, reduction="sum")
    assert no_logits is None
    assert loss_sum.item() == pytest.approx(ce.item(), rel=1e-5)
    assert m(x, y)[1].item() == pytest.approx(ce.item() / y.numel(), rel=1e-5)


def test_the_full_head_named_or_null_is_the_tied_model_bit_for_bit():
    b = _batch()
    a, f = _model(None), _model("full")
    assert a.head is None and f.head is None
    assert torch.equal(a(b[:, :-1], b[:, 1:])[1], f(b[:, :-1], b[:, 1:])[1])


def test_every_weight_the_adaptive_head_does_not_own_starts_as_the_full_models():
    full = dict(_model(None).named_parameters())
    ada = dict(_model("adaptive", adaptive_cutoffs=[20, 100]).named_parameters())
    own = {n for n in ada if n.startswith("head.")}
    assert own and set(ada) - own == set(full)
    assert all(torch.equal(full[n], ada[n]) for n in full)


def test_the_head_and_every_tail_learn_and_count_as_non_embedding_parameters():
    m = _model("adaptive", adaptive_cutoffs=[20, 100])
    b = _batch()
    b[0, 1:4] = torch.tensor([50, 250, 5])  # a target in each cluster
    m(b[:, :-1], b[:, 1:])[1].backward()
    for name, p in m.named_parameters():
        if name.startswith("head."):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    counts = m.param_counts()
    d, own = 32, 32 * (20 + 2) + (32 * 8 + 8 * 80) + (32 * 2 + 2 * 200)  # head; tails of width 32/4 and 32/16
    assert counts["total"] - _model(None).param_counts()["total"] == own
    assert counts["non_embedding"] == counts["total"] - V * d


def test_flops_count_the_adaptive_matrices_instead_of_the_tied_vocabulary_matmul():
    full, ada = _model(None), _model("adaptive", adaptive_cutoffs=[20, 100])
    own = 32 * 22 + 32 * 8 + 8 * 80 + 32 * 2 + 2 * 200
    assert ada.flops_per_token()["forward"] - full.flops_per_token()["forward"] == 2 * (own - V * 32)


@pytest.mark.parametrize("cutoffs,why", [([100, 20], "rise"), ([20, V], "below the vocabulary"),
                                         ([0, 20], "rise strictly from above 0")])
def test_cutoffs_that_cannot_split_the_vocabulary_are_one_line(cutoffs, why):
    with pytest.raises(ConfigError, match=why.split()[0]):
        _model("adaptive", adaptive_cutoffs=cutoffs)


def test_an_unknown_head_is_one_line_naming_the_heads():
    with pytest.raises(ConfigError, match="full or adaptive"):
        _model("hierarchical")


def test_adaptive_is_cheaper_than_the_full_head_at_a_large_vocabulary():
    """Not a timing: the FLOPs a token's own cluster costs, from the head's shapes (the bench measures speed)."""
    d, vocab, cuts = 128, 33278, heads.CUTOFFS
    full = d * vocab
    head = d * (cuts[0] + 2)
    assert head < full / 10 and math.isclose(heads.DIV, 4.0)
