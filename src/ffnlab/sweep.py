"""Hydra callback that ends every sweep with a tally (how many runs succeeded, failed, diverged, were skipped,
reused or refused) and, when two or more variants finished, a report in `<sweep>/report/` whose headline table
and verdict are printed (`report_at_end=false` turns it off)."""

from __future__ import annotations

import json
import logging
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ffnlab.errors import FfnlabError
from ffnlab.record import OUTCOME_NAME, RECORD_NAME, try_read_record, write_outcome

log = logging.getLogger("ffnlab")
# What the tally lists (ffnlab.record.OUTCOMES less "interrupted", which only ever appears as an extra).
# reused: the same experiment had finished in another sweep, so its record was copied instead of retrained.
OUTCOMES = ("ok", "failed", "diverged", "skipped", "reused", "refused")


# Outcomes that mean a run asked for was not computed: the sweep then exits non-zero. (A diverged run is a result.)
PROBLEMS = ("failed", "refused", "unreadable", "unknown")


def outcomes(sweep_dir: Path, since: float = 0.0) -> list[tuple[Path, str, str]]:
    """(run folder, outcome, detail) of every outcome written under `sweep_dir` at or after `since`."""
    found = []
    for path in sorted(Path(sweep_dir).rglob(OUTCOME_NAME)):
        try:
            outcome = json.loads(path.read_text())
        except (OSError, ValueError):
            found.append((path.parent, "unreadable", str(path)))
            continue
        if outcome.get("at", 0) >= since:
            found.append((path.parent, outcome.get("outcome", "unknown"), outcome.get("detail", "")))
    return found


SIGNAL_EXIT = 130  # the exit status of a sweep stopped by Ctrl-C or SIGTERM
_STARTED: list[tuple[float, Path, bool]] = []  # (start, folder, report_at_end) of this process's sweep
REPORT_DIR = "report"


def report_sweep(sweep_dir: Path, figures: bool = True) -> Path | None:
    """Report the finished runs of a sweep into <sweep>/report/ (without records/: they are the sweep itself) and
    print its headline and verdict as soon as the tables are written; the figures follow. Nothing when fewer
    than two variants finished. A report newer than every run record is kept as it is (its headline printed):
    a sweep that only skipped runs does not spend minutes rewriting it. Never fails the sweep: a report problem
    is one warning."""
    out = Path(sweep_dir) / REPORT_DIR
    found = [p for p in Path(sweep_dir).rglob(RECORD_NAME) if out not in p.parents]
    head = out / "headline.md"
    written = head.stat().st_mtime if head.is_file() else None
    if written is not None and all(p.stat().st_mtime <= written for p in found):
        print(head.read_text())  # no record newer than the report: rebuilding it would write the same tables
        log.info("report: %s is up to date (no run record is newer; ffnlab-report %s --out %s rebuilds it)", out,
                 sweep_dir, out)
        return out
    variants = {r.ffn for p in found if (r := try_read_record(p)) and r.status == "ok"}
    if len(variants) < 2:
        return None
    import warnings

    from ffnlab.report.cli import report

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the report's warnings are in its tables (runs.csv lists every run)
            report([str(sweep_dir)], out, copy_records=False, figures=figures, announce=lambda text: print(text))
    except FfnlabError as e:
        log.warning("no report for %s: %s", sweep_dir, e)
        return None
    log.info("report: %s (tables%s; ffnlab-report %s --out DIR for another folder)", out,
             ", figures/" if figures else "; figures: run ffnlab-report", sweep_dir)
    return out


def sweep_start(sweep_dir: Path) -> float:
    """When the sweep now running in `sweep_dir` began: this process's record of it, or, in a launcher's worker
    process (which never saw the sweep start), the time in the plan the sweep wrote, else the time Hydra wrote
    the sweep's multirun.yaml. 0.0 (every outcome ever written there) only when none of them exists."""
    if _STARTED:
        return _STARTED[-1][0]
    from ffnlab.progress import PLAN_NAME

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
    if not _STARTED:
        return None
    since, sweep_dir, _ = _STARTED[-1]
    done = {d for d, _, _ in outcomes(sweep_dir, since)}
    for cfg in Path(sweep_dir).rglob(".hydra/config.yaml"):
        run_dir = cfg.parent.parent
        if cfg.stat().st_mtime >= since and run_dir not in done:
            write_outcome(run_dir, "interrupted", "stopped with its sweep; re-run the same command to resume it")
    return interrupted_tally(sweep_dir)


def report_if_asked(figures: bool) -> None:
    """The sweep-end report of this process's sweep, if it asked for one (used when a sweep is interrupted)."""
    if _STARTED and _STARTED[-1][2]:
        report_sweep(_STARTED[-1][1], figures=figures)


def tally(sweep_dir: Path, since: float = 0.0) -> Counter:
    """Count the outcomes written under `sweep_dir` at or after `since` (a time.time() value)."""
    return Counter(outcome for _, outcome, _ in outcomes(sweep_dir, since))


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class SweepSummary(Callback):
    def __init__(self) -> None:
        self.start = time.time()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.start = time.time() - 1e-3
        _STARTED.append((self.start, Path(config.hydra.sweep.dir), bool(config.get("report_at_end", False))))
        from ffnlab import progress

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
            report_sweep(sweep_dir)
        for run_dir, outcome, detail in problems:
            log.error("%s %s: %s", outcome, run_dir.relative_to(sweep_dir), detail.splitlines()[0] if detail else "")
        if problems:
            raise SystemExit(1)  # a sweep that did not compute every run asked for is not a success
