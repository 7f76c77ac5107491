"""Lightning callbacks for the run record: evaluation history and timing, and resumable atomic checkpoints."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ffnlab.io import atomic_path


class History(L.Callback):
    """Collects (step, tokens, train_loss, val_loss) at every evaluation, and training-only wall time.

    Its state goes into checkpoints, so a resumed run keeps the history of the part it already did.
    """

    def __init__(self, tokens_per_step: int):
        self.tokens_per_step = tokens_per_step
        self.rows: list[dict[str, Any]] = []
        self.train_s = 0.0  # time inside training steps (forward, backward, optimizer), summed
        self._t0: float | None = None
        self._train_losses: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self._t0 is not None:
            self.train_s += time.perf_counter() - self._t0
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self._train_losses.append(float(loss))

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking or "val/loss" not in trainer.callback_metrics:
            return
        step = trainer.global_step
        if self.rows and self.rows[-1]["step"] == step:
            return
        train = sum(self._train_losses) / len(self._train_losses) if self._train_losses else None
        if train is not None and trainer.world_size > 1:  # under DDP: the mean over every process's batches
            train = float(trainer.strategy.reduce(torch.tensor(train, device=pl_module.device), reduce_op="mean"))
        self.rows.append(
            {
                "step": step,
                "tokens": step * self.tokens_per_step,
                "train_loss": train,  # mean training loss since the previous evaluation
                "val_loss": float(trainer.callback_metrics["val/loss"]),
                "val_partial": pl_module.val_is_partial(),  # True: first curve_val_batches batches only
                "train_s": round(self.train_s, 3),
            }
        )
        self._train_losses = []

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "train_s": self.train_s, "train_losses": self._train_losses}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = list(state["rows"])
        self.train_s = float(state["train_s"])
        self._train_losses = list(state["train_losses"])


class SaveLast(L.Callback):
    """Writes `<dir>/last.ckpt` after the evaluation at every `every` steps, stamped with the config hash.

    The stamp lets a restarted run load only a checkpoint it wrote itself (same resolved config).
    """

    def __init__(self, dirpath: Path, every: int, config_hash: str):
        self.path = Path(dirpath) / "last.ckpt"
        self.every = every
        self.config_hash = config_hash

    def on_validation_end(self, trainer, pl_module):
        step = trainer.global_step
        if not trainer.sanity_checking and step % self.every == 0 and 0 < step < trainer.max_steps:
            trainer.save_checkpoint(self.path, weights_only=False)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint["ffnlab"] = {"config_hash": self.config_hash}


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves through ffnlab.io.atomic_path: a crash mid-save never leaves a truncated checkpoint."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)
