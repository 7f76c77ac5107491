"""Hydra callback that ends every sweep with a tally: how many runs succeeded, failed, diverged, were skipped,
reused or refused."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ffnlab.record import OUTCOME_NAME

log = logging.getLogger("ffnlab")
# What the tally lists (ffnlab.record.OUTCOMES less "interrupted", which only ever appears as an extra).
# reused: the same experiment had finished in another sweep, so its record was copied instead of retrained.
OUTCOMES = ("ok", "failed", "diverged", "skipped", "reused", "refused")


def tally(sweep_dir: Path, since: float = 0.0) -> Counter:
    """Count the outcomes written under `sweep_dir` at or after `since` (a time.time() value)."""
    counts: Counter = Counter()
    for path in sorted(Path(sweep_dir).rglob(OUTCOME_NAME)):
        try:
            outcome = json.loads(path.read_text())
        except (OSError, ValueError):
            counts["unreadable"] += 1
            continue
        if outcome.get("at", 0) >= since:
            counts[outcome.get("outcome", "unknown")] += 1
    return counts


class SweepSummary(Callback):
    def __init__(self) -> None:
        self.start = time.time()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.start = time.time() - 1e-3

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        c = tally(sweep_dir, self.start)
        parts = [f"{c[k]} {k}" for k in OUTCOMES]
        extra = [f"{n} {k}" for k, n in c.items() if k not in OUTCOMES]
        line = f"sweep {sweep_dir}: " + ", ".join(parts + extra)
        log.info(line)
