"""Hydra callback that starts every sweep with its plan (ffnlab.runs.progress) and ends it with a tally (how many
runs succeeded, failed, diverged, were skipped, reused or refused) and, when two or more variants finished, a
report in `<sweep>/report/` whose headline table and verdict are printed (`report_at_end=false` turns it off). The
reporter is named in conf/train.yaml (`reporter: ffnlab.cli.report.report_sweep`) and resolved only when a sweep
reports, so the run layer never imports the report, and a sweep that does not report never loads it. Also what a
stopped sweep marks and says."""

from __future__ import annotations

import json
import logging
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra.utils import get_method
from omegaconf import DictConfig

from ffnlab.runs import progress
from ffnlab.runs.outcomes import OUTCOMES, PROBLEMS, outcomes, tally
from ffnlab.runs.progress import PLAN_NAME
from ffnlab.runs.record import write_outcome

log = logging.getLogger("ffnlab")


@dataclass(frozen=True)
class Running:
    """The sweep this process is running, from its start (SweepSummary.on_multirun_start) to its end."""

    since: float  # when it began: outcomes written since are this invocation's
    folder: Path
    reporter: str | None  # the dotted name of its reporter, when it reports at its end (report_at_end)


def _report(reporter: str | None, sweep_dir: Path, figures: bool = True) -> None:
    """Call the reporter a dotted name names (`reporter(sweep_dir, figures=...)`), resolved here, when needed."""
    if reporter:
        get_method(reporter)(sweep_dir, figures=figures)


def sweep_start(sweep_dir: Path) -> float:
    """When the sweep now running in `sweep_dir` began: this process's record of it, or, in a launcher's worker
    process (which never saw the sweep start), the time in the plan the sweep wrote, else the time Hydra wrote
    the sweep's multirun.yaml. 0.0 (every outcome ever written there) only when none of them exists."""
    if SweepSummary.running is not None:
        return SweepSummary.running.since
    try:
        return float(json.loads((Path(sweep_dir) / PLAN_NAME).read_text())["since"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        return (Path(sweep_dir) / "multirun.yaml").stat().st_mtime - 1.0
    except OSError:
        return 0.0


def interrupted_tally(sweep_dir: Path) -> str:
    """The tally line of a sweep stopped part-way (what finished in this invocation, and the interrupted runs)."""
    c = tally(sweep_dir, sweep_start(sweep_dir))
    return f"sweep {sweep_dir} interrupted: " + ", ".join(f"{c[k]} {k}" for k in (*OUTCOMES, "interrupted"))


def mark_interrupted() -> str | None:
    """After a sweep in worker processes was stopped: mark each run folder it had started (a .hydra/ written since
    the sweep began) that has no outcome since as interrupted, and return the tally line (None: no sweep ran)."""
    sweep = SweepSummary.running
    if sweep is None:
        return None
    since, sweep_dir = sweep.since, sweep.folder
    done = {d for d, _, _ in outcomes(sweep_dir, since)}
    for cfg in Path(sweep_dir).rglob(".hydra/config.yaml"):
        run_dir = cfg.parent.parent
        if cfg.stat().st_mtime >= since and run_dir not in done:
            write_outcome(run_dir, "interrupted", "stopped with its sweep; re-run the same command to resume it")
    return interrupted_tally(sweep_dir)


def report_if_asked(figures: bool) -> None:
    """The sweep-end report of this process's sweep, if it asked for one (used when a sweep is interrupted)."""
    sweep = SweepSummary.running
    if sweep is not None and sweep.reporter:
        _report(sweep.reporter, sweep.folder, figures=figures)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class SweepSummary(Callback):
    running: Running | None = None  # the sweep under way in this process (None: none, or it has ended)

    def __init__(self, reporter: str | None = None) -> None:
        self.start = time.time()
        self.reporter = reporter  # a dotted name (conf/train.yaml): the function that reports a finished sweep

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.start = time.time() - 1e-3
        reports = bool(config.get("report_at_end", False))
        SweepSummary.running = Running(self.start, Path(config.hydra.sweep.dir), self.reporter if reports else None)
        progress.start(config, self.start)  # planned / finished / reusable / to train, and the plan for ETAs
        if "BasicLauncher" not in str(config.hydra.launcher.get("_target_", "BasicLauncher")):
            # Runs live in worker processes (joblib): a SIGTERM to the sweep becomes Ctrl-C here, which makes the
            # launcher stop its workers instead of leaving them running after this process is gone.
            signal.signal(signal.SIGTERM, _raise_interrupt)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Log the tally; name every run that failed or was refused, and then exit 1."""
        sweep_dir = Path(config.hydra.sweep.dir)
        found = outcomes(sweep_dir, self.start)
        c = Counter(outcome for _, outcome, _ in found)
        parts = [f"{c[k]} {k}" for k in OUTCOMES]
        extra = [f"{n} {k}" for k, n in c.items() if k not in OUTCOMES]
        log.info(f"sweep {sweep_dir}: " + ", ".join(parts + extra))
        problems = [(d, o, detail) for d, o, detail in found if o in PROBLEMS]
        if config.get("report_at_end", False):
            _report(self.reporter, sweep_dir)
        for run_dir, outcome, detail in problems:
            log.error("%s %s: %s", outcome, run_dir.relative_to(sweep_dir), detail.splitlines()[0] if detail else "")
        SweepSummary.running = None
        if problems:
            raise SystemExit(1)  # a sweep that did not compute every run asked for is not a success
