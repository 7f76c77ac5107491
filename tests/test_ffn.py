"""The registry: every variant matches an independently written formula, and parameter counts match."""

import math

import pytest
import torch

from ffnlab.model.ffn import (
    IMPLS,
    VARIANTS,
    FeedForward,
    UnknownVariantError,
    ffn_param_count,
    get_variant,
    hidden_dim,
)


def phi(x):  # standard normal CDF, written out
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def sigm(x):
    return 1 / (1 + torch.exp(-x))


def f32(v: float) -> float:
    return float(torch.tensor(v, dtype=torch.float32))


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


THIRD = f32(1 / 3)
XIELU_P = softplus(f32(math.log(math.expm1(0.8))))  # α_p = softplus(a_p) = 0.8 at init
XIELU_N = 0.5 + softplus(f32(math.log(math.expm1(0.3))))  # α_n = β + softplus(a_n) = 0.8 at init


def rms_normed(u, eps=1e-6):
    return u / torch.sqrt((u**2).mean(-1, keepdim=True) + eps)


def layer_normed(u, eps=1e-5):
    centred = u - u.mean(-1, keepdim=True)
    return centred / torch.sqrt((centred**2).mean(-1, keepdim=True) + eps)


# The reference formulas, written from ../shared/reference/glu-variants.md without using ffnlab.
REFERENCE = {
    "relu": lambda a, b: torch.clamp(a, min=0),
    "gelu": lambda a, b: a * phi(a),
    "swish": lambda a, b: a * sigm(a),
    "glu": lambda a, b: sigm(a) * b,
    "bilinear": lambda a, b: a * b,
    "reglu": lambda a, b: torch.clamp(a, min=0) * b,
    "geglu": lambda a, b: a * phi(a) * b,
    "swiglu": lambda a, b: a * sigm(a) * b,
    "mishglu": lambda a, b: a * torch.tanh(torch.log1p(torch.exp(a))) * b,
    "relu2": lambda a, b: torch.clamp(a, min=0) ** 2,
    "elu": lambda a, b: torch.where(a > 0, a, torch.exp(a) - 1),
    "selu": lambda a, b: 1.0507009873554805 * torch.where(a > 0, a, 1.6732632423543772 * (torch.exp(a) - 1)),
    "sigmoid": lambda a, b: sigm(a),
    "softplus": lambda a, b: torch.log1p(torch.exp(a)),
    "swiglu_beta": lambda a, b: a * sigm(a) * b,  # β initialised to 1
    # 2022-2026, written from the papers' formulas and the published initial values
    # (parameters are stored in float32, so the published 0.8 and 1/3 enter as their float32 roundings)
    "xielu": lambda a, b: torch.where(a > 0, XIELU_P * a**2 + 0.5 * a,
                                      XIELU_N * (torch.exp(torch.clamp(a, max=-1e-6)) - 1 - a) + 0.5 * a),
    "polynorm": lambda a, b: sum(rms_normed(a**k) for k in (1, 2, 3)) * THIRD,
    "polyrelu": lambda a, b: sum(torch.clamp(a, min=0) ** k for k in (1, 2, 3)) * THIRD,
    "drelu": lambda a, b: torch.clamp(a, min=0) * torch.clamp(b, min=0),
    "gelu_tanh": lambda a, b: 0.5 * a * (1 + torch.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3))),
    "geglu_tanh": lambda a, b: 0.5 * a * (1 + torch.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3))) * b,
    "swiglu_oss": lambda a, b: (torch.clamp(a, max=7) * sigm(1.702 * torch.clamp(a, max=7))
                                * (torch.clamp(b, -7, 7) + 1)),
    "leaky_relu2": lambda a, b: torch.where(a > 0, a, 0.5 * a) ** 2,
    "solu": lambda a, b: layer_normed(a * torch.exp(a) / torch.exp(a).sum(-1, keepdim=True)),
}


def test_every_registered_variant_has_a_reference():
    assert set(REFERENCE) == set(VARIANTS)


@pytest.mark.parametrize("scale", [2.0, 12.0])  # 12: pre-activations beyond gpt-oss's clamp at ±7
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_forward_matches_reference_formula(name, scale):
    torch.manual_seed(0)
    v = get_variant(name)
    ffn = FeedForward(8, 12, v).double()
    x = torch.randn(3, 5, 8, dtype=torch.float64) * scale
    a = x @ ffn.w.weight.T
    b = x @ ffn.v.weight.T if v.gated else None
    expected = REFERENCE[name](a, b) @ ffn.w2.weight.T
    torch.testing.assert_close(ffn(x), expected, rtol=1e-10, atol=1e-10)


