"""The thin LightningModule: one shared step for train/val/test, AdamW with warmup + cosine, slash-named metrics."""

from __future__ import annotations

import lightning as L
import torch

from ffnlab.errors import ConfigError, DivergedError
from ffnlab.model.transformer import ModelConfig, Transformer
from ffnlab.runs.schedules import inverse_sqrt, warmup_cosine, wsd


def build_optimizer(params, o: dict, max_steps: int):
    """AdamW + warmup/cosine (`name: adamw`, the default), AdamW + warmup-stable-decay (`schedule: wsd`), or
    Adafactor + inverse-sqrt (`name: adafactor`)."""
    params = list(params)
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]  # norm gains, learned β
    groups = [{"params": decay, "weight_decay": o["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    name = o.get("name") or "adamw"  # null (the typed default): adamw
    if name == "adamw":
        opt = torch.optim.AdamW(groups, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"])
        schedule = o.get("schedule") or "cosine"
        if schedule == "wsd":  # warmup in steps, not a fraction: the stable phase must not depend on the budget
            fn = lambda s: wsd(s, o["warmup_steps"], max_steps, o["cooldown_frac"])
        elif schedule == "cosine":
            warmup = max(1, round(o["warmup_frac"] * max_steps))
            fn = lambda s: warmup_cosine(s, warmup, max_steps, o["min_lr_ratio"])
        else:
            raise ConfigError(f"unknown optim.schedule {schedule!r}; use cosine or wsd")
    elif name == "adafactor":
        # torch's Adafactor loops over tensors unless told otherwise; on an H100 that loop was the largest item
        # of a base-size step, and the multi-tensor path (the same update in fewer kernels) gave +6.5% tokens/s
        # (results/shazeer/gpu_timing). The CPU keeps the single-tensor loop: CPU results stay bitwise the same.
        opt = torch.optim.Adafactor(groups, lr=o["lr"], foreach=all(p.is_cuda for p in params))
        fn = lambda s: inverse_sqrt(s, o["warmup_steps"], max_steps, o["decay_frac"])
    else:
        raise ConfigError(f"unknown optimizer {name!r}; use optim=adamw or optim=shazeer (adafactor)")
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, fn)


class LitLM(L.LightningModule):
    def __init__(
        self, model: dict, seed: int, optim: dict, max_steps: int,
        full_eval_steps: tuple[int, ...] = (), curve_val_batches: int | None = None, perf: dict | None = None,
    ):
        """`curve_val_batches`: intermediate evaluations (for curves) read only the first N validation
        batches; the steps in `full_eval_steps` (early, final) always read the whole split.
        `perf`: {"ffn_impl": naive|fused|recompute, "compile": bool}, speed options that leave the science alone."""
        super().__init__()
        self.save_hyperparameters()
        perf = perf or {}
        self.model = Transformer(ModelConfig(**model), seed=seed, ffn_impl=perf.get("ffn_impl", "naive"))
        if perf.get("compile"):
            torch._dynamo.reset()  # a sweep trains many variants in one process: start each from a clean cache
            self.model.compile()  # in place: parameter names, init and checkpoints are unchanged
        self._sums: dict[str, torch.Tensor] = {}

    def shared_step(self, batch: torch.Tensor, stage: str) -> torch.Tensor:
        x, y = batch[:, :-1], batch[:, 1:]  # (B, T) each
        _, loss_sum = self.model(x, y, reduction="sum")
        if stage == "train":
            loss = loss_sum / y.numel()
            if not torch.isfinite(loss):
                raise DivergedError(f"non-finite training loss ({loss.item()}) at step {self.global_step}")
            self.log("train/loss", loss, prog_bar=True)
            aux = self.model.aux_loss()  # a routed FFN's balance and z-losses: trained on, never evaluated
            if aux is not None:
                self.log("train/aux", aux)
                return loss + aux
            return loss
        sums = self._sums.setdefault(stage, torch.zeros(2, dtype=torch.float64, device=loss_sum.device))
        sums[0] += loss_sum.detach().double()
        sums[1] += y.numel()
        return loss_sum

    def training_step(self, batch, batch_idx):
        return self.shared_step(batch, "train")

    def validation_step(self, batch, batch_idx):
        if self.val_is_partial() and batch_idx >= self.hparams.curve_val_batches:
            return
        self.shared_step(batch, "val")

    def val_is_partial(self) -> bool:
        limit = self.hparams.curve_val_batches
        return bool(limit) and self.global_step not in self.hparams.full_eval_steps

    def test_step(self, batch, batch_idx):
        self.shared_step(batch, "test")

    def _eval_end(self, stage: str) -> None:
        sums = self._sums.pop(stage)
        sums = self.trainer.strategy.reduce(sums, reduce_op="sum")  # exact over the whole split on every rank
        loss = (sums[0] / sums[1]).float()
        self.log(f"{stage}/loss", loss, sync_dist=False)
        self.log(f"{stage}/ppl", torch.exp(loss), sync_dist=False)

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    def configure_optimizers(self):
        opt, sched = build_optimizer(self.parameters(), self.hparams.optim, self.hparams.max_steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
