"""Measurements: dense-GEMM peak, interleaved training-step timing, saved-activation memory, bf16 agreement.

Timings are taken side by side: every round visits every configuration of a group (one variant's
implementations and peers) in a fresh shuffled order for a few steps, so slow drifts of a shared, noisy CPU
fall on all of them alike; medians over rounds are reported.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator

import torch

from ffnlab.bench.models import Built


def gemm_gflops(dtype: torch.dtype, n: int, repeats: int = 7) -> list[float]:
    """GFLOP/s of an n×n×n matmul in `dtype`, one figure per repeat (after one warm-up)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        out.append(2 * n**3 / (time.perf_counter() - t) / 1e9)
    return out


def autocast(precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class StepTimer:
    """One model with its AdamW: `step()` is forward, backward, clip to norm 1, optimizer step."""

    def __init__(self, built: Built, batch: torch.Tensor, precision: str = "fp32", lr: float = 1e-3):
        self.built, self.precision = built, precision
        self.x, self.y = batch[:, :-1], batch[:, 1:]
        self.params = [p for p in built.module.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
        self.losses: list[float] = []

    def step(self) -> float:
        with autocast(self.precision):
            loss = self.built.loss(self.x, self.y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        value = float(loss.detach())
        self.losses.append(value)
        return value

    def time_steps(self, n: int) -> float:
        """Seconds per step over n steps."""
        t = time.perf_counter()
        for _ in range(n):
            self.step()
        return (time.perf_counter() - t) / n


def interleaved(timers: dict[str, StepTimer], rounds: int, steps: int, warmup: int, seed: int = 0,
                progress: Callable[[str], None] = print) -> Iterator[dict]:
    """Warm every timer up (compilation happens here), then `rounds` shuffled passes of `steps` steps each.

    Yields one row per (timer, round): seconds per step.
    """
    for key, timer in timers.items():
        t = time.perf_counter()
        for _ in range(warmup):
            timer.step()
        progress(f"warm-up {key}: {time.perf_counter() - t:.1f}s")
    order = list(timers)
    rng = random.Random(seed)
    for r in range(rounds):
        rng.shuffle(order)
        for key in order:
            yield {"key": key, "round": r, "s_per_step": timers[key].time_steps(steps)}
        progress(f"round {r + 1}/{rounds} done")


def saved_activation_bytes(built: Built, batch: torch.Tensor, precision: str = "fp32") -> int:
    """Bytes autograd keeps for backward after one forward (parameters excluded): the activation memory.

    Counted exactly, one storage once, with saved-tensor hooks, so it does not depend on the allocator or on
    anything else running on the machine.
    """
    param_storages = {p.untyped_storage().data_ptr() for p in built.module.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in param_storages:
            seen[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast(precision):
        loss = built.loss(batch[:, :-1], batch[:, 1:])
    del loss
    return sum(seen.values())


def loss_curves(builders: dict[str, Callable[[], Built]], batches: list[torch.Tensor],
                precisions: tuple[str, ...] = ("fp32", "bf16")) -> dict[tuple[str, str], list[float]]:
    """Train each model from the same init on the same batches in each precision; the per-step losses."""
    curves = {}
    for key, build in builders.items():
        for precision in precisions:
            built = build()
            timer = StepTimer(built, batches[0], precision)
            for b in batches:
                timer.x, timer.y = b[:, :-1], b[:, 1:]
                timer.step()
            curves[(key, precision)] = timer.losses
    return curves
