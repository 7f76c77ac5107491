"""One Hydra job of ffnlab-train, from its run folder to its record: open the data, decide what to do with the
folder (ffnlab.runs.decide: skip, refuse, reuse, resume or train), find a cool-down branch's parent, train
(ffnlab.runs.fit) and write the record and the outcome. The folder is locked for the job's life.

The folder gets `.hydra/` (the composed config, written only when the job trains or reuses, so a skipped or
refused folder keeps its files), `metrics.json` (the RunRecord) and `outcome.json` (for the tally).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
import time
import traceback
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ffnlab import RESULTS_REVISION
from ffnlab.data.corpora import open_corpus
from ffnlab.errors import DivergedError, FfnlabError, FolderBusyError, fail
from ffnlab.io import atomic_write_text, output_dir, run_folder_lock
from ffnlab.quiet import quiet_third_party
from ffnlab.runs import branch, progress
from ffnlab.runs.config import settings
from ffnlab.runs.decide import Decision, decide
from ffnlab.runs.fit import fit
from ffnlab.runs.identity import find_finished
from ffnlab.runs.keys import identity_hash
from ffnlab.runs.outcomes import SIGNAL_EXIT
from ffnlab.runs.provenance import git_sha, this_machine, versions
from ffnlab.runs.record import RunRecord, read_record, try_read_record, write_outcome, write_record
from ffnlab.runs.schedules import is_wsd
from ffnlab.runs.sweep import interrupted_tally, report_if_asked

log = logging.getLogger("ffnlab")


def _resume_point(ckpt_dir: Path) -> tuple[Path | None, int, str | None]:
    """(checkpoint, its step, the identity stamped in it) for the run's own last checkpoint; Nones if none."""
    path = ckpt_dir / "last.ckpt"
    if not path.is_file():
        return None, 0, None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unreadable: start over, but keep the file for inspection
        log.warning("ignoring unreadable checkpoint %s (%s); starting from scratch", path, e)
        path.rename(path.with_suffix(".ckpt.unreadable"))
        return None, 0, None
    return path, int(ckpt["global_step"]), ckpt.get("ffnlab", {}).get("config_hash")


def _readable(path: Path) -> bool:
    """Whether a checkpoint file loads (a truncated or corrupt one does not)."""
    try:
        torch.load(path, map_location="cpu", weights_only=True)
        return True
    except Exception:
        return False


def _save_hydra_files(run_dir: Path, cfg: DictConfig) -> None:
    """What Hydra writes to .hydra/ (conf/train.yaml sets output_subdir null, so only a job that trains or reuses
    writes it, and a skipped or refused folder keeps the config of the run it holds)."""
    hc = HydraConfig.instance().cfg
    folder = run_dir / ".hydra"
    atomic_write_text(folder / "config.yaml", OmegaConf.to_yaml(cfg))
    atomic_write_text(folder / "hydra.yaml", OmegaConf.to_yaml(hc))
    atomic_write_text(folder / "overrides.yaml", OmegaConf.to_yaml(hc.hydra.overrides.task))


def _decide(cfg: DictConfig, run_dir: Path, resolved: dict, data_sha: str, identity: str, multirun: bool
            ) -> tuple[Decision, Path | None, int]:
    try:
        existing = read_record(run_dir)
    except ValueError as e:  # never trusted, never rewritten: the user decides what happens to it
        return Decision("refuse", f"its metrics.json is not a valid run record ({e.__cause__ or e}); move the "
                                  "file aside to train this run"), None, 0
    if existing is not None and existing.status == "ok":
        return decide(existing, resolved, data_sha, RESULTS_REVISION, identity), None, 0
    donor = None
    if multirun and cfg.get("reuse_runs", False):  # only where ffnlab's own sweeps live: <output>/multirun
        donor = find_finished(output_dir(cfg.paths.output) / "multirun", resolved, data_sha, RESULTS_REVISION,
                              exclude=run_dir, machine=this_machine(cfg.trainer.accelerator))
    ckpt, step, stamp = (None, 0, None) if donor else _resume_point(run_dir / "checkpoints")
    decision = decide(existing, resolved, data_sha, RESULTS_REVISION, identity, stamp, donor)
    return decision, (ckpt if decision.action == "resume" else None), (step if decision.action == "resume" else 0)


