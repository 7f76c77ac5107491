"""The Hydra app `ffnlab-train`: skip finished runs, resume interrupted ones, capture failures, write the record."""

from __future__ import annotations

import json
import logging
import math
import resource
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ffnlab import RESULTS_REVISION
from ffnlab.corpora import CorpusError
from ffnlab.ffn import VARIANTS, UnknownVariantError, get_variant
from ffnlab.model import ConfigError
from ffnlab.record import config_hash, find_finished, git_sha, read_record, same_experiment, versions, write_record

log = logging.getLogger("ffnlab")
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
OUTCOME_NAME = "outcome.json"  # what the latest invocation did with this run dir (ran / skipped / ...)
USER_ERRORS = (ConfigError, UnknownVariantError, CorpusError, ValueError)

OmegaConf.register_new_resolver("ffnlab_uid", lambda: uuid.uuid4().hex[:8], use_cache=True, replace=True)
OmegaConf.register_new_resolver("ffnlab_subdir", lambda s: s or "default", replace=True)
OmegaConf.register_new_resolver("ffnlab_variants", lambda: ", ".join(VARIANTS), replace=True)


def _eval_schedule(max_steps: int, eval_every: int | None) -> tuple[int, int]:
    """(early step, eval interval). Early is 1/8 of the budget, mirroring the paper's 65,536 of 524,288."""
    early = max(1, max_steps // 8)
    every = eval_every or early
    if early % every:
        raise ConfigError(
            f"trainer.eval_every={every} does not divide the early step {early} (max_steps/8); "
            f"pick a divisor of {early} or leave it null"
        )
    return early, every


def _ckpt_every(ckpt_every: int | None, every: int) -> int:
    """Checkpoints are written right after an evaluation, so their interval is a multiple of eval_every."""
    if ckpt_every and ckpt_every % every:
        raise ConfigError(f"trainer.ckpt_every={ckpt_every} must be a multiple of the eval interval {every}")
    return ckpt_every or every


def _model_dict(cfg: DictConfig, vocab_size: int) -> dict[str, Any]:
    return {**OmegaConf.to_container(cfg.model, resolve=True), "ffn": cfg.ffn, "vocab_size": vocab_size}


def _write_outcome(run_dir: Path, outcome: str, detail: str = "") -> None:
    (run_dir / OUTCOME_NAME).write_text(json.dumps({"outcome": outcome, "at": time.time(), "detail": detail}))


def _resume_point(ckpt_dir: Path, chash: str) -> tuple[Path | None, int]:
    """(checkpoint, its step) if the run's own last checkpoint exists for this exact config, else (None, 0)."""
    import torch

    path = ckpt_dir / "last.ckpt"
    if not path.is_file():
        return None, 0
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unreadable: start over, but keep the file for inspection
        log.warning("ignoring unreadable checkpoint %s (%s); starting from scratch", path, e)
        path.rename(path.with_suffix(".ckpt.unreadable"))
        return None, 0
    stamp = ckpt.get("ffnlab", {})
    if stamp.get("config_hash") != chash:
        log.warning("checkpoint %s belongs to another config (%s); starting from scratch", path, stamp)
        return None, 0
    return path, int(ckpt["global_step"])


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


def build_trainer(t: DictConfig, run_dir: Path, every: int, callbacks: list, logger_version: str = "from_step_0",
                  **overrides: Any):
    """The Lightning Trainer of every ffnlab run (the benchmark times this same one against a bare loop)."""
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger

    from ffnlab.callbacks import AtomicCheckpointIO

    kwargs = dict(
        accelerator=t.accelerator, devices=t.devices, strategy=t.strategy, precision=t.precision,
        max_steps=t.max_steps, max_epochs=-1, val_check_interval=every, check_val_every_n_epoch=None,
        num_sanity_val_steps=0, use_distributed_sampler=False,  # the data module shards itself (ffnlab.data)
        gradient_clip_val=t.gradient_clip_val, log_every_n_steps=t.log_every_n_steps,
        enable_progress_bar=t.progress_bar, enable_model_summary=False, enable_checkpointing=False,
        logger=CSVLogger(str(run_dir), name="logs", version=logger_version), deterministic=True,
        callbacks=callbacks, plugins=[AtomicCheckpointIO()], default_root_dir=str(run_dir),
    )
    return L.Trainer(**{**kwargs, **overrides})


def train(cfg: DictConfig, run_dir: Path, chash: str) -> dict[str, Any]:
    """Train one model and return the run record (raises on failure; the caller records it)."""
    import torch

    from ffnlab.callbacks import History, SaveLast
    from ffnlab.data import LMDataModule, bits_per_byte
    from ffnlab.lit import DivergedError, LitLM
    from ffnlab.model import ModelConfig

    t_start = time.time()
    _reset_peak_rss()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t = cfg.trainer
    if t.threads:
        torch.set_num_threads(int(t.threads))
    early, every = _eval_schedule(t.max_steps, t.eval_every)
    ModelConfig(**_model_dict(cfg, vocab_size=1))  # validate the model settings before touching data
    hc = HydraConfig.get()
    in_sweep = hc.mode == RunMode.MULTIRUN and "submitit" not in str(hc.launcher.get("_target_", ""))
    if t.strategy not in ("auto", None) and in_sweep:  # on SLURM, srun starts one task per device instead
        raise ConfigError(f"trainer.strategy={t.strategy} starts its own processes and cannot run inside a -m sweep "
                          "here; run it as a single run, or sweep on SLURM (launcher=slurm) with one task per device")

    d = cfg.data
    dm = LMDataModule(
        corpus=d.corpus, corpora_dir=d.corpora_dir, path=d.path, vocab_size=d.vocab_size,
        seq_len=cfg.model.seq_len, batch_size=d.batch_size, eval_batch_size=d.eval_batch_size,
        max_steps=t.max_steps, data_seed=cfg.data_seed, cache_dir=d.cache_dir,
        hub=OmegaConf.to_container(d.hub, resolve=True) if d.get("hub") else None,
    )
    info = dm.load()
    lit = LitLM(_model_dict(cfg, info.vocab_size), seed=cfg.seed,
                optim=OmegaConf.to_container(cfg.optim, resolve=True), max_steps=t.max_steps,
                full_eval_steps=(early, t.max_steps), curve_val_batches=t.curve_val_batches,
                perf=OmegaConf.to_container(cfg.perf, resolve=True) if "perf" in cfg else None)

    world = int(t.devices) if t.strategy not in ("auto", None) else 1
    history = History(tokens_per_step=d.batch_size * cfg.model.seq_len * world)
    ckpt_dir = run_dir / "checkpoints"
    resume, start_step = _resume_point(ckpt_dir, chash)
    dm.start_step = start_step
    callbacks = [history, SaveLast(ckpt_dir, _ckpt_every(t.ckpt_every, every), chash)]
    trainer = build_trainer(t, run_dir, every, callbacks, logger_version=f"from_step_{start_step}")
    if resume:
        log.info("resuming %s from %s (step %d)", run_dir, resume, start_step)
    trainer.fit(lit, datamodule=dm, ckpt_path=str(resume) if resume else None, weights_only=True)
    if not history.rows or history.rows[-1]["step"] != t.max_steps:
        trainer.validate(lit, datamodule=dm, verbose=False)
    test_loss = None
    if info.test_tokens is not None:
        test_loss = float(trainer.test(lit, datamodule=dm, verbose=False)[0]["test/loss"])

    model = lit.model
    rows = history.rows
    early_row = next((r for r in rows if r["step"] == early), None)
    final_val = rows[-1]["val_loss"]
    if not math.isfinite(final_val):
        raise DivergedError(f"non-finite validation loss ({final_val}) at step {rows[-1]['step']}")
    train_tokens = t.max_steps * history.tokens_per_step
    return {
        "status": "ok",
        "ffn": cfg.ffn,
        "seed": cfg.seed,
        "data_seed": cfg.data_seed,
        "gated": get_variant(cfg.ffn).gated,
        "d_model": model.cfg.d_model,
        "d_ff": model.cfg.d_ff,
        "n_layers": model.cfg.n_layers,
        "params": model.param_counts(),
        "flops_per_token": model.flops_per_token()["train"],
        "flops_per_token_forward": model.flops_per_token()["forward"],
        "steps": t.max_steps,
        "tokens": train_tokens,
        "train_epochs": dm.train_epochs() * world,
        "early": {"step": early, "val_loss": early_row["val_loss"] if early_row else None},
        "final": {
            "step": rows[-1]["step"],
            "val_loss": final_val,
            "val_ppl": float(torch.tensor(final_val).exp()),
            "val_bpb": bits_per_byte(final_val, info.bytes_per_token["val"]),
            "test_loss": test_loss,
            "test_bpb": bits_per_byte(test_loss, info.bytes_per_token["test"]) if test_loss else None,
        },
        "history": rows,
        "tokens_per_s": train_tokens / history.train_s if history.train_s else None,
        "train_s": history.train_s,
        "wall_s": time.time() - t_start,
        "resumed_from_step": dm.start_step or None,
        "peak_rss_mb": _peak_rss_mb(),  # this run's peak resident memory (the whole process, data included)
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
        "data": vars(info),
        "is_global_zero": trainer.is_global_zero,
    }


def run(cfg: DictConfig) -> float:
    """One Hydra job; returns its final validation loss (inf when it has none), for sweepers that optimise.

    Its outcome (ok, skipped, failed, diverged, refused) goes to outcome.json for the sweep's tally.
    """
    from ffnlab.lit import DivergedError

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    chash = config_hash(resolved)
    existing = read_record(run_dir)
    if existing is not None and existing.get("status") == "ok":
        added = same_experiment(existing.get("config", {}), resolved)
        same_code = existing.get("results_revision") == RESULTS_REVISION
        if same_code and (existing.get("config_hash") == chash or added is not None):
            note = f" (its config lacks only keys added since: {', '.join(added)})" if added else ""
            log.info("skip %s: finished with the same config%s", run_dir, note)
            _write_outcome(run_dir, "skipped", note)
            return existing["final"]["val_loss"]
        what = "config" if same_code else f"ffnlab results revision ({existing.get('results_revision')})"
        msg = (f"{run_dir} already holds a finished run of another {what}; not overwriting it: "
               "use a new sweep_name or hydra.sweep.dir")
        log.error(msg)
        _write_outcome(run_dir, "refused", msg)
        return math.inf

    if hc.mode == RunMode.MULTIRUN and cfg.get("reuse_runs", False):
        donor = find_finished(Path(hc.sweep.dir).parent, resolved, RESULTS_REVISION, exclude=run_dir)
        if donor is not None:  # the same experiment finished in another sweep: copy its record, don't retrain
            record = {**read_record(donor), "config": resolved, "config_hash": chash, "run_dir": str(run_dir),
                      "reused_from": str(donor)}
            write_record(run_dir, record)
            _write_outcome(run_dir, "reused", str(donor))
            log.info("reuse %s: the same experiment finished in %s", run_dir, donor)
            return record["final"]["val_loss"]

    base = {"ffn": cfg.ffn, "seed": cfg.seed, "config": resolved, "config_hash": chash,
            "results_revision": RESULTS_REVISION,
            "git_sha": git_sha(), "versions": versions(), "run_dir": str(run_dir), "error": None}
    t0 = time.time()
    try:
        record = {**base, **train(cfg, run_dir, chash)}
    except DivergedError as e:
        record = {**base, "status": "diverged", "error": str(e), "wall_s": time.time() - t0}
    except Exception as e:  # recorded, not fatal: the sweep goes on
        record = {**base, "status": "failed", "error": f"{type(e).__name__}: {e}", "wall_s": time.time() - t0,
                  "traceback": traceback.format_exc()}
        if hc.mode != RunMode.MULTIRUN and isinstance(e, USER_ERRORS):
            write_record(run_dir, record)
            print(f"ffnlab-train: error: {e}", file=sys.stderr)
            sys.exit(2)
        log.exception("run %s failed", run_dir)
    final = record.get("final", {}).get("val_loss")
    if not record.pop("is_global_zero", True):
        return final  # DDP: only rank 0 writes
    write_record(run_dir, record)
    _write_outcome(run_dir, record["status"], record.get("error") or "")
    log.info("%s %s seed=%s: %s%s", record["status"], cfg.ffn, cfg.seed, run_dir,
             f" val_loss={final:.4f}" if final is not None else f" ({record['error']})")
    return final if final is not None else math.inf


@hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> float:
    return run(cfg)


def _precheck(argv: list[str]) -> None:
    """Fail before any work on an unknown variant name in `ffn=...` (single value or a sweep list)."""
    for arg in argv:
        if arg.startswith(("ffn=", "+ffn=")):
            value = arg.split("=", 1)[1]
            if value.startswith(("choice(", "range(", "glob(")):
                continue
            for name in value.split(","):
                try:
                    get_variant(name.strip())
                except UnknownVariantError as e:
                    print(f"ffnlab-train: error: {e}", file=sys.stderr)
                    sys.exit(2)


def cli() -> None:
    _precheck(sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    cli()