def test_no_biases_anywhere():
    for v in VARIANTS.values():
        ffn = FeedForward(8, 12, v)
        assert all(m.bias is None for m in (ffn.w, ffn.w2, ffn.v) if m is not None)


def test_learned_beta_is_per_unit_and_changes_the_output():
    ffn = FeedForward(8, 12, get_variant("swiglu_beta")).double()
    assert ffn.beta.shape == (12,) and torch.all(ffn.beta == 1)
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    before = ffn(x)
    with torch.no_grad():
        ffn.beta[0] = 3.0
    assert not torch.allclose(before, ffn(x))


def test_unknown_variant_lists_valid_names():
    with pytest.raises(UnknownVariantError) as e:
        get_variant("swishglu")
    msg = str(e.value)
    assert "swishglu" in msg and "swiglu" in msg and "relu" in msg and "\n" not in msg


@pytest.mark.parametrize("d_model", [48, 128, 256, 512, 768])
def test_parameter_parity_within_one_percent(d_model):
    base = ffn_param_count(d_model, hidden_dim(d_model, gated=False), get_variant("relu"))
    for v in VARIANTS.values():
        n = ffn_param_count(d_model, hidden_dim(d_model, v.gated, per_unit_params=v.per_unit_params), v)
        assert abs(n - base) / base < 0.01, (v.name, n, base)
        if d_model % 3 == 0 and not v.learned_beta and v.module is None:
            assert n == base, (v.name, n, base)


def test_paper_sizes_and_rounding_rule():
    assert hidden_dim(768, gated=False) == 3072 and hidden_dim(768, gated=True) == 2048
    assert hidden_dim(128, gated=True) == 341  # 341.33 → nearest
    assert hidden_dim(100, gated=True) == 267  # 266.67 → nearest
    assert hidden_dim(128, gated=True, multiple_of=64) == 320  # 341.33 → nearest multiple of 64
    assert hidden_dim(128, gated=True, match_params=False) == 512  # the unmatched pitfall
    assert hidden_dim(128, gated=False, per_unit_params=2) == 508  # 512·256/258: SoLU's LayerNorm paid for


def test_param_count_counts_real_parameters():
    for v in VARIANTS.values():
        ffn = FeedForward(16, 24, v)
        assert sum(p.numel() for p in ffn.parameters()) == ffn_param_count(16, 24, v)


# --- implementations: how the FFN is computed must never change what it computes ---------------------------


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_impl_matches_the_reference_outputs_and_gradients(name):
    torch.manual_seed(0)
    ffn = FeedForward(16, 24, get_variant(name)).double()
    x = torch.randn(2, 5, 16, dtype=torch.float64, requires_grad=True)
    weight = torch.linspace(-1, 1, 2 * 5 * 16, dtype=torch.float64).view(2, 5, 16)
    results = {}
    impls = [i for i in IMPLS if i != "recompute" or ffn.act is None]  # recompute refuses those (tested below)
    for impl in impls:
        ffn.impl, x.grad = impl, None
        ffn.zero_grad()
        y = ffn(x)
        (y * weight).sum().backward()
        results[impl] = [y.detach(), x.grad.clone()] + [p.grad.clone() for p in ffn.parameters()]
    for impl in impls:
        for got, want in zip(results[impl], results["naive"], strict=True):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def saved_bytes_per_token(name: str, impl: str, d_model: int = 96) -> float:
    v = get_variant(name)
    ffn = FeedForward(d_model, hidden_dim(d_model, v.gated), v, impl=impl)
    x = torch.randn(4, 8, d_model, requires_grad=True)
    params = {p.untyped_storage().data_ptr() for p in ffn.parameters()}
    seen = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in params:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        ffn(x)
    return sum(seen.values()) / 32


