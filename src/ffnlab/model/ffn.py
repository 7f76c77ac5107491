"""The FFN registry: every feed-forward variant, one module that runs them all, and the parameter-matching rule.

A variant is data, not a class: an activation on the W branch, and whether a linear V branch gates it.
Shazeer (2020): FFN(x) = act(xW) W2 for the plain variants, (act(xW) ⊙ xV) W2 for the gated ones; no biases.
Two optional parts cover the activations of 2022-2026: `module`, a parametrised activation built per layer
(its parameters belong to the variant: xIELU, PolyNorm, SoLU's LayerNorm), and `linear`, a transform of the
V branch before the product (dReLU's ReLU, gpt-oss's clamp and +1). To add a variant, add one `Variant(...)`
line to `VARIANTS` below (and its activation module here, if it has parameters); nothing else changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ffnlab.errors import ConfigError, FfnlabError, UnknownVariantError


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _relu2(x: torch.Tensor) -> torch.Tensor:
    return F.relu(x).square()


def _gelu_exact(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="none")  # x·Φ(x), the erf form the paper uses


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")  # Gemma's gate: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))


def _leaky_relu2(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.5).square()


OSS_ALPHA, OSS_LIMIT = 1.702, 7.0  # gpt-oss (OpenAI 2025) reference code: swiglu(x, alpha=1.702, limit=7.0)


def _oss_gate(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(max=OSS_LIMIT)
    return x * torch.sigmoid(OSS_ALPHA * x)


def _oss_linear(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(-OSS_LIMIT, OSS_LIMIT) + 1


class XIELU(nn.Module):
    """xIELU (Huang & Schlag 2024), one α_p and α_n per layer: x > 0: α_p·x² + β·x; x ≤ 0: α_n·(expm1(min(x, ε)) −
    x) + β·x, with α_p = softplus(a_p), α_n = β + softplus(a_n); β = 0.5, ε = −1e-6 and α_p = α_n = 0.8 at init,
    as in the authors' reference code (swiss-ai, Apertus)."""

    def __init__(self, d_ff: int, alpha_p: float = 0.8, alpha_n: float = 0.8, beta: float = 0.5, eps: float = -1e-6):
        super().__init__()
        inv_softplus = lambda y: math.log(math.expm1(y))  # noqa: E731
        self.alpha_p = nn.Parameter(torch.tensor([inv_softplus(alpha_p)]))
        self.alpha_n = nn.Parameter(torch.tensor([inv_softplus(alpha_n - beta)]))
        self.beta, self.eps = beta, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a_p = F.softplus(self.alpha_p)
        a_n = self.beta + F.softplus(self.alpha_n)
        neg = (torch.expm1(torch.clamp(x, max=self.eps)) - x) * a_n + self.beta * x
        return torch.where(x > 0, a_p * x * x + self.beta * x, neg)


