"""Mixture-of-experts FFN: E experts, each an FFN of any registry variant, behind a linear router (torch only).

Read top to bottom: the spec and its two matching rules → the module → its parameter and FLOP accounting.
Routing is Mixtral's: the router's logits pick the top k experts per token, and the token's output is the sum of
their outputs weighted by a softmax over those k logits. `shared` experts (DeepSeek-MoE) see every token; with
`experts` and `top_k` scaled up and a narrower width, the same rules give fine-grained experts. Dropless: every
token routed to an expert is computed by it (no capacity factor), as a CPU study can afford.

Two auxiliary losses, kept on the module after each forward (`aux`) for the LightningModule to add to the
training loss, never to the validation loss every report compares: Switch's load balancing, E·Σ_e f_e·P_e
(f_e: the share of the routed assignments that go to expert e, P_e: its mean router probability; 1 when the
load is even), coefficient `balance`; and the router z-loss, mean(logsumexp(logits)²), coefficient `zloss`.

Matching rules, from the dense variant's width D (ffn.hidden_dim): `active` gives each expert D / (top_k +
shared), so a token's active FFN matmuls equal the dense FFN's; `total` gives D / (experts + shared), so all
experts together hold the dense FFN's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ffnlab.errors import ConfigError
from ffnlab.model.ffn import FeedForward, Variant, ffn_param_count, round_width

MATCHES = ("active", "total")


@dataclass(frozen=True)
class MoESpec:
    experts: int
    top_k: int = 2
    shared: int = 0
    match: str = "active"  # active | total (module docstring)
    balance: float = 0.01  # Switch load-balancing coefficient
    zloss: float = 0.001  # router z-loss coefficient

    def __post_init__(self) -> None:
        if not 1 <= self.top_k <= self.experts:
            raise ConfigError(f"model.moe_top_k={self.top_k} must be between 1 and model.moe_experts="
                              f"{self.experts}")
        if self.match not in MATCHES:
            raise ConfigError(f"model.moe_match={self.match} must be one of {', '.join(MATCHES)}")

    def width(self, dense_d_ff: int, multiple_of: int | None = None) -> int:
        """Each expert's hidden width from the dense variant's, by the matching rule."""
        parts = self.top_k + self.shared if self.match == "active" else self.experts + self.shared
        return max(1, round_width(dense_d_ff / parts, multiple_of))


class MoEFeedForward(nn.Module):
    """The routed FFN. Parameter names: router, experts.<i>.*, shared.<j>.* (each expert a FeedForward)."""

    def __init__(self, d_model: int, d_ff: int, variant: Variant, spec: MoESpec, dropout: float = 0.0,
                 impl: str = "naive", bias: bool = False):
        super().__init__()
        self.spec = spec
        self.router = nn.Linear(d_model, spec.experts, bias=False)
        self.experts = nn.ModuleList(FeedForward(d_model, d_ff, variant, dropout, impl, bias)
                                     for _ in range(spec.experts))
        self.shared = nn.ModuleList(FeedForward(d_model, d_ff, variant, dropout, impl, bias)
                                    for _ in range(spec.shared))
        self.aux: torch.Tensor | None = None  # the weighted auxiliary loss of the latest forward
        self.stats: dict[str, torch.Tensor] = {}  # load (share per expert), entropy, top1 (per token), of it

    def route(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits (N, E), chosen experts (N, k), their weights (N, k): softmax over the chosen logits)."""
        logits = self.router(h)
        top, idx = logits.topk(self.spec.top_k, dim=-1)
        return logits, idx, torch.softmax(top, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, C)
        shape = x.shape
        h = x.reshape(-1, shape[-1])
        logits, idx, weights = self.route(h)
        out = torch.zeros_like(h)
        for e, expert in enumerate(self.experts):
            rows, slot = (idx == e).nonzero(as_tuple=True)
            if rows.numel():  # dropless: every token routed here is computed
                out = out.index_add(0, rows, expert(h[rows]) * weights[rows, slot, None])
        for expert in self.shared:
            out = out + expert(h)
        self._losses(logits, idx)
        return out.reshape(shape)

    def _losses(self, logits: torch.Tensor, idx: torch.Tensor) -> None:
        probs = torch.softmax(logits.float(), dim=-1)  # (N, E)
        load = F.one_hot(idx, self.spec.experts).float().sum(dim=1).mean(dim=0) / self.spec.top_k  # (E,)
        balance = self.spec.experts * (load * probs.mean(dim=0)).sum()
        z = torch.logsumexp(logits.float(), dim=-1).square().mean()
        self.aux = self.spec.balance * balance + self.spec.zloss * z
        entropy = -(probs * torch.log(probs.clamp_min(1e-12))).sum(dim=-1).mean()
        self.stats = {"load": load.detach(), "entropy": entropy.detach(), "top1": idx[:, 0].detach(),
                      "balance": balance.detach(), "zloss": z.detach()}


def param_count(d_model: int, d_ff: int, variant: Variant, spec: MoESpec, bias: bool = False) -> dict[str, int]:
    """One MoE FFN's parameters: total, active per token (the chosen and the shared experts, and the router),
    and the router's."""
    one = ffn_param_count(d_model, d_ff, variant, bias)
    router = d_model * spec.experts
    return {"total": (spec.experts + spec.shared) * one + router,
            "active": (spec.top_k + spec.shared) * one + router, "router": router}
