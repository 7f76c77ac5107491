"""Learning-rate multipliers, one pure function per schedule (LambdaLR multiplies the base lr by them). Torch-free."""

from __future__ import annotations

import math

from ffnlab.errors import ConfigError

OPTIMIZERS = ("adamw", "adafactor")  # optim.name (null: adamw); ffnlab.runs.lit builds each
SCHEDULES = ("cosine", "wsd")  # optim.schedule of adamw (null: cosine)


def warmup_cosine(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """LR multiplier: linear warmup from 0 to 1 over `warmup` steps, then cosine down to `min_ratio`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def cooldown_start(total: int, cooldown_frac: float) -> int:
    """The first step of a warmup-stable-decay run's cool-down: the last round(cooldown_frac · total) steps decay."""
    return total - round(cooldown_frac * total)


def wsd(step: int, warmup: int, total: int, cooldown_frac: float) -> float:
    """Warmup-stable-decay multiplier (Hägele et al. 2024): linear warmup from 0 to 1 over `warmup` steps, 1 until
    cooldown_start(total), then linearly to 0 at `total`. Before its cool-down the schedule does not depend on
    `total`: a run to a budget is, step for step, a longer run until that budget's cool-down begins (ffnlab.runs.branch
    starts it from the longer run's checkpoint there)."""
    if step < warmup:
        return (step + 1) / warmup
    start = cooldown_start(total, cooldown_frac)
    if step < start:
        return 1.0
    return max(0.0, (total - step) / max(1, total - start))


def inverse_sqrt(step: int, warmup: int, total: int, decay_frac: float = 0.1) -> float:
    """Shazeer/T5 multiplier: 1 for `warmup` steps, then sqrt(warmup/step); linear to 0 over the last decay_frac.

    With base lr 1/sqrt(warmup) this is T5's rsqrt schedule, lr = 1/sqrt(max(step, warmup)).
    """
    value = math.sqrt(warmup / max(step, warmup))
    decay_start = total * (1 - decay_frac)
    if decay_frac > 0 and step >= decay_start:
        value *= max(0.0, (total - step) / (total - decay_start))
    return value


def is_wsd(config) -> bool:
    """Whether a (resolved) config trains with AdamW under warmup-stable-decay."""
    o = config["optim"]
    return (o.get("name") or "adamw") == "adamw" and o.get("schedule") == "wsd"


def eval_schedule(max_steps: int, eval_every: int | None) -> tuple[int, int]:
    """(early step, eval interval). Early is 1/8 of the budget, mirroring the paper's 65,536 of 524,288."""
    early = max(1, max_steps // 8)
    every = eval_every or early
    if early % every:
        raise ConfigError(f"trainer.eval_every={every} does not divide the early step {early} (max_steps/8); "
                          f"pick a divisor of {early} or leave it null")
    return early, every


def ckpt_interval(ckpt_every: int | None, every: int) -> int:
    """Checkpoints are written right after an evaluation, so their interval is a multiple of eval_every."""
    if ckpt_every and ckpt_every % every:
        raise ConfigError(f"trainer.ckpt_every={ckpt_every} must be a multiple of the eval interval {every}")
    return ckpt_every or every
