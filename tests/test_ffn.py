"""The registry: every variant matches an independently written formula, and parameter counts match."""

import math

import pytest
import torch

from ffnlab.ffn import VARIANTS, FeedForward, UnknownVariantError, ffn_param_count, get_variant, hidden_dim


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
