"""Where a sweep stands: at its start, the runs planned, already finished here and reusable from other sweeps;
after each run, done / total and an ETA from the runs trained so far.

The plan is written to `<sweep>/.ffnlab-plan.json` by the sweep's process (ffnlab.runs.sweep.SweepSummary), so the
launcher's worker processes can report progress against it. Planning composes every job's config (Hydra's
basic sweeper's job list) and tests it against the finished records under the output root's multirun/ with
the decision's own rule (ffnlab.runs.identity.same_experiment), so "finished" and "reusable" mean exactly what the
sweep's decision (ffnlab.runs.decide) will find.
It never stops a sweep: if a plan cannot be made, the sweep runs without one.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from pathlib import Path
from typing import Any

from hydra import compose
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from ffnlab import RESULTS_REVISION
from ffnlab.data.corpora import open_corpus
from ffnlab.io import output_dir
from ffnlab.runs import branch
from ffnlab.runs.identity import finished_runs, same_experiment
from ffnlab.runs.outcomes import outcomes
from ffnlab.runs.provenance import this_machine
from ffnlab.runs.record import RECORD_NAME, RunRecord, try_read_record
from ffnlab.runs.schedules import is_wsd

log = logging.getLogger("ffnlab")
PLAN_NAME = ".ffnlab-plan.json"


def planned_jobs(config: DictConfig) -> list[list[str]] | None:
    """Each job's overrides, as Hydra's basic sweeper will launch them (None for other sweepers)."""
    if "BasicSweeper" not in str(config.hydra.sweeper.get("_target_", "")):
        return None
    params = [f"{k}={v}" for k, v in (config.hydra.sweeper.get("params") or {}).items()]
    choices: dict[str, list[str]] = {}  # key → its values; a key given twice keeps its place, the last values
    for o in OverridesParser.create().parse_overrides(params + list(config.hydra.overrides.task)):
        key = o.get_key_element()
        if o.is_sweep_override() and not o.is_discrete_sweep():
            return None  # an interval: a tuning sweeper's
        choices[key] = [f"{key}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override() \
            else [f"{key}={o.get_value_element_as_str()}"]
    return [list(job) for job in itertools.product(*choices.values())]  # the basic sweeper's order


def _finished_index(multirun: Path) -> dict[tuple, list[tuple[Path, RunRecord]]]:
    """(ffn, seed) → the folders under multirun/ holding a finished record a sweep may skip or reuse, with it."""
    index: dict[tuple, list[tuple[Path, RunRecord]]] = {}
    for folder, rec in finished_runs(multirun, RESULTS_REVISION):  # the walk identity.find_finished makes
        if rec.config:
            index.setdefault((rec.ffn, rec.seed), []).append((folder.resolve(), rec))
    return index


def make_plan(config: DictConfig) -> dict[str, Any] | None:
    """{total, finished, reusable, to_train} for the sweep `config` starts (None: no plan for this sweeper)."""
    jobs = planned_jobs(config)
    if jobs is None:
        return None
    sweep_dir = Path(config.hydra.sweep.dir).resolve()
    index = _finished_index(output_dir(config.paths.output) / "multirun")
    if not any(sweep_dir == p or p in sweep_dir.parents for p in [output_dir(config.paths.output) / "multirun"]):
        for key, found in _finished_index(sweep_dir).items():  # a sweep placed elsewhere (hydra.sweep.dir)
            index.setdefault(key, []).extend(found)
    shas: dict[str, str] = {}
    finished = reusable = 0
    composed, train = [], []
    for job in jobs:
        cfg = OmegaConf.to_container(compose("train", overrides=job), resolve=True)
        key = json.dumps(cfg["data"], sort_keys=True, default=str)
        if key not in shas:
            shas[key] = open_corpus(cfg["data"]).sha256
        composed.append((cfg, shas[key]))
        where = [(folder, rec) for folder, rec in index.get((cfg.get("ffn"), cfg.get("seed")), [])
                 if same_experiment(rec, cfg, shas[key]) is not None]  # the decision's own test (ffnlab.runs.decide)
        if any(sweep_dir in p.parents for p, _ in where):
            finished += 1
        elif cfg.get("reuse_runs", False) and any(  # a donor only from this machine, as the job reuses (runs.job)
                rec.machine == this_machine(cfg["trainer"]["accelerator"]) for _, rec in where):
            reusable += 1
        else:
            train.append(composed[-1])
    kept = _kept_points(composed)
    return {"total": len(jobs), "finished": finished, "reusable": reusable, "to_train": len(train),
            "to_train_steps": sum(_steps_to_train(cfg, sha, kept) for cfg, sha in train)}


def _kept_points(jobs: list[tuple[dict, str]]) -> dict[str, set[int]]:
    """Stable-phase prefix (ffnlab.runs.branch.prefix_hash) → the steps whose checkpoints the sweep's longer
    warmup-stable-decay runs of that prefix keep for shorter budgets to branch from."""
    kept: dict[str, set[int]] = {}
    for cfg, sha in jobs:
        if is_wsd(cfg) and (points := branch.points_to_keep(cfg)):
            kept.setdefault(branch.prefix_hash(cfg, sha), set()).update(points)
    return kept


def _steps_to_train(cfg: dict, sha: str, kept: dict[str, set[int]]) -> int:
    """The steps a job will train: a warmup-stable-decay run whose cool-down start a longer run of the same sweep
    keeps a checkpoint at branches there (ffnlab.runs.branch) and trains its cool-down only; any other, all its
    steps."""
    steps = int(cfg["trainer"]["max_steps"])
    if not (is_wsd(cfg) and cfg.get("reuse_runs", False)):
        return steps
    start = branch.stable_point(cfg)
    return steps - start if start in kept.get(branch.prefix_hash(cfg, sha), ()) else steps


def start(config: DictConfig, since: float) -> None:
    """Log the plan at a sweep's start and write it for the jobs' progress lines."""
    sweep_dir = Path(config.hydra.sweep.dir)
    try:
        plan = make_plan(config)
    except Exception as e:  # a plan is a courtesy; the sweep's own decisions stand
        log.debug("no sweep plan: %s: %s", type(e).__name__, e)
        plan = None
    if plan is None:
        (sweep_dir / PLAN_NAME).unlink(missing_ok=True)  # an earlier invocation's plan would misstate this one
        return
    n_jobs = config.hydra.launcher.get("n_jobs") or 1
    plan.update(since=since, parallel=int(n_jobs) if int(n_jobs) > 0 else 1)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / PLAN_NAME).write_text(json.dumps(plan))
    log.info("sweep %s: %d runs planned: %d finished here already (skipped), %d reusable from other sweeps, "
             "%d to train, %d at a time", sweep_dir, plan["total"], plan["finished"], plan["reusable"],
             plan["to_train"], plan["parallel"])


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}" if minutes >= 60 else f"{minutes} min"


TRAINED = ("ok", "failed", "diverged")  # the outcomes of a run this sweep trained


def line(sweep_dir: Path, now: float | None = None) -> str | None:
    """'12/45 runs done (3 trained, 9 skipped); ETA 1h05 for 33 to train' from the plan and the outcomes so far."""
    path = Path(sweep_dir) / PLAN_NAME
    try:
        plan = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    now = time.time() if now is None else now
    counts: dict[str, int] = {}
    work = 0.0  # runs' worth of training done by this sweep: a run resumed at 700 of 800 steps is 1/8 of one
    steps: float | None = 0.0  # the steps this sweep trained (None: a trained run's record does not say)
    for folder, outcome, _ in outcomes(sweep_dir, plan["since"]):
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome in TRAINED:
            share, trained_steps = _trained_here(folder)
            work += share
            steps = None if steps is None or trained_steps is None else steps + trained_steps
    done = sum(counts.values()) - counts.get("interrupted", 0)
    trained = sum(counts.get(k, 0) for k in TRAINED)
    left = 0 if done >= plan["total"] else max(0, plan["to_train"] - trained)  # finished: no ETA
    text = f"{done}/{plan['total']} runs done (" + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + ")"
    elapsed = now - plan["since"]  # the rate so far already includes the runs trained side by side (and any pause)
    if left and steps and plan.get("to_train_steps"):  # by steps: a cool-down branch is a fraction of a run
        text += f"; ETA {_duration(elapsed / steps * max(0.0, plan['to_train_steps'] - steps))} for {left} still " \
                "to train"
    elif work > 0 and left:
        text += f"; ETA {_duration(elapsed / work * left)} for {left} still to train"
    return text


def _trained_here(run_dir: Path) -> tuple[float, int | None]:
    """The share of a run's steps this invocation trained (1 unless its record says it resumed or branched
    part-way), and how many steps that is (None where the record does not say)."""
    rec = try_read_record(Path(run_dir) / RECORD_NAME)
    if rec is None or not rec.steps:
        return 1.0, None
    start = rec.resumed_from_step or 0
    return max(0.0, 1.0 - start / rec.steps), max(0, rec.steps - start)
