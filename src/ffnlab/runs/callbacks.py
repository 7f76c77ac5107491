"""Lightning callbacks for the run record: evaluation history and timing, activation diagnostics, and resumable
atomic checkpoints."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ffnlab.io import atomic_path
from ffnlab.model.diagnostics import (
    SAT,
    SMALL,
    VERSION,
    fixed_tokens,
    grad_norms,
    matrices,
    measure,
    routing,
    update_ratios,
)
from ffnlab.runs import branch


class History(L.Callback):
    """Collects (step, tokens, train_loss, val_loss) at every evaluation, and training-only wall time.

    Its state goes into checkpoints, so a resumed run keeps the history of the part it already did.
    """

    def __init__(self, tokens_per_step: int):
        self.tokens_per_step = tokens_per_step
        self.rows: list[dict[str, Any]] = []
        self.train_s = 0.0  # time inside training steps (forward, backward, optimizer), summed
        self.eval_s = 0.0  # time inside validation and test loops, summed
        self.first_step_at: float | None = None
        self._e0 = 0.0
        self._t0: float | None = None
        self._train_losses: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._t0 = time.perf_counter()
        if self.first_step_at is None:
            self.first_step_at = time.time()  # this invocation's first step (not checkpointed)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self._t0 is not None:
            self.train_s += time.perf_counter() - self._t0
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self._train_losses.append(float(loss))

    def on_validation_start(self, trainer, pl_module):
        self._e0 = time.perf_counter()

    def on_test_start(self, trainer, pl_module):
        self._e0 = time.perf_counter()

    def on_test_end(self, trainer, pl_module):
        self.eval_s += time.perf_counter() - self._e0

    def on_validation_end(self, trainer, pl_module):
        self.eval_s += time.perf_counter() - self._e0
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
        return {"rows": self.rows, "train_s": self.train_s, "eval_s": self.eval_s, "train_losses": self._train_losses}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = list(state["rows"])
        self.train_s = float(state["train_s"])
        self.eval_s = float(state.get("eval_s", 0.0))
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
        checkpoint.setdefault("ffnlab", {})["config_hash"] = self.config_hash


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves through ffnlab.io.atomic_path: a crash mid-save never leaves a truncated checkpoint."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)


class MeasureDiagnostics(L.Callback):
    """Activation diagnostics (ffnlab.model.diagnostics) at every evaluation, on fixed validation tokens, and the
    gradient norm and update ratio of each weight matrix at the optimizer step before it.

    Outside the training step's hot path: the weights are copied only before the one step that precedes an
    evaluation, and the measurement runs after the evaluation under no_grad. `seconds` is its measured cost.
    Its state goes into checkpoints, like History's.
    """

    def __init__(self, every: int, n_tokens: int):
        self.every, self.n_tokens = every, n_tokens
        self.points: list[dict[str, Any]] = []
        self.seconds = 0.0
        self.tokens_measured = 0
        self._idx: torch.Tensor | None = None
        self._before: dict[str, torch.Tensor] | None = None
        self._weights: dict[str, Any] | None = None  # the last step's gradient norms and update ratios
        self._top1: list[torch.Tensor] | None = None  # a routed FFN's top-1 experts at the previous evaluation

    def _precedes_eval(self, trainer) -> bool:
        step = trainer.global_step + 1  # the step about to be taken
        return step % self.every == 0 or step == trainer.max_steps

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if self._precedes_eval(trainer):
            t0 = time.perf_counter()
            self._weights = {"step": trainer.global_step + 1, "grad_norm": grad_norms(pl_module.model)}
            self._before = {n: p.detach().clone() for n, p in matrices(pl_module.model).items()}
            self.seconds += time.perf_counter() - t0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self._before is not None:
            t0 = time.perf_counter()
            self._weights["update_ratio"] = update_ratios(pl_module.model, self._before)
            self._before = None
            self.seconds += time.perf_counter() - t0

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        step = trainer.global_step
        if self.points and self.points[-1]["step"] == step:
            return
        t0 = time.perf_counter()
        if self._idx is None:
            self._idx = fixed_tokens(trainer.datamodule.tokens["val"], self.n_tokens, pl_module.model.cfg.seq_len)
            self.tokens_measured = self._idx.numel()
        point: dict[str, Any] = {"step": step, "layers": measure(pl_module.model, self._idx.to(pl_module.device))}
        routed = routing(pl_module.model)
        if routed is not None:  # expert load and router entropy per layer; the share of top-1 choices that moved
            top1 = routed.pop("top1")
            routed["top1_changed"] = ([float((a != b).float().mean()) for a, b in zip(top1, self._top1, strict=True)]
                                      if self._top1 is not None else None)
            self._top1 = top1
            point["moe"] = routed
        w = self._weights
        if w is not None and w["step"] == step and "update_ratio" in w:
            point["weights"] = {"grad_norm": w["grad_norm"], "update_ratio": w["update_ratio"]}
        self.points.append(point)
        self.seconds += time.perf_counter() - t0

    def block(self) -> dict[str, Any]:
        """The record's diagnostics block (ffnlab.runs.record.Diagnostics fields)."""
        return {"version": VERSION, "tokens": self.tokens_measured, "small": SMALL, "saturation": SAT,
                "seconds": round(self.seconds, 3), "points": self.points}

    def state_dict(self) -> dict[str, Any]:
        return {"points": self.points, "seconds": self.seconds, "tokens_measured": self.tokens_measured}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.points = list(state["points"])
        self.seconds = float(state["seconds"])
        self.tokens_measured = int(state["tokens_measured"])


class KeepStable(L.Callback):
    """Saves the stable-phase checkpoints shorter budgets branch from, stamped with the prefix hash. At a step
    that evaluates (every `every` steps) it saves after the evaluation, as SaveLast does, so the branch carries
    that evaluation's history."""

    def __init__(self, dirpath: Path, steps: set[int], prefix: str, every: int):
        self.dir, self.steps, self.prefix, self.every = Path(dirpath), set(steps), prefix, every

    def _save(self, trainer) -> None:
        step = trainer.global_step
        if step in self.steps and not (self.dir / branch.ckpt_name(step, self.prefix)).is_file():
            trainer.save_checkpoint(self.dir / branch.ckpt_name(step, self.prefix), weights_only=False)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step % self.every:
            self._save(trainer)

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking and trainer.global_step % self.every == 0:
            self._save(trainer)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint.setdefault("ffnlab", {})["prefix_hash"] = self.prefix
