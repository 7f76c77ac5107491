"""The attention-score normalizers: one registry entry each, the same spirit as the FFN registry (torch only).

A normalizer turns the causal block of scaled scores s = QKᵀ/√d (B, H, T, T) into weights over the visible keys;
position i of a sequence sees n_i = i + 1 keys. A masked position (a key after the query) contributes nothing
to any normalizer, exactly (its weight is 0, and it enters no denominator). Sources:

  softmax       exp(s) / Σ exp(s) (Vaswani et al. 2017); the default and today's path: PyTorch's fused SDPA,
                so every published number is unchanged
  sigmoid       σ(s + b) with b = −log n_i (Ramapuram et al. 2024, "Theory, Analysis, and Best Practices for
                Sigmoid Self-Attention": the bias that keeps the output's scale near softmax's at the start)
  relu          ReLU(s) / n_i (Wortsman et al. 2023, "Replacing softmax with ReLU in Vision Transformers")
  rela          ReLU(s), unnormalised, with each head's output RMS-normalised and scaled by a learned gain per
                channel (Zhang et al. 2021, "Sparse Attention with Linear Units", ReLA with RMSNorm)
  softpick      ReLU(exp(s) − 1) / (Σ |exp(s) − 1| + ε) (Zuhri et al. 2025, "Softpick: No Attention Sink, No
                Massive Activations with Rectified Softmax"), computed shifted by the row maximum for stability
  softmax_sink  exp(s) / (exp(a_h) + Σ exp(s)) with a learned logit a_h per head (the attention sinks gpt-oss
                ships): a head may put weight on nothing
  sparsemax     the Euclidean projection of the row's scores onto the simplex (Martins & Astudillo 2016), exact
                zeros; computed by sorting, as the `entmax` package does

Extra parameters (the sink logits: n_heads per layer; ReLA's gains: d_model per layer) are counted by
`extra_params` and included in the model's totals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ffnlab.errors import ConfigError

SOFTPICK_EPS = 1e-6


@dataclass(frozen=True)
class Normalizer:
    name: str
    weights: Callable[..., torch.Tensor] | None  # (scores, mask, n, module) → weights; None: fused SDPA softmax
    source: str
    extra: Callable[[int, int], int] = lambda n_heads, d_model: 0  # parameters per layer


def _visible(T: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The causal mask (T, T; True where key j ≤ query i) and n_i = i + 1 (T, 1) as floats."""
    mask = torch.ones(T, T, dtype=torch.bool, device=device).tril()
    return mask, torch.arange(1, T + 1, device=device, dtype=torch.float32).unsqueeze(1)


def _sigmoid(s, mask, n, m):
    return torch.sigmoid(s - torch.log(n)).masked_fill(~mask, 0.0)


def _relu(s, mask, n, m):
    return F.relu(s).masked_fill(~mask, 0.0) / n


def _rela(s, mask, n, m):
    return F.relu(s).masked_fill(~mask, 0.0)  # the output's RMSNorm is applied by the attention module


def _softpick(s, mask, n, m):
    s = s.masked_fill(~mask, -math.inf)
    top = s.amax(dim=-1, keepdim=True).clamp_min(0.0)  # shift by max(0, row max): exp(s − top) − exp(−top)
    shifted = torch.exp(s - top) - torch.exp(-top)  # = (exp(s) − 1)·exp(−top); masked: −exp(−top)
    shifted = shifted.masked_fill(~mask, 0.0)
    return F.relu(shifted) / (shifted.abs().sum(dim=-1, keepdim=True) + SOFTPICK_EPS * torch.exp(-top))


def _softmax_sink(s, mask, n, m):
    s = s.masked_fill(~mask, -math.inf)
    sink = m.sink.view(1, -1, 1, 1).expand(s.shape[0], -1, s.shape[2], 1)  # (B, H, T, 1)
    return torch.softmax(torch.cat([s, sink], dim=-1), dim=-1)[..., :-1]


