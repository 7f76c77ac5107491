"""Activation diagnostics: what each FFN variant's hidden units, gates and residual stream do (imports torch only).

`measure(model, idx)` runs the model once, in eval mode and under no_grad, on a fixed set of validation tokens
(`fixed_tokens`: the first windows of the validation split, the same for every variant) and returns per-layer
statistics. The `Diagnostics` callback (ffnlab.runs.callbacks) calls it at every evaluation and adds the optimizer's
last step before it (gradient norm and update-to-weight ratio per weight matrix). Nothing here changes what
training computes: the tests hold the loss curve bitwise equal with diagnostics on and off.

Per layer, over the fixed tokens; the hidden activation is h = act(xW), times xV for a gated variant:
  zero_frac        fraction of hidden values that are exactly 0 (ReLU-family sparsity)
  small_frac       fraction with |h| < SMALL · RMS(h) of the layer (scale-free, so variants compare)
  dead_frac        fraction of hidden units with |h| < SMALL · RMS(h) on every one of the fixed tokens
  hidden_mean      mean of h;  hidden_rms: RMS of h
  act_rms          RMS of act(xW) (for a gated variant: the gate branch)
  lin_rms          RMS of the linear branch as it enters the product (xV, or its transform; gated only)
  act_mean, sat_low, sat_high   for activations bounded in (0, 1) (sigmoid, GLU's gate): the mean value and
                   the fractions below SAT and above 1 − SAT (saturated)
  ffn_write        RMS(FFN output) / RMS(residual stream the FFN adds to): how much the FFN writes
  resid_kurtosis   kurtosis of each token's residual vector after the block (over its d_model features; 3 for
                   a Gaussian), averaged over tokens: outlier features
  resid_max_ratio  max |x| / RMS(x) over the residual stream after the block ("massive activations")
Per layer, of the attention weights w (B, H, T, T; ffnlab.model.attention) over the fixed tokens (version 2):
  attn_entropy     mean over heads and queries of the entropy (nats) of w's row, normalised to sum 1 (0 for a
                   row that attends to nothing)
  attn_sink        mean share of a row's weight on the first position (queries after the first): the "sink"
  attn_mass        mean row sum of w: 1 for softmax, less where a normalizer may attend to nothing (sink,
                   softpick, ReLU)
Per weight matrix, at the optimizer step just before the evaluation:
  grad_norm        Frobenius norm of the gradient (before clipping)
  update_ratio     ‖W_after − W_before‖ / ‖W_before‖
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ffnlab.model.moe import MoEFeedForward

VERSION = 2  # of the definitions above (2 adds the attention statistics); a record's diagnostics block carries it
SMALL = 0.01  # small_frac / dead_frac threshold, relative to the layer's hidden RMS
SAT = 0.05  # a bounded activation below SAT or above 1 − SAT counts as saturated
LAYER_STATS = ("zero_frac", "small_frac", "dead_frac", "hidden_mean", "hidden_rms", "act_rms", "lin_rms",
               "act_mean", "sat_low", "sat_high", "ffn_write", "resid_kurtosis", "resid_max_ratio", "attn_entropy",
               "attn_sink", "attn_mass")
WEIGHT_STATS = ("grad_norm", "update_ratio")


def fixed_tokens(tokens: np.ndarray, n_tokens: int, seq_len: int) -> torch.Tensor:
    """The first n_tokens of a split as (n_tokens // seq_len, seq_len) windows (fewer if the split is short)."""
    n_seq = max(1, min(n_tokens // seq_len, len(tokens) // seq_len))
    return torch.from_numpy(np.asarray(tokens[: n_seq * seq_len], dtype=np.int64)).view(n_seq, seq_len)


def _rms(t: torch.Tensor) -> float:
    return float(t.double().pow(2).mean().sqrt())


def layer_stats(h_w: torch.Tensor, h_v: torch.Tensor | None, act: torch.Tensor, hidden: torch.Tensor,
                ffn_out: torch.Tensor, resid_in: torch.Tensor, resid_out: torch.Tensor, bounded: bool
                ) -> dict[str, float | None]:
    """The statistics of one layer from its tensors (each (..., features)): h_w = xW, h_v = xV (None: ungated),
    act = act(h_w), hidden = act ⊙ h_v (or act), ffn_out, and the residual stream before and after the FFN."""
    del h_w  # the pre-activation itself is not reported; its effect is in act
    a = hidden.reshape(-1, hidden.shape[-1]).double()  # (N, F)
    rms = a.pow(2).mean().sqrt()
    small = a.abs() < SMALL * rms
    x = resid_out.reshape(-1, resid_out.shape[-1]).double()  # (N, C)
    centred = x - x.mean(-1, keepdim=True)
    var = centred.pow(2).mean(-1)
    kurt = (centred.pow(4).mean(-1) / var.pow(2).clamp_min(1e-300)).mean()
    out = {
        "zero_frac": float((a == 0).double().mean()),
        "small_frac": float(small.double().mean()),
        "dead_frac": float(small.all(0).double().mean()),
        "hidden_mean": float(a.mean()),
        "hidden_rms": float(rms),
        "act_rms": _rms(act),
        "lin_rms": _rms(h_v) if h_v is not None else None,
        "act_mean": float(act.double().mean()) if bounded else None,
        "sat_low": float((act < SAT).double().mean()) if bounded else None,
        "sat_high": float((act > 1 - SAT).double().mean()) if bounded else None,
        "ffn_write": _rms(ffn_out) / max(_rms(resid_in), 1e-300),
        "resid_kurtosis": float(kurt),
        "resid_max_ratio": float(x.abs().max() / x.pow(2).mean().sqrt().clamp_min(1e-300)),
    }
    return out


@torch.no_grad()
def measure(model: nn.Module, idx: torch.Tensor) -> dict[str, list[float | None]]:
    """Run `model` (ffnlab.model.transformer.Transformer) on idx (B, T) and return {stat: [value per layer]}
    (LAYER_STATS).

    Forward hooks read each block's FFN input and output and the block's output; the FFN's internals are
    recomputed from its input with its own weights, so every `perf.ffn_impl` gives the same diagnostics. The
    model's own `forward` is called (not a compiled `__call__`), and its train/eval mode is restored after.
    """
    captured: list[dict[str, torch.Tensor]] = [{} for _ in model.blocks]
    hooks = []
    for i, block in enumerate(model.blocks):
        hooks.append(block.ffn.register_forward_hook(
            lambda m, inp, out, i=i: captured[i].update(ffn_in=inp[0], ffn_out=out)))
        hooks.append(block.register_forward_hook(lambda m, inp, out, i=i: captured[i].update(resid_out=out)))
        hooks.append(block.attn.register_forward_hook(lambda m, inp, out, i=i: captured[i].update(attn_in=inp)))
    was_training = model.training
    model.eval()
    try:
        model.forward(idx)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    per_layer = []
    for block, c in zip(model.blocks, captured, strict=True):
        ffn = block.ffn
        pairs = _routed(ffn, c["ffn_in"]) if isinstance(ffn, MoEFeedForward) else [(ffn, c["ffn_in"])]
        parts = [_hidden(f, x) for f, x in pairs]
        h_w, act, hidden = (torch.cat([p[i] for p in parts], dim=0) for i in (0, 2, 3))
        h_v = torch.cat([p[1] for p in parts], dim=0) if parts[0][1] is not None else None
        per_layer.append({**layer_stats(h_w, h_v, act, hidden, c["ffn_out"], c["resid_out"] - c["ffn_out"],
                                        c["resid_out"], pairs[0][0].variant.bounded),
                          **attention_stats(block.attn, *c["attn_in"])})
    return {stat: [layer[stat] for layer in per_layer] for stat in LAYER_STATS}


def attention_stats(attn: nn.Module, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> dict[str, float]:
    """attn_entropy, attn_sink and attn_mass of one layer's attention (the module docstring)."""
    with torch.no_grad():
        q, k, _ = attn.qkv_heads(x, cos, sin)
        w = attn.weights(q, k).float()  # (B, H, T, T)
        mass = w.sum(-1)  # (B, H, T)
        p = w / mass.clamp_min(1e-30).unsqueeze(-1)
        entropy = -(p * torch.log(p.clamp_min(1e-30))).sum(-1)
        sink = p[..., 1:, 0] if w.shape[-1] > 1 else p[..., 0]
    return {"attn_entropy": float(entropy.mean()), "attn_sink": float(sink.mean()), "attn_mass": float(mass.mean())}


def _hidden(ffn, x: torch.Tensor):
    """(xW, the linear branch as it enters the product or None, act(xW), the hidden activation) of one FFN."""
    h_w = ffn.w(x)
    h_v = ffn.linear_branch(ffn.v(x)) if ffn.v is not None else None
    act = ffn.activate(h_w)  # act(xW) alone (Swish_β with the learned β; a parametrised activation)
    return h_w.reshape(-1, h_w.shape[-1]), (h_v.reshape(-1, h_v.shape[-1]) if h_v is not None else None), \
        act.reshape(-1, act.shape[-1]), (act * h_v if h_v is not None else act).reshape(-1, act.shape[-1])


def _routed(ffn: MoEFeedForward, x: torch.Tensor) -> list[tuple[nn.Module, torch.Tensor]]:
    """A routed FFN's (expert, the tokens it computes): each expert with the tokens routed to it, each shared
    expert with all of them. Its hidden statistics are over these (token, expert) pairs."""
    h = x.reshape(-1, x.shape[-1])
    _, idx, _ = ffn.route(h)
    pairs = [(e, h[(idx == i).any(dim=-1)]) for i, e in enumerate(ffn.experts)]
    return [(e, t) for e, t in pairs if len(t)] + [(e, h) for e in ffn.shared]


def routing(model: nn.Module) -> dict[str, list] | None:
    """Per routed layer, from its latest forward (measure's, on the fixed tokens): each expert's share of the
    routed assignments, their coefficient of variation (0: an even load), the router's mean entropy (nats), and
    each token's top-1 expert (for the share that changes between evaluations). None for a dense model."""
    moe = [b.ffn for b in model.blocks if isinstance(b.ffn, MoEFeedForward)]
    if not moe or not all(f.stats for f in moe):
        return None
    load = [f.stats["load"] for f in moe]
    return {"load": [x.tolist() for x in load],
            "load_cv": [float(x.std(unbiased=False) / x.mean()) for x in load],
            "entropy": [float(f.stats["entropy"]) for f in moe], "top1": [f.stats["top1"] for f in moe]}


def matrices(model: nn.Module) -> dict[str, nn.Parameter]:
    """The weight matrices (2-D parameters) by name: the ones whose gradient and update are reported."""
    return {n: p for n, p in model.named_parameters() if p.dim() == 2}


def grad_norms(model: nn.Module) -> dict[str, float | None]:
    return {n: (float(p.grad.double().norm()) if p.grad is not None else None) for n, p in matrices(model).items()}


def update_ratios(model: nn.Module, before: dict[str, torch.Tensor]) -> dict[str, float]:
    out = {}
    for n, p in matrices(model).items():
        old = before[n].double()
        out[n] = float((p.detach().double() - old).norm() / old.norm().clamp_min(1e-300))
    return out
