"""The controlled transformer: identical non-FFN weights, causality, gradients, counts, init, validation."""

import math

import pytest
import torch

from ffnlab.model.ffn import VARIANTS, ffn_param_count, get_variant
from ffnlab.model.transformer import ConfigError, ModelConfig, Transformer


def cfg(**kw):
    base = dict(vocab_size=97, seq_len=16, d_model=24, n_layers=2, n_heads=2)
    return ModelConfig(**{**base, **kw})


def test_non_ffn_parameters_identical_across_all_variants():
    models = {name: Transformer(cfg(ffn=name), seed=3) for name in VARIANTS}
    ref = {n: p for n, p in models["relu"].named_parameters() if ".ffn." not in n}
    assert len(ref) > 0
    for name, m in models.items():
        other = {n: p for n, p in m.named_parameters() if ".ffn." not in n}
        assert other.keys() == ref.keys()
        for n in ref:
            assert torch.equal(ref[n], other[n]), (name, n)


def test_seed_changes_weights_and_same_seed_repeats():
    a, b, c = (Transformer(cfg(), seed=s) for s in (0, 0, 1))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.tok_emb.weight, c.tok_emb.weight)


def test_shared_ffn_matrices_identical_between_variants_of_equal_shape():
    # W of gelu and relu share name and shape, so they start equal: only the activation differs.
    a, b = Transformer(cfg(ffn="relu"), seed=0), Transformer(cfg(ffn="gelu"), seed=0)
    assert torch.equal(a.blocks[0].ffn.w.weight, b.blocks[0].ffn.w.weight)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_gradients_reach_every_parameter(name):
    m = Transformer(cfg(ffn=name), seed=0)
    idx = torch.randint(0, 97, (2, 16))
    _, loss = m(idx, idx)
    loss.backward()
    for n, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, n


def test_future_tokens_do_not_change_earlier_logits():
    m = Transformer(cfg(ffn="swiglu"), seed=0).eval()
    idx = torch.randint(0, 97, (1, 16))
    changed = idx.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % 97
    la, _ = m(idx)
    lb, _ = m(changed)
    torch.testing.assert_close(la[0, :10], lb[0, :10])
    assert not torch.allclose(la[0, 10:], lb[0, 10:])


# fan_in gives unit-variance logits by design (fan-in init of the tied output head), so its initial loss sits
# about half a nat above ln V; gpt2's tiny init gives near-zero logits and a loss of ln V almost exactly.
@pytest.mark.parametrize("init,tol", [("fan_in", 1.0), ("gpt2", 0.05)])
def test_initial_loss_near_log_vocab(init, tol):
    m = Transformer(ModelConfig(vocab_size=512, seq_len=32, d_model=64, n_layers=2, n_heads=2, init=init), seed=0)
    g = torch.Generator().manual_seed(0)
    idx, targets = torch.randint(0, 512, (2, 8, 32), generator=g)  # next tokens independent of inputs
    logits, loss = m(idx, targets)
    assert abs(loss.item() - math.log(512)) < tol, loss.item()
    if init == "fan_in":
        assert 0.8 < logits.std().item() < 1.25


def test_init_scales():
    m = Transformer(cfg(d_model=64, n_heads=2, ffn="swiglu"), seed=0)
    ffn = m.blocks[0].ffn
    assert abs(ffn.w.weight.std().item() - 64**-0.5) < 0.01
    assert abs(ffn.w2.weight.std().item() - ffn.w2.weight.shape[1] ** -0.5) < 0.01
    assert abs(m.blocks[1].attn.qkv.weight.std().item() - 64**-0.5) < 0.01
    assert abs(m.tok_emb.weight.std().item() - 64**-0.5) < 0.01
    assert m.emb_scale == 8.0  # tokens enter the residual stream at unit scale
    g = Transformer(cfg(d_model=64, n_heads=2, ffn="swiglu", init="gpt2"), seed=0)
    gffn = g.blocks[0].ffn
    # GPT-2: output projections scaled by 1/sqrt(2·layers); W and V are not.
    assert abs(gffn.v.weight.std().item() - 0.02) < 0.002
    assert abs(gffn.w2.weight.std().item() - 0.02 / math.sqrt(4)) < 0.001
    assert abs(g.blocks[0].attn.out.weight.std().item() - 0.02 / math.sqrt(4)) < 0.001
    assert abs(g.tok_emb.weight.std().item() - 0.02) < 0.002 and g.emb_scale == 1.0


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_param_counts_and_flops(name):
    c = cfg(ffn=name, d_model=48, n_heads=4)
    m = Transformer(c, seed=0)
    counts = m.param_counts()
    assert counts["ffn"] == c.n_layers * ffn_param_count(48, c.d_ff, get_variant(name))
    assert counts["total"] == sum(p.numel() for p in m.parameters())
    assert counts["non_embedding"] == counts["total"] - 97 * 48
    mats = 3 if get_variant(name).gated else 2
    ffn_flops = 2 * c.n_layers * mats * 48 * c.d_ff  # every FFN matrix, gated ones included
    attn = 2 * c.n_layers * 4 * 48 * 48 + 4 * c.n_layers * 16 * 48
    assert m.flops_per_token()["forward"] == ffn_flops + attn + 2 * 97 * 48


@pytest.mark.parametrize(
    "kw,needle",
    [
        (dict(d_model=30, n_heads=4), "divisible by n_heads"),
        (dict(d_model=18, n_heads=2), "even"),
        (dict(init="xavier"), "init must be one of"),
        (dict(ffn="nope"), "valid names"),
        (dict(dropout=1.5), "dropout"),
    ],
)
def test_config_errors_name_the_fix(kw, needle):
    with pytest.raises(ValueError, match=needle):
        cfg(**kw)


def test_too_long_sequence_is_rejected():
    m = Transformer(cfg(), seed=0)
    with pytest.raises(ConfigError, match="seq_len"):
        m(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize("family,ffn,d_ff,ratio", [
    ("relu", "relu", 512, 1.0), ("gpt2", "gelu_tanh", 512, 131712 / 131072), ("gpt2_matched", "gelu_tanh", 512, 1.0),
    ("llama", "swiglu", 352, 1.03125), ("llama_matched", "swiglu", 341, 130944 / 131072),
    ("palm", "swiglu", 512, 1.5), ("palm_matched", "swiglu", 341, 130944 / 131072),
    ("gemma", "geglu_tanh", 1024, 3.0), ("gemma_matched", "geglu_tanh", 341, 130944 / 131072)])
def test_family_presets_build_the_ffn_each_family_ships_and_its_matched_twin(family, ffn, d_ff, ratio):
    from ffnlab.runs import config
    from ffnlab.runs.build import model_dict

    cfg = config.compose([f"family={family}", "model=small"])
    model = Transformer(ModelConfig(**model_dict(config.settings(cfg), 4096)), seed=0)
    assert model.cfg.ffn == ffn and model.cfg.d_ff == d_ff
    assert model.param_counts()["ffn"] / (4 * 131072) == pytest.approx(ratio)
    biases = [n for n, _ in model.named_parameters() if n.endswith(".bias")]
    assert all(".ffn." in n for n in biases) and bool(biases) == (family == "gpt2")  # FFN only, GPT-2 only
    assert all(p.abs().sum() == 0 for n, p in model.named_parameters() if n.endswith(".bias"))  # zero at init
