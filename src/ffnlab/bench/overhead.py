"""Lightning overhead: ffnlab-train's own Trainer against a bare PyTorch loop, same model, batches and optimizer.

Both start from a fresh LitLM (same seed) and the same LMDataModule; both clip gradients to norm 1 and step the
same AdamW + warmup/cosine schedule. Only the loop differs. Validation is off inside the timed window.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import lightning as L
import torch

from ffnlab.data.datamodule import LMDataModule
from ffnlab.runs import build, config
from ffnlab.runs.callbacks import History
from ffnlab.runs.lit import LitLM, build_optimizer


class _Stamps(L.Callback):
    def __init__(self):
        self.t: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.t.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module):
        self.t.append(time.perf_counter())


def train_config(overrides: list[str]) -> config.TrainConfig:
    """ffnlab-train's config, composed and checked exactly as the CLI would, typed as a job builds from it."""
    return config.settings(config.compose(overrides))


def _fresh(cfg: config.TrainConfig, dm: LMDataModule) -> LitLM:
    return build.module(cfg, dm.info.vocab_size)


def lightning_s_per_step(cfg: config.TrainConfig, dm: LMDataModule, warmup: int) -> float:
    """ffnlab-train's own assembly (build.build), evaluation switched off so that only steps are timed."""
    stamps = _Stamps()
    history = History(tokens_per_step=cfg.data.batch_size * cfg.model.seq_len)
    with tempfile.TemporaryDirectory() as tmp:
        parts = build.build(cfg, Path(tmp), [history, stamps], dm=dm, limit_val_batches=0, enable_progress_bar=False)
        parts.trainer.fit(parts.module, datamodule=dm)
    return (stamps.t[-1] - stamps.t[warmup]) / (len(stamps.t) - 1 - warmup)


def bare_s_per_step(cfg: config.TrainConfig, dm: LMDataModule, warmup: int) -> float:
    lit = _fresh(cfg, dm)
    model = lit.model.train()
    opt, sched = build_optimizer(model.parameters(), asdict(cfg.optim), cfg.trainer.max_steps)
    params = [p for p in model.parameters()]
    torch.use_deterministic_algorithms(True)  # as the Trainer's deterministic=True
    stamps = []
    for batch in dm.train_dataloader():
        stamps.append(time.perf_counter())
        _, loss = model(batch[:, :-1], batch[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.trainer.gradient_clip_val)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        float(loss.detach())  # the Trainer's History reads the loss every step, so the bare loop syncs too
    stamps.append(time.perf_counter())
    return (stamps[-1] - stamps[warmup]) / (len(stamps) - 1 - warmup)


def lightning_vs_bare(overrides: list[str], rounds: int, warmup: int, progress=print) -> list[dict]:
    """Alternating Lightning and bare runs (the order flips each round); seconds per step of each."""
    cfg = train_config(overrides)
    dm = build.datamodule(cfg)
    dm.load()
    rows = []
    for r in range(rounds):
        order = [("lightning", lightning_s_per_step), ("bare", bare_s_per_step)]
        for loop, fn in order if r % 2 == 0 else order[::-1]:
            rows.append({"loop": loop, "round": r, "s_per_step": fn(cfg, dm, warmup)})
        progress(f"overhead round {r + 1}/{rounds}: " + ", ".join(f"{x['loop']} {x['s_per_step']:.4f}s"
                                                                  for x in rows[-2:]))
    return rows