def test_recompute_stores_only_pre_activations():
    d, f_plain, f_gated = 96, 384, 256  # 4 bytes per float
    assert saved_bytes_per_token("swiglu", "naive") == 4 * (d + 4 * f_gated)  # x, h_w, act, h_v, product
    assert saved_bytes_per_token("swiglu", "recompute") == 4 * (d + 2 * f_gated)  # x, h_w, h_v
    assert saved_bytes_per_token("gelu", "naive") == 4 * (d + 2 * f_plain)  # x, h, act(h)
    assert saved_bytes_per_token("gelu", "recompute") == 4 * (d + f_plain)
    # At equal parameters a recomputing gated FFN stores less than plain GELU/Swish (whose backward needs h and
    # act(h)); ReLU's backward needs only its output, so plain ReLU stays 1/3 smaller in the FFN.
    for gated in ("swiglu", "geglu", "reglu", "glu", "mishglu"):
        assert saved_bytes_per_token(gated, "recompute") < saved_bytes_per_token("gelu", "naive")
        assert saved_bytes_per_token(gated, "recompute") < saved_bytes_per_token("swish", "naive")


def test_recompute_under_bf16_autocast_matches_naive():
    torch.manual_seed(0)
    ffn = FeedForward(64, 96, get_variant("swiglu_beta"))
    x = torch.randn(4, 16, 64, requires_grad=True)
    out = {}
    for impl in ("naive", "recompute"):
        ffn.impl, x.grad = impl, None
        ffn.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = ffn(x)
        assert y.dtype == torch.bfloat16
        y.float().square().sum().backward()
        out[impl] = [y.float(), x.grad.clone()] + [p.grad.clone() for p in ffn.parameters()]
    for got, want in zip(out["recompute"], out["naive"], strict=True):
        torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-2 * want.abs().max().item())


def test_unknown_impl_says_what_to_use():
    with pytest.raises(ValueError, match="perf.ffn_impl"):
        FeedForward(8, 12, get_variant("relu"), impl="flash")


def test_recompute_refuses_a_parametrised_activation_in_one_line():
    from ffnlab.errors import FfnlabError

    with pytest.raises(FfnlabError, match="perf.ffn_impl=naive or fused") as e:
        FeedForward(8, 12, get_variant("xielu"), impl="recompute")
    assert "\n" not in str(e.value)


def test_parametrised_activations_start_at_their_published_values_at_every_seed():
    from ffnlab.model.transformer import ModelConfig, Transformer

    for seed in (0, 1):
        m = Transformer(ModelConfig(vocab_size=64, seq_len=8, d_model=16, n_layers=2, n_heads=2, ffn="xielu"), seed)
        act = m.blocks[1].ffn.act
        assert torch.nn.functional.softplus(act.alpha_p).item() == pytest.approx(0.8)
        assert (0.5 + torch.nn.functional.softplus(act.alpha_n)).item() == pytest.approx(0.8)
        p = Transformer(ModelConfig(vocab_size=64, seq_len=8, d_model=16, n_layers=2, n_heads=2, ffn="polynorm"), seed)
        assert torch.equal(p.blocks[0].ffn.act.weight, torch.full((3,), 1 / 3)) and p.blocks[0].ffn.act.bias == 0
        s = Transformer(ModelConfig(vocab_size=64, seq_len=8, d_model=16, n_layers=2, n_heads=2, ffn="solu"), seed)
        norm = s.blocks[0].ffn.act.norm
        assert norm.weight.shape == (s.cfg.d_ff,) and torch.all(norm.weight == 1) and torch.all(norm.bias == 0)


def test_the_new_activations_learn_their_parameters():
    ffn = FeedForward(8, 12, get_variant("polynorm")).double()
    x = torch.randn(4, 3, 8, dtype=torch.float64)
    ffn(x).square().sum().backward()
    assert ffn.act.weight.grad.abs().sum() > 0 and ffn.act.bias.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["gelu_tanh", "swiglu"])
def test_ffn_biases_every_impl_alike_and_counted(name):
    torch.manual_seed(0)
    v = get_variant(name)
    ffn = FeedForward(16, 24, v, bias=True).double()
    with torch.no_grad():
        for p in (ffn.w.bias, ffn.w2.bias, *((ffn.v.bias,) if ffn.v is not None else ())):
            p.normal_()
    assert sum(p.numel() for p in ffn.parameters()) == ffn_param_count(16, 24, v, bias=True)
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    outs = {}
    for impl in IMPLS:
        ffn.impl = impl
        ffn.zero_grad()
        y = ffn(x)
        y.square().sum().backward()
        outs[impl] = [y.detach()] + [p.grad.clone() for p in ffn.parameters()]
    for impl in IMPLS:
        for got, want in zip(outs[impl], outs["naive"], strict=True):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