def sparsemax(s: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sparsemax over the last dimension, masked positions excluded (their weight 0)."""
    z = s.masked_fill(~mask, -math.inf)
    zs, _ = torch.sort(z, dim=-1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    finite = torch.isfinite(zs)
    cums = torch.where(finite, zs, torch.zeros_like(zs)).cumsum(dim=-1)
    support = finite & (1 + k * zs > cums)  # the sorted prefix that stays positive
    k_z = support.sum(dim=-1, keepdim=True).clamp_min(1)
    tau = (cums.gather(-1, k_z - 1) - 1) / k_z.to(z.dtype)
    return torch.clamp(z - tau, min=0.0).masked_fill(~mask, 0.0)


def _sparsemax(s, mask, n, m):
    return sparsemax(s, mask.expand_as(s))


NORMALIZERS = {n.name: n for n in [
    Normalizer("softmax", None, "Vaswani et al. 2017 (PyTorch's fused scaled_dot_product_attention)"),
    Normalizer("sigmoid", _sigmoid, "Ramapuram et al. 2024, sigmoid attention with b = −log n"),
    Normalizer("relu", _relu, "Wortsman et al. 2023, ReLU(s) / n"),
    Normalizer("rela", _rela, "Zhang et al. 2021, ReLA: ReLU scores, RMS-normalised output with a gain",
               extra=lambda n_heads, d_model: d_model),
    Normalizer("softpick", _softpick, "Zuhri et al. 2025, softpick: ReLU(exp(s) − 1) / Σ|exp(s) − 1|"),
    Normalizer("softmax_sink", _softmax_sink, "gpt-oss: softmax with a learned sink logit per head",
               extra=lambda n_heads, d_model: n_heads),
    Normalizer("sparsemax", _sparsemax, "Martins & Astudillo 2016, sparsemax"),
]}


def get_normalizer(name: str | None) -> Normalizer:
    """The registry entry; null is softmax (a run from before the axis existed keeps its identity)."""
    if (name or "softmax") not in NORMALIZERS:
        raise ConfigError(f"unknown attention normalizer {name!r} (model.attention); valid names: "
                          f"{', '.join(NORMALIZERS)}")
    return NORMALIZERS[name or "softmax"]


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with rotary positions and a registry normalizer. Parameter names: qkv, out,
    and the normalizer's own (sink: one logit per head; gain: ReLA's output RMSNorm gain)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float, normalizer: str | None = None,
                 norm_eps: float = 1e-6):
        super().__init__()
        self.n_heads, self.dropout, self.norm_eps = n_heads, dropout, norm_eps
        self.norm = get_normalizer(normalizer)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        if self.norm.name == "softmax_sink":
            self.sink = nn.Parameter(torch.zeros(n_heads))
        if self.norm.name == "rela":
            self.gain = nn.Parameter(torch.ones(d_model))

    def qkv_heads(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """q, k (rotated) and v, each (B, H, T, h)."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # (B, T, C) each
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))
        return apply_rotary(q, cos, sin), apply_rotary(k, cos, sin), v

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv_heads(x, cos, sin)
        p = self.dropout if self.training else 0.0
        if self.norm.weights is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)  # (B, H, T, h)
        else:
            y = F.dropout(self.weights(q, k), p=p, training=self.training) @ v
        if self.norm.name == "rela":  # each head's output RMS-normalised (B, H, T, h), then a gain per channel
            y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.norm_eps)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.out(y * self.gain if self.norm.name == "rela" else y)

    def weights(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """The attention weights (B, H, T, T) of this normalizer (softmax's written out, for diagnostics)."""
        T = q.shape[2]
        mask, n = _visible(T, q.device)
        s = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        if self.norm.weights is None:
            return torch.softmax(s.masked_fill(~mask, -math.inf), dim=-1)
        return self.norm.weights(s, mask, n, self)


def extra_params(name: str | None, n_heads: int, d_model: int) -> int:
    """The parameters a normalizer adds to one layer's attention (0 for most)."""
    return get_normalizer(name).extra(n_heads, d_model)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)  # (B, H, T, h/2) each
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).type_as(x)
