"""One model's training, from a composed config to the record's measured fields: the Trainer built
(ffnlab.runs.build), fitted, evaluated, tested where the corpus has a test split, its final weights kept
(checkpoints/final.ckpt) and BLiMP scored at its end. What happens to the folder around it is ffnlab.runs.job's.
"""

from __future__ import annotations

import logging
import math
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from ffnlab.data import blimp
from ffnlab.data.datamodule import LMDataModule, bits_per_byte
from ffnlab.errors import ConfigError, DivergedError
from ffnlab.io import atomic_path, threads_per_job
from ffnlab.model.ffn import get_variant
from ffnlab.quiet import quiet_third_party
from ffnlab.runs import branch, config
from ffnlab.runs.build import build, datamodule, world_size
from ffnlab.runs.callbacks import History, KeepStable, MeasureDiagnostics, SaveLast
from ffnlab.runs.config import TrainConfig
from ffnlab.runs.record import Blimp, Diagnostics, Evaluation, Final, Horizon, Params
from ffnlab.runs.schedules import ckpt_interval, eval_schedule

log = logging.getLogger("ffnlab")


def _reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (Linux), so a run in a multi-run process reports its own peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process lifetime peak


def _launcher_threads() -> int | None:
    """trainer.threads=null in a sweep whose launcher runs n_jobs side by side: cores ÷ n_jobs (never more threads
    than cores); otherwise None (torch's default)."""
    try:
        n_jobs = HydraConfig.get().launcher.get("n_jobs")
    except ValueError:  # no Hydra context (a notebook or a test calling fit)
        return None
    return threads_per_job(n_jobs) if isinstance(n_jobs, int) and n_jobs > 0 else None


@dataclass
class _Setup:
    dm: LMDataModule
    history: History
    diag: MeasureDiagnostics | None
    lit: L.LightningModule
    trainer: L.Trainer
    early: int
    world: int


def _setup(cfg: TrainConfig, run_dir: Path, identity: str, source, start_step: int, prefix: str | None) -> _Setup:
    """Threads, the dropout seed, the data module, the callbacks and the Trainer, for one run."""
    t = cfg.trainer
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        if t.gpu_memory_share:  # launcher=gpu_pack: several runs share the device
            torch.cuda.set_per_process_memory_fraction(float(t.gpu_memory_share))
    threads = t.threads or _launcher_threads()
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(cfg.seed)  # the global RNG draws only dropout masks (init and batches have their own seeds)
    early, every = eval_schedule(t.max_steps, t.eval_every)
    hc = HydraConfig.get()
    in_sweep = hc.mode == RunMode.MULTIRUN and "submitit" not in str(hc.launcher.get("_target_", ""))
    if t.strategy not in ("auto", None) and in_sweep:  # on SLURM, srun starts one task per device instead
        raise ConfigError(f"trainer.strategy={t.strategy} starts its own processes and cannot run inside a -m sweep "
                          "here; run it as a single run, or sweep on SLURM (launcher=slurm) with one task per device")
    world = world_size(t)
    history = History(tokens_per_step=cfg.data.batch_size * cfg.model.seq_len * world)
    dm = datamodule(cfg, source=source)
    dm.start_step = start_step
    diag = MeasureDiagnostics(every, cfg.diagnostics.tokens) if cfg.diagnostics.enabled else None
    # SaveLast comes last: the checkpoint after an evaluation holds that evaluation's history and diagnostics
    keep = branch.points_to_keep(asdict(cfg)) if prefix else set()
    callbacks = [history, *([diag] if diag else []),
                 *([KeepStable(run_dir / "checkpoints", keep, prefix, every)] if keep else []),
                 SaveLast(run_dir / "checkpoints", ckpt_interval(t.ckpt_every, every), identity)]
    parts = build(cfg, run_dir, callbacks, dm=dm, logger_version=f"from_step_{start_step}")
    return _Setup(dm, history, diag, parts.module, parts.trainer, early, world)