class PolyNorm(nn.Module):
    """PolyNorm (Zhuo et al. 2024, PolyCom), order 3: w₀·n(x³) + w₁·n(x²) + w₂·n(x) + b, n(u) = u / RMS(u) over the
    hidden units (ε 1e-6); w = 1/3 each and b = 0 at init, per layer, as in the authors' code (BryceZhuo/PolyCom)."""

    def __init__(self, d_ff: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.full((3,), 1 / 3))
        self.bias = nn.Parameter(torch.zeros(1))
        self.eps = eps

    def _n(self, u: torch.Tensor) -> torch.Tensor:
        return u * torch.rsqrt(u.pow(2).mean(-1, keepdim=True) + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        return w[0] * self._n(x**3) + w[1] * self._n(x**2) + w[2] * self._n(x) + self.bias


class PolyReLU(nn.Module):
    """PolyReLU (Zhuo et al. 2024, PolyCom), order 3: w₀·r³ + w₁·r² + w₂·r + b with r = ReLU(x); w = 1/3, b = 0."""

    def __init__(self, d_ff: int):
        super().__init__()
        self.weight = nn.Parameter(torch.full((3,), 1 / 3))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = F.relu(x)
        return self.weight[0] * r**3 + self.weight[1] * r**2 + self.weight[2] * r + self.bias


class SoLU(nn.Module):
    """SoLU (Elhage et al. 2022, Anthropic): LayerNorm(x · softmax(x)) over the hidden units; the LayerNorm's gain
    (1) and bias (0) are the variant's d_ff·2 parameters per layer."""

    def __init__(self, d_ff: int):
        super().__init__()
        self.norm = nn.LayerNorm(d_ff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x * torch.softmax(x, dim=-1))


@dataclass(frozen=True)
class Variant:
    """One FFN variant. `activation` acts on xW; a gated variant multiplies it by xV."""

    name: str
    activation: Callable[[torch.Tensor], torch.Tensor] | None  # None: `module` is the activation
    gated: bool
    source: str
    learned_beta: bool = False  # Swish_β with one learned β per hidden unit (β initialised to 1)
    bounded: bool = False  # the activation lies in (0, 1) (a sigmoid): diagnostics report its saturation
    module: Callable[[int], nn.Module] | None = None  # a parametrised activation, built per layer from d_ff
    linear: Callable[[torch.Tensor], torch.Tensor] | None = None  # a transform of the V branch before the product
    per_unit_params: int = 0  # parameters of `module` per hidden unit: d_ff is narrowed to match (hidden_dim)


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
        # 2022-2026 (experiment=modern). Each source names the paper and the reference code checked.
        Variant("xielu", None, False, "Huang & Schlag 2024, xIELU (arXiv 2411.13010; reference code in swiss-ai "
                "Apertus / transformers)", module=XIELU),
        Variant("polynorm", None, False, "Zhuo et al. 2024, PolyCom (arXiv 2411.03884; BryceZhuo/PolyCom)",
                module=PolyNorm),
        Variant("polyrelu", None, False, "Zhuo et al. 2024, PolyCom (arXiv 2411.03884; BryceZhuo/PolyCom)",
                module=PolyReLU),
        Variant("drelu", F.relu, True, "Song et al. 2024, TurboSparse dReLU: ReLU(xW) ⊙ ReLU(xV) (arXiv 2406.05955)",
                linear=F.relu),
        Variant("gelu_tanh", _gelu_tanh, False, "GPT-2 (Radford et al. 2019): GELU with the tanh approximation"),
        Variant("geglu_tanh", _gelu_tanh, True, "Gemma (Google 2024): GeGLU with the tanh-approximated GELU"),
        Variant("swiglu_oss", _oss_gate, True, "gpt-oss (OpenAI 2025): clamp(g, max 7)·σ(1.702·g)·(clamp(l, ±7) + 1), "
                "as in its reference swiglu()", linear=_oss_linear),
        Variant("leaky_relu2", _leaky_relu2, False, "LeakyReLU(0.5)², a squared leaky ReLU (small-scale speedrun "
                "baselines)"),
        Variant("solu", None, False, "Elhage et al. 2022, SoLU: LayerNorm(x·softmax(x)) (Anthropic, transformer-"
                "circuits.pub/2022/solu)", module=SoLU, per_unit_params=2),
    ]
}



def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        valid = ", ".join(VARIANTS)
        raise UnknownVariantError(f"unknown FFN variant {name!r}; valid names: {valid}") from None


