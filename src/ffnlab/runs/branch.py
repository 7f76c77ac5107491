"""Warmup-stable-decay branches: a run to a shorter budget starts where a longer run of the same experiment
reaches that budget's cool-down, instead of training the shared stable phase again (Hägele et al. 2024).

With `optim.schedule=wsd` the learning rate before a budget's cool-down does not depend on the budget
(ffnlab.runs.schedules.wsd), and batches are a pure function of the step (ffnlab.data.datamodule), so a longer
run's state at step cooldown_start(B) *is* the state a run to budget B has there: starting from it gives the
numbers training from scratch gives (the tests hold it bitwise). So a run with `trainer.branch_budgets` keeps
`checkpoints/stable-<step>-<prefix>.ckpt` at the cool-down start of every shorter budget, and a WSD run that finds
one of its own prefix (its identity without trainer.max_steps) under the output's multirun/ starts there. Its
record says so in `branched_from`; the history before that step is the longer run's (evaluated on its
schedule, its flags kept); ffnlab.runs.callbacks.KeepStable keeps the checkpoints. How, not what: a branch's
record is the record of the same experiment.
"""

from __future__ import annotations

import copy
from pathlib import Path

from ffnlab.runs.keys import identity_hash
from ffnlab.runs.schedules import cooldown_start, is_wsd


def prefix_hash(config: dict, data_sha256: str | None) -> str:
    """The identity of a run's stable phase: its identity without the budget (trainer.max_steps)."""
    config = copy.deepcopy(config)
    config.get("trainer", {}).pop("max_steps", None)
    return identity_hash(config, data_sha256)


def stable_point(cfg) -> int:
    """The step where this run's cool-down starts: the point it can branch from."""
    return cooldown_start(int(cfg["trainer"]["max_steps"]), float(cfg["optim"]["cooldown_frac"]))


def points_to_keep(cfg) -> set[int]:
    """The cool-down starts of the shorter budgets in trainer.branch_budgets (after warmup, inside this run)."""
    if not is_wsd(cfg):
        return set()
    t, o = cfg["trainer"], cfg["optim"]
    points = {cooldown_start(int(b), float(o["cooldown_frac"])) for b in (t.get("branch_budgets") or [])
              if int(b) < int(t["max_steps"])}
    return {p for p in points if int(o["warmup_steps"]) <= p < stable_point(cfg)}


def ckpt_name(step: int, prefix: str) -> str:
    return f"stable-{step}-{prefix}.ckpt"


def find_branch(multirun: Path, run_dir: Path, step: int, prefix: str) -> Path | None:
    """A kept stable checkpoint of this prefix at `step` in another run folder under multirun/ (None: none)."""
    for path in sorted(Path(multirun).glob(f"*/*/checkpoints/{ckpt_name(step, prefix)}")):
        if path.parent.parent.resolve() != Path(run_dir).resolve():
            return path
    return None
