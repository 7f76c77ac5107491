"""Config → the parts of a run: data module, Lightning module and Trainer. ffnlab-train and ffnlab-bench both
build through here, so a benchmark times exactly what a study trains.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L

from ffnlab.data.datamodule import LMDataModule
from ffnlab.io import cache_dir, output_dir
from ffnlab.model.transformer import ModelConfig
from ffnlab.runs.callbacks import AtomicCheckpointIO
from ffnlab.runs.config import TrainConfig, TrainerSection
from ffnlab.runs.lit import LitLM
from ffnlab.runs.schedules import eval_schedule


def world_size(t: TrainerSection) -> int:
    """Processes that share one step's batch (several only under a multi-process strategy such as ddp)."""
    return int(t.devices) if t.strategy not in ("auto", None) else 1


def model_dict(cfg: TrainConfig, vocab_size: int) -> dict[str, Any]:
    """The ModelConfig fields of a run: the model section, the variant, and the tokenizer's vocabulary."""
    return {**asdict(cfg.model), "ffn": cfg.ffn, "vocab_size": vocab_size}


def validate_model(cfg: TrainConfig) -> None:
    """Fail on a model no tokenizer can rescue (a shape the transformer refuses) before any data is touched."""
    ModelConfig(**model_dict(cfg, vocab_size=1))


def datamodule(cfg: TrainConfig, source=None, max_steps: int | None = None) -> LMDataModule:
    d = cfg.data
    return LMDataModule(
        corpus=d.corpus, corpora_dir=d.corpora_dir, path=d.path, vocab_size=d.vocab_size,
        seq_len=cfg.model.seq_len, batch_size=d.batch_size, eval_batch_size=d.eval_batch_size,
        max_steps=max_steps or cfg.trainer.max_steps, data_seed=cfg.data_seed, cache_dir=d.cache_dir,
        hub=asdict(d.hub) if d.hub is not None else None, source=source, fetch_from=d.fetch_from,
        max_tokens=d.max_tokens, tokenizer_chars=d.tokenizer_chars, tokenizer=d.tokenizer,
    )


def module(cfg: TrainConfig, vocab_size: int, full_eval_steps: tuple[int, ...] = ()) -> LitLM:
    if cfg.perf.compile:  # compiled kernels persist across runs and processes in ffnlab's cache
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir(cfg.data.cache_dir) / "inductor"))
    return LitLM(model_dict(cfg, vocab_size), seed=cfg.seed, optim=asdict(cfg.optim),
                 max_steps=cfg.trainer.max_steps, full_eval_steps=full_eval_steps,
                 curve_val_batches=cfg.trainer.curve_val_batches, perf=asdict(cfg.perf))


def loggers(name: str, run_dir: Path, version: str, experiment: str = "ffnlab", output: Path | None = None) -> list:
    """Lightning loggers: always the CSV log, plus TensorBoard or MLflow (local file store) when asked."""
    from lightning.pytorch.loggers import CSVLogger

    out = [CSVLogger(str(run_dir), name="logs", version=version)]
    if name == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        out.append(TensorBoardLogger(str(run_dir), name="tb", version=version, default_hp_metric=False))
    elif name == "mlflow":
        from lightning.pytorch.loggers import MLFlowLogger

        store = Path(output or run_dir.parent).resolve() / "mlflow.db"  # MLflow's local store (SQLite, offline)
        out.append(MLFlowLogger(experiment_name=experiment, run_name=f"{run_dir.name}/{version}",
                                tracking_uri=f"sqlite:///{store}"))
    return out


def trainer(t: TrainerSection, run_dir: Path, every: int, callbacks: list, logger_version: str = "from_step_0",
            logger: Any = "csv", **overrides: Any) -> L.Trainer:
    """The Lightning Trainer of every ffnlab run (the benchmark times this same one against a bare loop).
    `logger`: a logger name (ffnlab.runs.config.LoggerSection) or a list of Lightning loggers."""

    kwargs = dict(
        accelerator=t.accelerator, devices=t.devices, strategy=t.strategy, precision=t.precision,
        max_steps=t.max_steps, max_epochs=-1, val_check_interval=every, check_val_every_n_epoch=None,
        num_sanity_val_steps=0, use_distributed_sampler=False,  # the data module shards itself (ffnlab.data.datamodule)
        gradient_clip_val=t.gradient_clip_val, log_every_n_steps=t.log_every_n_steps,
        enable_progress_bar=t.progress_bar, enable_model_summary=False, enable_checkpointing=False,
        logger=loggers(logger, run_dir, logger_version) if isinstance(logger, str) else logger, deterministic=True,
        callbacks=callbacks, plugins=[AtomicCheckpointIO()], default_root_dir=str(run_dir),
    )
    return L.Trainer(**{**kwargs, **overrides})


@dataclass
class Parts:
    datamodule: LMDataModule
    module: LitLM
    trainer: L.Trainer
    early: int  # the early-horizon step (1/8 of the budget)
    every: int  # the evaluation interval


def build(cfg: TrainConfig, run_dir: Path, callbacks: list | None = None, dm: LMDataModule | None = None,
          logger_version: str = "from_step_0", **trainer_overrides: Any) -> Parts:
    """Data module (loaded), Lightning module and Trainer for `cfg`, the config ffnlab.runs.config.settings checked
    and typed. Pass `dm` to reuse a loaded data module."""
    early, every = eval_schedule(cfg.trainer.max_steps, cfg.trainer.eval_every)
    validate_model(cfg)
    dm = dm or datamodule(cfg)
    info = dm.load()
    lit = module(cfg, info.vocab_size, full_eval_steps=(early, cfg.trainer.max_steps))
    logs = loggers(cfg.logger.name, run_dir, logger_version, str(cfg.sweep_name),
                   output_dir(cfg.paths.output))
    tr = trainer(cfg.trainer, run_dir, every, callbacks or [], logger_version=logger_version, logger=logs,
                 **trainer_overrides)
    return Parts(dm, lit, tr, early, every)
