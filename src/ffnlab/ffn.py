"""The FFN registry: every feed-forward variant, one module that runs them all, and the parameter-matching rule.

A variant is data, not a class: an activation on the W branch, and whether a linear V branch gates it.
Shazeer (2020): FFN(x) = act(xW) W2 for the plain variants, (act(xW) ⊙ xV) W2 for the gated ones; no biases.
To add a variant, add one `Variant(...)` line to `VARIANTS` below; nothing else in the project changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _relu2(x: torch.Tensor) -> torch.Tensor:
    return F.relu(x).square()


def _gelu_exact(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="none")  # x·Φ(x), the erf form the paper uses


@dataclass(frozen=True)
class Variant:
    """One FFN variant. `activation` acts on xW; a gated variant multiplies it by xV."""

    name: str
    activation: Callable[[torch.Tensor], torch.Tensor]
    gated: bool
    source: str
    learned_beta: bool = False  # Swish_β with one learned β per hidden unit (β initialised to 1)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        # Shazeer 2020, Table 1 (in the paper's order), plus the Mish-gated GLU.
        Variant("relu", F.relu, False, "Shazeer 2020 (baseline)"),
        Variant("gelu", _gelu_exact, False, "Shazeer 2020"),
        Variant("swish", F.silu, False, "Shazeer 2020 (Swish_1)"),
        Variant("glu", torch.sigmoid, True, "Shazeer 2020"),
        Variant("bilinear", _identity, True, "Shazeer 2020"),
        Variant("reglu", F.relu, True, "Shazeer 2020"),
        Variant("geglu", _gelu_exact, True, "Shazeer 2020"),
        Variant("swiglu", F.silu, True, "Shazeer 2020"),
        Variant("mishglu", F.mish, True, "new: Mish(x) = x·tanh(softplus(x)) as the gate"),
        # Narang et al. 2021 and others.
        Variant("relu2", _relu2, False, "So et al. 2021 (Primer, squared ReLU)"),
        Variant("elu", F.elu, False, "Narang et al. 2021"),
        Variant("selu", F.selu, False, "Narang et al. 2021"),
        Variant("sigmoid", torch.sigmoid, False, "Narang et al. 2021"),
        Variant("softplus", F.softplus, False, "Narang et al. 2021"),
        Variant("swiglu_beta", F.silu, True, "SwiGLU with learned Swish β per unit", learned_beta=True),
    ]
}


class UnknownVariantError(ValueError):
    """Raised for an FFN name that is not in the registry; the message lists the valid ones."""


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        valid = ", ".join(VARIANTS)
        raise UnknownVariantError(f"unknown FFN variant {name!r}; valid names: {valid}") from None


def round_width(width: float, multiple_of: int | None = None) -> int:
    """The one rounding rule: nearest integer (halves up), or the nearest multiple of `multiple_of`."""
    if multiple_of:
        return max(multiple_of, int(math.floor(width / multiple_of + 0.5)) * multiple_of)
    return int(math.floor(width + 0.5))


def hidden_dim(
    d_model: int,
    gated: bool,
    ffn_mult: float = 4.0,
    match_params: bool = True,
    multiple_of: int | None = None,
) -> int:
    """d_ff for a variant. Plain: ffn_mult·d_model. Gated: 2/3 of that, so 3·d·(2/3·d_ff) = 2·d·d_ff.

    `match_params=False` gives every variant the plain width (the 1.5× pitfall, kept for studying it).
    """
    width = ffn_mult * d_model
    if gated and match_params:
        width = width * 2 / 3
    return round_width(width, multiple_of)


def ffn_param_count(d_model: int, d_ff: int, variant: Variant) -> int:
    """Exact FFN parameter count (W, V if gated, W2, and β if learned); no biases anywhere."""
    matrices = 3 if variant.gated else 2
    return matrices * d_model * d_ff + (d_ff if variant.learned_beta else 0)


class FeedForward(nn.Module):
    """act(xW) W2, or (act(xW) ⊙ xV) W2 when the variant is gated. Parameter names: w, v, w2, beta."""

    def __init__(self, d_model: int, d_ff: int, variant: Variant, dropout: float = 0.0):
        super().__init__()
        self.variant = variant
        self.w = nn.Linear(d_model, d_ff, bias=False)
        self.v = nn.Linear(d_model, d_ff, bias=False) if variant.gated else None
        self.w2 = nn.Linear(d_ff, d_model, bias=False)
        self.beta = nn.Parameter(torch.ones(d_ff)) if variant.learned_beta else None
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, C)
        h = self.w(x)  # (B, T, F)
        if self.beta is not None:
            h = h * torch.sigmoid(self.beta * h)  # Swish_β, β per hidden unit
        else:
            h = self.variant.activation(h)
        if self.v is not None:
            h = h * self.v(x)  # gate ⊙ linear branch
        return self.w2(self.drop(h))  # (B, T, C)