def _interrupted(run_dir: Path, e: BaseException, multirun: bool) -> None:
    """Mark the run interrupted (no record: its checkpoint resumes it), say so with the sweep's tally, and exit."""
    how = "SIGTERM" if type(e).__name__ == "SIGTERMException" else "Ctrl-C" if isinstance(e, KeyboardInterrupt) \
        else "an exit"
    write_outcome(run_dir, "interrupted", f"stopped by {how}; re-run the same command to resume it from its last "
                                          "checkpoint")
    log.warning("interrupted %s (stopped by %s): finished runs are kept; re-run the same command to continue",
                run_dir, how)
    if multirun:
        log.warning(interrupted_tally(run_dir.parent))
        report_if_asked(figures=False)  # what finished, as tables (figures: ffnlab-report)
    raise SystemExit(SIGNAL_EXIT)


def run(cfg: DictConfig) -> float:
    """One Hydra job; returns its final validation loss (inf when it has none), for sweepers that optimise.
    In a sweep, each job ends with where the sweep stands (ffnlab.runs.progress)."""
    result = _job(cfg)
    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN:
        text = progress.line(Path(hc.sweep.dir))
        if text:
            log.info("sweep: %s", text)
    return result


def _job(cfg: DictConfig) -> float:
    quiet_third_party()  # here, not only in ffnlab-train's cli(): a launcher's worker processes run this alone
    t_job = time.time()
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    run_dir = Path(hc.runtime.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0":
        return _owned_job(cfg, run_dir, multirun, t_job)  # a DDP worker Lightning started: rank 0 owns the folder
    try:
        with run_folder_lock(run_dir):  # the folder's owner for the run's life: no second writer
            return _owned_job(cfg, run_dir, multirun, t_job)
    except FolderBusyError as e:
        if not multirun:
            fail("ffnlab-train", e)
        log.error("%s", e)
        return math.inf


def _owned_job(cfg: DictConfig, run_dir: Path, multirun: bool, t_job: float) -> float:
    resolved = OmegaConf.to_container(cfg, resolve=True)
    try:
        source = open_corpus(resolved["data"])
    except FfnlabError as e:
        if not multirun:
            fail("ffnlab-train", e)
        log.error("run %s: %s", run_dir, e)
        write_outcome(run_dir, "failed", str(e))
        return math.inf
    data_sha = source.sha256
    identity = identity_hash(resolved, data_sha)
    decision, resume, start_step = _decide(cfg, run_dir, resolved, data_sha, identity, multirun)
    prefix, branched_from = None, None
    if is_wsd(resolved):
        prefix = branch.prefix_hash(resolved, data_sha)
        if decision.action == "train" and multirun and cfg.get("reuse_runs", False):
            found = _branch_parent(cfg, run_dir, resolved, prefix)
            if found is not None:
                resume, start_step, branched_from = found, branch.stable_point(resolved), str(found)
                log.info("branch %s: from %s (step %d)", run_dir, found, start_step)
    if decision.action in ("skip", "refuse"):
        return _leave(run_dir, decision, multirun)
    _save_hydra_files(run_dir, cfg)
    if decision.action == "reuse":  # the same experiment finished in another sweep: copy its record
        donor = try_read_record(decision.donor)
        donor.config, donor.config_hash, donor.run_dir = resolved, identity, str(run_dir)
        donor.reused_from = str(decision.donor)
        write_record(run_dir, donor)
        write_outcome(run_dir, "reused", str(decision.donor))
        log.info("reuse %s: %s", run_dir, decision.reason)
        return donor.final.val_loss
    record = RunRecord(status="ok", ffn=cfg.ffn, seed=cfg.seed, config=resolved, config_hash=identity,
                       results_revision=RESULTS_REVISION, run_dir=str(run_dir), git_sha=git_sha(),
                       versions=versions())
    return _train(cfg, run_dir, record, multirun, (source, resume, start_step, t_job, prefix), branched_from)


def _branch_parent(cfg: DictConfig, run_dir: Path, resolved: dict, prefix: str) -> Path | None:
    """A longer run's kept stable-phase checkpoint this cool-down branch starts from (an unreadable one is set
    aside, as a resumed run's would be); None: train from scratch."""
    found = branch.find_branch(output_dir(cfg.paths.output) / "multirun", run_dir, branch.stable_point(resolved),
                               prefix)
    if found is not None and not _readable(found):
        log.warning("branch %s: the parent checkpoint %s is unreadable; set aside as .unreadable, training from "
                    "scratch", run_dir, found)
        found.rename(found.with_suffix(".ckpt.unreadable"))
        return None
    return found


def _leave(run_dir: Path, decision: Decision, multirun: bool) -> float:
    """A skipped or refused folder: its files as they are, the outcome written, the finished loss (skip) or inf."""
    if decision.action == "skip":
        existing = try_read_record(run_dir)
        log.info("skip %s: finished with the same config%s", run_dir, f" ({decision.reason})" if decision.reason
                 else "")
        write_outcome(run_dir, "skipped", decision.reason)
        return existing.final.val_loss
    where = "a new sweep_name or hydra.sweep.dir" if multirun else "another hydra.run.dir"
    msg = f"{run_dir}: {decision.reason}; not overwriting it: use {where}"
    if not multirun:  # a single run's folder is left exactly as it was
        fail("ffnlab-train", msg)
    write_outcome(run_dir, "refused", msg)
    log.error(msg)
    return math.inf


def _train(cfg: DictConfig, run_dir: Path, record: RunRecord, multirun: bool, how: tuple,
           branched_from: str | None) -> float:
    """Fit, and write what came of it: the record (ok, diverged or failed) and the outcome."""
    t0, rank0 = time.time(), True
    try:
        fields, rank0 = fit(settings(cfg), run_dir, record.config_hash, *how)  # checked and typed, once
        record = dataclasses.replace(record, **fields, branched_from=branched_from)  # a misspelt field: TypeError
    except DivergedError as e:
        record.status, record.error, record.wall_s = "diverged", str(e), time.time() - t0
    except (KeyboardInterrupt, SystemExit) as e:  # Ctrl-C, or SIGTERM (Lightning stops after the current step)
        _interrupted(run_dir, e, multirun)
    except Exception as e:  # recorded, not fatal: the sweep goes on
        return _failed(run_dir, record, e, multirun, time.time() - t0)
    final = record.final.val_loss if record.final else None
    if not rank0:
        return final  # DDP: only rank 0 writes
    write_record(run_dir, record)
    write_outcome(run_dir, record.status, record.error or "")
    log.info("%s %s seed=%s: %s%s", record.status, cfg.ffn, cfg.seed, run_dir,
             f" val_loss={final:.4f}" if final is not None else f" ({record.error})")
    return final if final is not None else math.inf


def _failed(run_dir: Path, record: RunRecord, e: Exception, multirun: bool, wall_s: float) -> float:
    """A run that raised: recorded as failed; the user's own mistake (FfnlabError) said in one line."""
    record.status, record.error, record.wall_s = "failed", f"{type(e).__name__}: {e}", wall_s
    record.traceback = traceback.format_exc()
    write_record(run_dir, record)
    write_outcome(run_dir, "failed", record.error)
    if isinstance(e, FfnlabError):  # the user's to fix: one line, no traceback
        if not multirun:
            fail("ffnlab-train", e)
        log.error("run %s failed: %s", run_dir, e)
        return math.inf
    log.exception("run %s failed", run_dir)
    if not multirun:
        sys.exit(1)
    return math.inf
