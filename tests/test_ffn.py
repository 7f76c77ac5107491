"""The registry: every variant matches an independently written formula, and parameter counts match."""

import math

import pytest
import torch

from ffnlab.ffn import (
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
}


def test_every_registered_variant_has_a_reference():
    assert set(REFERENCE) == set(VARIANTS)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_forward_matches_reference_formula(name):
    torch.manual_seed(0)
    v = get_variant(name)
    ffn = FeedForward(8, 12, v).double()
    x = torch.randn(3, 5, 8, dtype=torch.float64) * 2
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
        n = ffn_param_count(d_model, hidden_dim(d_model, v.gated), v)
        assert abs(n - base) / base < 0.01, (v.name, n, base)
        if d_model % 3 == 0 and not v.learned_beta:
            assert n == base, (v.name, n, base)


def test_paper_sizes_and_rounding_rule():
    assert hidden_dim(768, gated=False) == 3072 and hidden_dim(768, gated=True) == 2048
    assert hidden_dim(128, gated=True) == 341  # 341.33 → nearest
    assert hidden_dim(100, gated=True) == 267  # 266.67 → nearest
    assert hidden_dim(128, gated=True, multiple_of=64) == 320  # 341.33 → nearest multiple of 64
    assert hidden_dim(128, gated=True, match_params=False) == 512  # the unmatched pitfall


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
    for impl in IMPLS:
        ffn.impl, x.grad = impl, None
        ffn.zero_grad()
        y = ffn(x)
        (y * weight).sum().backward()
        results[impl] = [y.detach(), x.grad.clone()] + [p.grad.clone() for p in ffn.parameters()]
    for impl in IMPLS:
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