def fit(cfg: TrainConfig, run_dir: Path, identity: str, source, resume: Path | None, start_step: int,
        t_job: float | None = None, prefix: str | None = None) -> tuple[dict[str, Any], bool]:
    """Train one model of a checked, typed config (ffnlab.runs.config.settings); returns (the record's measured
    fields, whether this process is rank 0). Raises on failure."""
    quiet_third_party()  # again, now that Lightning is imported (it adds console handlers of its own on import)
    t_start = time.time()
    _reset_peak_rss()
    s = _setup(cfg, run_dir, identity, source, start_step, prefix)
    if resume:
        log.info("resuming %s from %s (step %d)", run_dir, resume, start_step)
    s.trainer.fit(s.lit, datamodule=s.dm, ckpt_path=str(resume) if resume else None, weights_only=True)
    if not s.history.rows or s.history.rows[-1]["step"] != cfg.trainer.max_steps:
        s.trainer.validate(s.lit, datamodule=s.dm, verbose=False)
    test_loss, test_error = None, None
    if s.dm.info.test_tokens is not None:  # a failure here must not discard the trained model's validation results
        try:
            test_loss = float(s.trainer.test(s.lit, datamodule=s.dm, verbose=False)[0]["test/loss"])
        except Exception as e:
            test_error = f"test evaluation failed ({type(e).__name__}: {e}); validation results kept"
            log.warning("%s: %s", run_dir, test_error)
    if s.trainer.is_global_zero:
        save_final(run_dir, s.lit.model, identity)
    scored = score_blimp(cfg, s.lit.model, s.dm.tokenizer) if s.trainer.is_global_zero else None
    fields = _fields(cfg, s, test_loss, scored)
    fields.update(wall_s=time.time() - t_start, error=test_error,
                  setup_s=round(s.history.first_step_at - (t_job or t_start), 3) if s.history.first_step_at else None)
    return fields, s.trainer.is_global_zero


def _fields(cfg: TrainConfig, s: _Setup, test_loss: float | None, scored: Blimp | None) -> dict[str, Any]:
    """The record's measured fields of a trained run (wall time, setup time and the test error: the caller's)."""
    t, rows, model, info, history = cfg.trainer, s.history.rows, s.lit.model, s.dm.info, s.history
    early_row = next((r for r in rows if r["step"] == s.early and not r["val_partial"]), None)  # whole split only
    final_val = rows[-1]["val_loss"]
    if not math.isfinite(final_val):
        raise DivergedError(f"non-finite validation loss ({final_val}) at step {rows[-1]['step']}")
    train_tokens = t.max_steps * history.tokens_per_step
    flops, counts = model.flops_per_token(), model.param_counts()
    return dict(
        data_seed=cfg.data_seed, gated=get_variant(cfg.ffn).gated, d_model=model.cfg.d_model, d_ff=model.cfg.d_ff,
        n_layers=model.cfg.n_layers, params=Params(**{k: v for k, v in counts.items() if k != "ffn_active"}),
        params_ffn_active=counts["ffn_active"], flops_per_token=flops["train"],
        flops_per_token_forward=flops["forward"], steps=t.max_steps, tokens=train_tokens,
        train_epochs=s.dm.train_epochs() * s.world,
        early=Horizon(step=s.early, val_loss=early_row["val_loss"] if early_row else None),
        final=Final(step=rows[-1]["step"], val_loss=final_val, val_ppl=math.exp(final_val),
                    val_bpb=bits_per_byte(final_val, info.bytes_per_token["val"]), test_loss=test_loss,
                    test_bpb=bits_per_byte(test_loss, info.bytes_per_token["test"]) if test_loss else None),
        history=[Evaluation(**r) for r in rows],
        tokens_per_s=train_tokens / history.train_s if history.train_s else None, train_s=history.train_s,
        threads=torch.get_num_threads(), eval_s=round(history.eval_s, 3),
        resumed_from_step=s.dm.start_step or None,
        peak_rss_mb=_peak_rss_mb(),  # this run's peak resident memory (the whole process, data included)
        peak_gpu_mb=torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
        data=info, diagnostics=Diagnostics(**s.diag.block()) if s.diag else None, blimp=scored,
    )


FINAL_CKPT = "final.ckpt"


def save_final(run_dir: Path, model, identity: str) -> Path:
    """The trained weights and the model's config at the run's end (`checkpoints/final.ckpt`, never committed):
    what `ffnlab-eval` scores later."""
    path = run_dir / "checkpoints" / FINAL_CKPT
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "model_config": model.cfg.to_dict(), "config_hash": identity}, tmp)
    return path


def score_blimp(cfg: TrainConfig, model, tokenizer) -> Blimp:
    """The record's blimp block: scored (ffnlab.data.blimp), or why not."""
    if not config.blimp_on(cfg):
        return Blimp(status="not scored", reason="blimp.enabled is off for this run (or null, and the corpus or "
                                                 "the context length rules it out)")
    try:
        block = blimp.evaluate(model, tokenizer, asdict(cfg.blimp), cfg.data.corpora_dir)
    except Exception as e:  # a trained run never fails at its end for BLiMP: the record says why it was skipped
        log.exception("BLiMP scoring failed")
        block = {"status": "skipped", "reason": f"scoring failed ({type(e).__name__}: {e})"}
    if block["status"] == "scored":
        log.info("BLiMP: %.4f over %d paradigms (%d pairs, %.0f s)", block["overall"], len(block["by_paradigm"]),
                 block["n_pairs"], block["seconds"])
    else:
        log.warning("BLiMP skipped: %s", block["reason"])
    return Blimp(**block)
