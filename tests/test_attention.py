"""The attention normalizers, each against a hand-written reference; causal masking exact; extra parameters counted."""

from __future__ import annotations

import math

import pytest
import torch

from ffnlab.errors import ConfigError
from ffnlab.model import attention as att
from ffnlab.model.config import ATTENTION
from ffnlab.model.transformer import ModelConfig, Transformer

T, H = 6, 2


def _scores(seed: int = 0) -> torch.Tensor:
    return torch.randn(1, H, T, T, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 1.5


def _reference(name: str, s: torch.Tensor, sink: torch.Tensor) -> torch.Tensor:
    """Row by row, with only the visible keys j ≤ i, as each paper writes it."""
    w = torch.zeros_like(s)
    for h in range(H):
        for i in range(T):
            x, n = s[0, h, i, : i + 1], i + 1
            if name == "softmax":
                r = torch.exp(x) / torch.exp(x).sum()
            elif name == "sigmoid":
                r = 1 / (1 + torch.exp(-(x - math.log(n))))
            elif name == "relu":
                r = torch.clamp(x, min=0) / n
            elif name == "rela":
                r = torch.clamp(x, min=0)
            elif name == "softpick":
                e = torch.exp(x) - 1
                r = torch.clamp(e, min=0) / (e.abs().sum() + att.SOFTPICK_EPS)
            elif name == "softmax_sink":
                r = torch.exp(x) / (torch.exp(sink[h]) + torch.exp(x).sum())
            else:  # sparsemax: the projection onto the simplex, by its definition's threshold search
                srt = sorted(x.tolist(), reverse=True)
                k = max(j for j in range(1, n + 1) if 1 + j * srt[j - 1] > sum(srt[:j]))
                r = torch.clamp(x - (sum(srt[:k]) - 1) / k, min=0)
            w[0, h, i, : i + 1] = r
    return w


def test_the_registry_is_the_configs_list_of_names():
    assert tuple(att.NORMALIZERS) == ATTENTION


@pytest.mark.parametrize("name", ATTENTION)
def test_each_normalizer_matches_its_hand_written_reference(name):
    module = att.CausalSelfAttention(8, H, 0.0, name).double()
    if name == "softmax_sink":
        with torch.no_grad():
            module.sink.copy_(torch.tensor([0.3, -1.2]))
    s = _scores()
    mask, n = att._visible(T, s.device)
    got = (torch.softmax(s.masked_fill(~mask, -math.inf), -1) if module.norm.weights is None
           else module.norm.weights(s, mask, n.double(), module))
    want = _reference(name, s, module.sink.detach() if name == "softmax_sink" else None)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    assert (got[..., ~mask] == 0).all()  # a masked key gets exactly nothing


@pytest.mark.parametrize("name", ATTENTION)
def test_a_later_token_never_changes_an_earlier_output(name):
    torch.manual_seed(0)
    module = att.CausalSelfAttention(8, H, 0.0, name)
    cos, sin = torch.ones(T, 2), torch.zeros(T, 2)  # rotary off: positions enter only through the mask
    x = torch.randn(2, T, 8)
    y = x.clone()
    y[:, -1] += 5.0  # the last token changes
    a, b = module(x, cos, sin), module(y, cos, sin)
    torch.testing.assert_close(a[:, :-1], b[:, :-1], rtol=0, atol=0)
    assert not torch.equal(a[:, -1], b[:, -1])


def test_the_fused_softmax_path_equals_the_written_out_weights():
    torch.manual_seed(1)
    module = att.CausalSelfAttention(8, H, 0.0, None)
    q, k, v = (torch.randn(2, H, T, 4) for _ in range(3))
    fused = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(module.weights(q, k) @ v, fused, rtol=1e-5, atol=1e-6)


def test_rela_normalises_each_output_and_scales_it_by_its_gain():
    torch.manual_seed(2)
    module = att.CausalSelfAttention(8, H, 0.0, "rela", norm_eps=1e-12)
    module.out = torch.nn.Identity()
    with torch.no_grad():
        module.gain.fill_(2.0)
    y = module(torch.randn(3, T, 8), torch.ones(T, 2), torch.zeros(T, 2)).view(3, T, H, 4)
    rms = y.pow(2).mean(-1).sqrt()  # per head
    live = rms > 0  # a head whose scores are all negative at a position attends to nothing
    assert live.float().mean() > 0.5
    torch.testing.assert_close(rms[live], torch.full_like(rms[live], 2.0), rtol=1e-4, atol=1e-4)


def test_extra_parameters_are_counted_and_the_default_is_todays_model_exactly():
    base = dict(vocab_size=64, seq_len=T, d_model=8, n_layers=2, n_heads=H, ffn="swiglu")
    models = {a: Transformer(ModelConfig(**base, attention=a)) for a in (None, "softmax", "softmax_sink", "rela")}
    total = {a: m.param_counts()["total"] for a, m in models.items()}
    assert total["softmax_sink"] - total[None] == 2 * H == 2 * att.extra_params("softmax_sink", H, 8)
    assert total["rela"] - total[None] == 2 * 8
    assert total["softmax"] == total[None]
    idx = torch.randint(0, 64, (2, T), generator=torch.Generator().manual_seed(0))
    assert torch.equal(models[None](idx)[0], models["softmax"](idx)[0])
    assert models["softmax_sink"].blocks[0].attn.sink.abs().sum() == 0  # sinks start at logit 0


@pytest.mark.parametrize("name", ATTENTION)
def test_every_normalizer_trains(name):
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=32, seq_len=8, d_model=16, n_layers=1, n_heads=2, attention=name))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    idx = torch.randint(0, 32, (8, 9), generator=torch.Generator().manual_seed(1))
    losses = []
    for _ in range(25):
        loss = model(idx[:, :-1], idx[:, 1:])[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert math.isfinite(losses[-1]) and losses[-1] < losses[0] - 0.3


def test_an_unknown_normalizer_is_one_error_listing_the_names():
    with pytest.raises(ConfigError, match="unknown attention normalizer 'cosine'.*softmax, sigmoid"):
        ModelConfig(attention="cosine")


def test_sparsemax_equals_the_entmax_packages_over_each_rows_visible_positions():
    """An independent implementation (entmax, Peters et al. 2019): each causal row's visible scores projected onto
    the simplex the same way, the masked rest exactly 0."""
    entmax = pytest.importorskip("entmax", reason="entmax not installed (pip install -e '.[dev]')")
    from ffnlab.model.attention import sparsemax

    g = torch.Generator().manual_seed(0)
    s = torch.randn(2, 3, 9, 9, generator=g) * 2.0
    mask = torch.ones(9, 9, dtype=torch.bool).tril().expand_as(s)
    ours = sparsemax(s, mask)
    for t in range(9):
        ref = entmax.sparsemax(s[..., t, : t + 1], dim=-1)
        assert torch.allclose(ours[..., t, : t + 1], ref, atol=1e-6)
        assert (ours[..., t, t + 1:] == 0).all()
