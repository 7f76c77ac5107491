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

from ffnlab.errors import FfnlabError


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
    bounded: bool = False  # the activation lies in (0, 1) (a sigmoid): diagnostics report its saturation


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        # Shazeer 2020, Table 1 (in the paper's order), plus the Mish-gated GLU.
        Variant("relu", F.relu, False, "Shazeer 2020 (baseline)"),
        Variant("gelu", _gelu_exact, False, "Shazeer 2020"),
        Variant("swish", F.silu, False, "Shazeer 2020 (Swish_1)"),
        Variant("glu", torch.sigmoid, True, "Shazeer 2020", bounded=True),
        Variant("bilinear", _identity, True, "Shazeer 2020"),
        Variant("reglu", F.relu, True, "Shazeer 2020"),
        Variant("geglu", _gelu_exact, True, "Shazeer 2020"),
        Variant("swiglu", F.silu, True, "Shazeer 2020"),
        Variant("mishglu", F.mish, True, "new: Mish(x) = x·tanh(softplus(x)) as the gate"),
        # Narang et al. 2021 and others.
        Variant("relu2", _relu2, False, "So et al. 2021 (Primer, squared ReLU)"),
        Variant("elu", F.elu, False, "Narang et al. 2021"),
        Variant("selu", F.selu, False, "Narang et al. 2021"),
        Variant("sigmoid", torch.sigmoid, False, "Narang et al. 2021", bounded=True),
        Variant("softplus", F.softplus, False, "Narang et al. 2021"),
        Variant("swiglu_beta", F.silu, True, "SwiGLU with learned Swish β per unit", learned_beta=True),
    ]
}


class UnknownVariantError(FfnlabError, ValueError):
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


IMPLS = ("naive", "fused", "recompute")


class _GateThenProject(torch.autograd.Function):
    """y = gate(h_w, h_v) W2ᵀ that saves only the pre-activations h_w = xW, h_v = xV and recomputes the gate
    in backward.

    Autograd would also keep act(h_w), the product and W2's input: for a gated FFN 4·d_ff' values per token
    against 2·d_ff' here. Backward recomputes the element-wise gate (no matmul is repeated).
    """

    @staticmethod
    def forward(ctx, h_w, h_v, w2, beta, gate):
        ctx.gate = gate
        ctx.save_for_backward(h_w, h_v, w2, beta)
        with torch.no_grad():
            a = gate(h_w, h_v if h_v.numel() else None, beta if beta.numel() else None)
        return F.linear(a, w2.to(a.dtype))

    @staticmethod
    def backward(ctx, g):
        h_w, h_v, w2, beta = ctx.saved_tensors
        inputs = [t.detach().requires_grad_() if t.numel() else None for t in (h_w, h_v, beta)]
        with torch.enable_grad():
            a = ctx.gate(*inputs)
        g = g.to(a.dtype)
        grad_w2 = (g.reshape(-1, g.shape[-1]).T @ a.detach().reshape(-1, a.shape[-1])).to(w2.dtype)
        grad_a = g @ w2.to(g.dtype)
        needed = [t for t in inputs if t is not None]
        grads = iter(torch.autograd.grad(a, needed, grad_a))
        grad_h_w, grad_h_v, grad_beta = (next(grads) if t is not None else None for t in inputs)
        return grad_h_w, grad_h_v, grad_w2, grad_beta, None


class FeedForward(nn.Module):
    """act(xW) W2, or (act(xW) ⊙ xV) W2 when the variant is gated. Parameter names: w, v, w2, beta.

    `impl` changes how, never what, is computed (tests hold every impl to the same outputs and gradients):
    naive: one nn.Linear per matrix, autograd stores every intermediate (the reference);
    fused: W and V in one matmul, x·[W; V]ᵀ (the parameters stay separate, so init and checkpoints agree);
    recompute: backward recomputes the activation from the stored pre-activations (_GateThenProject), so a
    gated FFN stores 2·d_ff' values per token instead of 4·d_ff', and plain GELU/Swish d_ff instead of 2·d_ff
    (plain ReLU stores d_ff either way: its backward needs only its output).
    """

    def __init__(self, d_model: int, d_ff: int, variant: Variant, dropout: float = 0.0, impl: str = "naive"):
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f"unknown FFN impl {impl!r}; use one of {', '.join(IMPLS)} (perf.ffn_impl)")
        self.variant, self.impl, self.d_ff = variant, impl, d_ff
        self.w = nn.Linear(d_model, d_ff, bias=False)
        self.v = nn.Linear(d_model, d_ff, bias=False) if variant.gated else None
        self.w2 = nn.Linear(d_ff, d_model, bias=False)
        self.beta = nn.Parameter(torch.ones(d_ff)) if variant.learned_beta else None
        self.drop = nn.Dropout(dropout)

    def gate(self, h_w: torch.Tensor, h_v: torch.Tensor | None, beta: torch.Tensor | None) -> torch.Tensor:
        """The element-wise part: act(h_w), times h_v when gated."""
        if self.variant.learned_beta:
            a = h_w * torch.sigmoid(beta * h_w)  # Swish_β, β per hidden unit
        else:
            a = self.variant.activation(h_w)
        return a * h_v if h_v is not None else a  # gate ⊙ linear branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, C)
        if self.impl == "fused" and self.v is not None:
            h_w, h_v = F.linear(x, torch.cat([self.w.weight, self.v.weight])).split(self.d_ff, dim=-1)
        else:
            h_w, h_v = self.w(x), (self.v(x) if self.v is not None else None)  # (B, T, F) each
        if self.impl != "recompute" or (self.training and self.drop.p > 0):  # dropout needs the stored mask
            return self.w2(self.drop(self.gate(h_w, h_v, self.beta)))  # (B, T, C)
        empty = h_w.new_empty(0)
        return _GateThenProject.apply(h_w, h_v if h_v is not None else empty, self.w2.weight,
                                      self.beta if self.beta is not None else empty, self.gate)
