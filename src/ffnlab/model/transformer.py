"""The controlled decoder-only transformer: identical for every variant except the FFN (imports torch only).

Read top to bottom: config → RMSNorm → rotary embedding → attention → block → model → name-seeded init.
Pre-norm RMSNorm, rotary positions, causal scaled-dot-product attention, no biases, tied embeddings.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ffnlab.errors import ConfigError
from ffnlab.model import head as heads
from ffnlab.model.attention import CausalSelfAttention, get_normalizer
from ffnlab.model.config import HEADS, ModelFields
from ffnlab.model.ffn import FeedForward, ffn_param_count, get_variant, hidden_dim
from ffnlab.model.moe import MoEFeedForward, MoESpec
from ffnlab.model.moe import param_count as moe_param_count

INIT_SCHEMES = ("fan_in", "gpt2")


@dataclass
class ModelConfig(ModelFields):
    """The model's settings (ffnlab.model.config.ModelFields), checked: a setting no model can use fails here."""

    def __post_init__(self) -> None:
        get_variant(self.ffn)  # unknown names fail here, listing the valid ones
        checks = [
            (self.vocab_size > 0, f"vocab_size must be positive, got {self.vocab_size}"),
            (self.seq_len > 0, f"seq_len must be positive, got {self.seq_len}"),
            (self.n_layers > 0, f"n_layers must be positive, got {self.n_layers}"),
            (self.n_heads > 0, f"n_heads must be positive, got {self.n_heads}"),
            (
                self.d_model % max(self.n_heads, 1) == 0,
                f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads}); "
                f"set model.d_model to a multiple of {self.n_heads} or change model.n_heads",
            ),
            (
                (self.d_model // max(self.n_heads, 1)) % 2 == 0,
                f"head size d_model/n_heads = {self.d_model // max(self.n_heads, 1)} must be even for "
                "rotary embeddings; change model.d_model or model.n_heads",
            ),
            (self.ffn_mult > 0, f"ffn_mult must be positive, got {self.ffn_mult}"),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}"),
            (self.init in INIT_SCHEMES, f"init must be one of {INIT_SCHEMES}, got {self.init!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        _ = self.moe  # a bad top_k or match fails here
        get_normalizer(self.attention)  # an unknown normalizer fails here, listing the valid ones
        if (self.head or "full") not in HEADS:
            raise ConfigError(f"model.head={self.head} is not an output head of ffnlab; use {' or '.join(HEADS)}")

    @property
    def gated(self) -> bool:
        return get_variant(self.ffn).gated

    @property
    def moe(self) -> MoESpec | None:
        if not self.moe_experts:
            return None
        given = {"top_k": self.moe_top_k, "shared": self.moe_shared, "match": self.moe_match,
                 "balance": self.moe_balance, "zloss": self.moe_zloss}
        return MoESpec(self.moe_experts, **{k: v for k, v in given.items() if v is not None})

    @property
    def dense_d_ff(self) -> int:
        return hidden_dim(self.d_model, self.gated, self.ffn_mult, self.match_params, self.multiple_of,
                          get_variant(self.ffn).per_unit_params, bool(self.round_up))

    @property
    def d_ff(self) -> int:
        """The hidden width of the FFN, or of each expert of a routed one (its matching rule, ffnlab.model.moe)."""
        spec = self.moe
        return self.dense_d_ff if spec is None else spec.width(self.dense_d_ff, self.multiple_of)

    def to_dict(self) -> dict:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotary_tables(seq_len: int, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables, each (T, head_dim/2), for rotating pairs (x[..., :h/2], x[..., h/2:])."""
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)  # (T, h/2)
    return angles.cos(), angles.sin()


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, ffn_impl: str = "naive"):
        super().__init__()
        self.norm1 = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = CausalSelfAttention(cfg.d_model, cfg.n_heads, cfg.dropout, cfg.attention, cfg.norm_eps)
        self.norm2 = RMSNorm(cfg.d_model, cfg.norm_eps)
        variant, spec, bias = get_variant(cfg.ffn), cfg.moe, bool(cfg.ffn_bias)
        self.ffn = (FeedForward(cfg.d_model, cfg.d_ff, variant, cfg.dropout, ffn_impl, bias) if spec is None
                    else MoEFeedForward(cfg.d_model, cfg.d_ff, variant, spec, cfg.dropout, ffn_impl, bias))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), cos, sin))
        return x + self.drop(self.ffn(self.norm2(x)))


class Transformer(nn.Module):
    """Decoder-only LM. `forward(idx, targets)` returns `(logits, loss)`; loss in nats per token. With the adaptive
    head (ffnlab.model.head) the first item is None when targets are given, log-probabilities when not.

    `ffn_impl` (ffnlab.model.ffn.IMPLS) is how the FFN is computed, not what: a speed/memory option, not a setting.
    """

    def __init__(self, cfg: ModelConfig, seed: int = 0, ffn_impl: str = "naive"):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg, ffn_impl) for _ in range(cfg.n_layers))
        self.norm_f = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.head = None if (cfg.head or "full") == "full" else heads.adaptive(  # None: tied to tok_emb
            cfg.d_model, cfg.vocab_size, cfg.adaptive_cutoffs, cfg.adaptive_div)
        cos, sin = rotary_tables(cfg.seq_len, cfg.d_model // cfg.n_heads, cfg.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        # fan_in: embedding N(0, 1/d) is the output head's fan-in init; scaling it by sqrt(d) on the way in
        # (Vaswani et al. 2017) puts tokens at unit scale in the residual stream, level with block outputs.
        self.emb_scale = math.sqrt(cfg.d_model) if cfg.init == "fan_in" else 1.0
        init_weights(self, seed)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, reduction: str = "mean"
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T = idx.shape
        if T > self.cfg.seq_len:
            raise ConfigError(f"sequence of {T} tokens exceeds model.seq_len={self.cfg.seq_len}")
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.drop(self.tok_emb(idx) * self.emb_scale)  # (B, T, C)
        for block in self.blocks:
            x = block(x, cos, sin)
        x = self.norm_f(x)
        if targets is None:  # (B, T, V): logits (full head, tied) or log-probabilities (adaptive head)
            return heads.scores(self.head, x, self.tok_emb.weight), None
        return heads.nll(self.head, x, self.tok_emb.weight, targets, reduction)

    def aux_loss(self) -> torch.Tensor | None:
        """The routed FFNs' auxiliary losses of the latest forward, summed over layers (None: a dense model)."""
        parts = [b.ffn.aux for b in self.blocks if isinstance(b.ffn, MoEFeedForward) and b.ffn.aux is not None]
        return torch.stack(parts).sum() if parts else None

    def _ffn_counts(self) -> dict[str, int]:
        c, variant, bias = self.cfg, get_variant(self.cfg.ffn), bool(self.cfg.ffn_bias)
        if c.moe is None:
            one = ffn_param_count(c.d_model, c.d_ff, variant, bias)
            return {"total": one, "active": one, "router": 0}
        return moe_param_count(c.d_model, c.d_ff, variant, c.moe, bias)

    def param_counts(self) -> dict[str, int]:
        """Exact counts: total (tied embedding once), FFN (a routed one's every expert and router), the FFN's
        active part per token (the chosen and shared experts and the router; the FFN itself when dense), and
        non-embedding."""
        total = sum(p.numel() for p in self.parameters())
        ffn = sum(p.numel() for n, p in self.named_parameters() if ".ffn." in n)
        counts = self._ffn_counts()
        assert ffn == self.cfg.n_layers * counts["total"], (ffn, counts)
        return {"total": total, "ffn": ffn, "non_embedding": total - self.tok_emb.weight.numel(),
                "ffn_active": self.cfg.n_layers * counts["active"]}

    def flops_per_token(self) -> dict[str, int]:
        """Matmul FLOPs per token, forward and training (3× forward), PaLM/nanoGPT convention.

        Counts every weight matrix (all three of a gated FFN) and the output head at 2 FLOPs per
        multiply-add, plus attention scores and values at 4·n_layers·seq_len·d_model (full, not halved
        for the causal mask). Element-wise work (activations, norms) is left out.
        """
        c = self.cfg
        matmul = sum(p.numel() for n, p in self.named_parameters() if p.dim() == 2 and n != "tok_emb.weight")
        if c.moe is not None:  # only the routed token's active path: the other experts' matrices do no work
            one = sum(p.numel() for p in self.blocks[0].ffn.experts[0].parameters() if p.dim() == 2)
            matmul -= c.n_layers * (c.moe.experts - c.moe.top_k) * one
        tied = c.vocab_size * c.d_model if self.head is None else 0  # the adaptive head's matrices are in `matmul`,
        # every tail counted as if each token ran it (an upper bound: a token runs its own cluster's tail only)
        forward = 2 * (matmul + tied) + 4 * c.n_layers * c.seq_len * c.d_model
        return {"forward": forward, "train": 3 * forward}


def _name_seed(seed: int, name: str) -> int:
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def init_weights(model: Transformer, seed: int) -> None:
    """Initialise every parameter from (seed, its name) alone, so the non-FFN weights of all variants match.

    fan_in: every matrix ~ N(0, 1/fan_in) (T5 / Mesh-TensorFlow), so pre-activations start at unit scale,
            where smooth activations are not near-linear. The tied embedding counts as the output head
            (fan-in d_model): N(0, 1/d_model), giving unit-variance initial logits; on the way in it is
            scaled by sqrt(d_model) (Vaswani et al.), so tokens enter the residual stream at unit scale,
            level with the block outputs. (T5 itself used N(0, 1) embeddings, d_model^-1/2 output scaling
            and Adafactor's relative steps; under AdamW that embedding barely moves. Measured on WikiText-2,
            relu, 400 steps: final val loss 5.57 T5-style, 5.15 with a 0.02 embedding and no input scale,
            4.84 with this rule; gpt2 init 4.86. See experiments/shazeer/README.md.)
    gpt2:   everything ~ N(0, 0.02²), output projections (attn.out, ffn.w2; never W or V) × 1/sqrt(2·layers).
    Norm gains and learned Swish β start at 1; a parametrised activation (ffnlab.model.ffn: xIELU, PolyNorm, ...)
    keeps the init its paper publishes, the same at every seed.
    """
    cfg = model.cfg
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ffn.act." in name:  # a parametrised activation's own parameters keep their published init
                continue
            if name.endswith(".bias"):  # FFN biases of a model family that ships them start at zero (GPT-2)
                p.zero_()
                continue
            if name.endswith(".attn.sink"):  # attention sinks start at logit 0 (ffnlab.model.attention)
                p.zero_()
                continue
            if p.dim() == 1:  # RMSNorm gains (ReLA's output gain too), learned β
                p.fill_(1.0)
                continue
            if cfg.init == "fan_in":
                std = p.shape[1] ** -0.5  # the tied embedding too: as the output head, its fan-in is d_model
            else:
                std = 0.02
                if name.endswith(("attn.out.weight", "w2.weight")):  # every FFN's (an expert's too) out projection
                    std /= math.sqrt(2 * cfg.n_layers)
            g = torch.Generator().manual_seed(_name_seed(seed, name))
            p.copy_(torch.randn(p.shape, generator=g) * std)