def round_width(width: float, multiple_of: int | None = None, up: bool = False) -> int:
    """The one rounding rule: nearest integer (halves up), or the nearest multiple of `multiple_of`.
    up=True is LLaMA's: the integer part, then up to the next multiple of `multiple_of`."""
    if up:
        whole = int(width)
        return -(-whole // multiple_of) * multiple_of if multiple_of else whole
    if multiple_of:
        return max(multiple_of, int(math.floor(width / multiple_of + 0.5)) * multiple_of)
    return int(math.floor(width + 0.5))


def hidden_dim(
    d_model: int,
    gated: bool,
    ffn_mult: float = 4.0,
    match_params: bool = True,
    multiple_of: int | None = None,
    per_unit_params: int = 0,
    round_up: bool = False,
) -> int:
    """d_ff for a variant. Plain: ffn_mult·d_model. Gated: 2/3 of that, so 3·d·(2/3·d_ff) = 2·d·d_ff.

    A variant with `per_unit_params` parameters of its own per hidden unit (SoLU's LayerNorm: 2) is narrowed by
    m·d / (m·d + k) (m: its matrices), so matrices and its own parameters together match ReLU's FFN.
    `match_params=False` gives every variant the plain width (the 1.5× pitfall, kept for studying it).
    """
    width = ffn_mult * d_model
    if gated and match_params:
        width = width * 2 / 3
    if per_unit_params and match_params:
        m = (3 if gated else 2) * d_model
        width = width * m / (m + per_unit_params)
    return round_width(width, multiple_of, up=round_up)


def ffn_param_count(d_model: int, d_ff: int, variant: Variant, bias: bool = False) -> int:
    """Exact FFN parameter count (W, V if gated, W2, β if learned, the activation module's own, and the biases of
    a model family that ships them)."""
    matrices = 3 if variant.gated else 2
    own = sum(p.numel() for p in variant.module(d_ff).parameters()) if variant.module else 0
    biases = ((2 if variant.gated else 1) * d_ff + d_model) if bias else 0
    return matrices * d_model * d_ff + (d_ff if variant.learned_beta else 0) + own + biases


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

    def __init__(self, d_model: int, d_ff: int, variant: Variant, dropout: float = 0.0, impl: str = "naive",
                 bias: bool = False):
        super().__init__()
        if impl not in IMPLS:
            raise ConfigError(f"unknown FFN impl {impl!r}; use one of {', '.join(IMPLS)} (perf.ffn_impl)")
        if impl == "recompute" and variant.module is not None:
            raise FfnlabError(f"perf.ffn_impl=recompute cannot recompute {variant.name}'s parametrised activation; "
                              "use perf.ffn_impl=naive or fused")
        self.variant, self.impl, self.d_ff = variant, impl, d_ff
        self.w = nn.Linear(d_model, d_ff, bias=bias)  # biases: only for a model family that ships them (GPT-2)
        self.v = nn.Linear(d_model, d_ff, bias=bias) if variant.gated else None
        self.w2 = nn.Linear(d_ff, d_model, bias=bias)
        self.beta = nn.Parameter(torch.ones(d_ff)) if variant.learned_beta else None
        self.act = variant.module(d_ff) if variant.module else None  # its parameters: ffn.act.*
        self.drop = nn.Dropout(dropout)

    def activate(self, h_w: torch.Tensor, beta: torch.Tensor | None = None) -> torch.Tensor:
        """act(h_w), the W branch after its activation."""
        if self.variant.learned_beta:
            return h_w * torch.sigmoid((self.beta if beta is None else beta) * h_w)  # Swish_β, β per hidden unit
        return self.act(h_w) if self.act is not None else self.variant.activation(h_w)

    def linear_branch(self, h_v: torch.Tensor) -> torch.Tensor:
        """The V branch as it enters the product (xV, or its transform)."""
        return self.variant.linear(h_v) if self.variant.linear else h_v

    def gate(self, h_w: torch.Tensor, h_v: torch.Tensor | None, beta: torch.Tensor | None) -> torch.Tensor:
        """The element-wise part: act(h_w), times the (transformed) h_v when gated."""
        a = self.activate(h_w, beta)
        return a * self.linear_branch(h_v) if h_v is not None else a  # gate ⊙ linear branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, C)
        if self.impl == "fused" and self.v is not None:
            b = torch.cat([self.w.bias, self.v.bias]) if self.w.bias is not None else None
            h_w, h_v = F.linear(x, torch.cat([self.w.weight, self.v.weight]), b).split(self.d_ff, dim=-1)
        else:
            h_w, h_v = self.w(x), (self.v(x) if self.v is not None else None)  # (B, T, F) each
        if self.impl != "recompute" or (self.training and self.drop.p > 0):  # dropout needs the stored mask
            return self.w2(self.drop(self.gate(h_w, h_v, self.beta)))  # (B, T, C)
        empty = h_w.new_empty(0)
        y = _GateThenProject.apply(h_w, h_v if h_v is not None else empty, self.w2.weight,
                                   self.beta if self.beta is not None else empty, self.gate)
        return y + self.w2.bias if self.w2.bias is not None else y
