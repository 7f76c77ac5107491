"""The compute plan of experiment=scaling, from measured throughput: what the ladder costs before it starts.

    python experiments/scaling/plan.py --out results/scaling/plan [--steps 12]

For each size of the ladder (conf/scale/) and each variant it runs, it times `--steps` training steps of the
real model (AdamW, batch 16 × 128 tokens, the step ffnlab-train takes) in one thread, as the study runs them
(two 1-thread runs side by side on 2 cores: run it on an otherwise idle machine), after 3 untimed warm-up steps.
With the study's budgets and WSD branches (the 16M-token run plus the three cool-downs) it writes plan.md and
plan.csv: tokens, FLOPs and CPU-hours per size and in total, and the LR sweep's. Evaluations are not timed
(about a quarter of a study run's wall time at the shazeer configuration; the plan says so).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from ffnlab.model.transformer import ModelConfig, Transformer
from ffnlab.runs.config import compose
from ffnlab.runs.lit import build_optimizer
from ffnlab.runs.schedules import cooldown_start

SIZES = {"xs": ["relu", "gelu", "swish", "glu", "bilinear", "reglu", "geglu", "swiglu", "mishglu"],
         "s": ["relu", "gelu", "swish", "glu", "reglu", "geglu", "swiglu"],
         "m": ["relu", "gelu", "swish", "glu", "reglu", "geglu", "swiglu"]}


def steps_per_ladder(budgets: list[int], frac: float) -> int:
    """Steps one (size, variant, seed) trains: the longest budget, plus each shorter one's cool-down branch."""
    longest = max(budgets)
    return longest + sum(b - cooldown_start(b, frac) for b in budgets if b < longest)


def time_step(cfg, ffn: str, steps: int) -> float:
    m = dict(cfg.model)
    model = Transformer(ModelConfig(ffn=ffn, vocab_size=cfg.data.vocab_size, **m), seed=0)
    opt, sched = build_optimizer(model.parameters(), dict(cfg.optim), 1000)
    x = torch.randint(0, cfg.data.vocab_size, (cfg.data.batch_size, m["seq_len"] + 1))
    times = []
    for i in range(3 + steps):
        t0 = time.perf_counter()
        _, loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sched.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=12)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    base = compose(["experiment=scaling"])
    budgets, frac = list(base.trainer.branch_budgets), float(base.optim.cooldown_frac)
    lr_cfg = compose(["experiment=scaling_lr"])
    lr_steps, lr_runs = int(lr_cfg.trainer.max_steps), 2 * 3  # relu, swiglu × 3 learning rates, per size
    ladder = steps_per_ladder(budgets, frac)
    rows = []
    for size, variants in SIZES.items():
        cfg = compose(["experiment=scaling", f"scale={size}"])
        tokens_per_step = cfg.data.batch_size * cfg.model.seq_len
        for ffn in variants:
            s = time_step(cfg, ffn, args.steps)
            model = Transformer(ModelConfig(ffn=ffn, vocab_size=cfg.data.vocab_size, **dict(cfg.model)), seed=0)
            rows.append({"size": size, "d_model": cfg.model.d_model, "n_layers": cfg.model.n_layers, "ffn": ffn,
                         "non_embedding": model.param_counts()["non_embedding"], "s_per_step": s,
                         "tokens_per_s": tokens_per_step / s, "flops_per_token": model.flops_per_token()["train"],
                         "seeds": 2, "ladder_steps": ladder, "cpu_h": 2 * ladder * s / 3600,
                         "lr_sweep_cpu_h": (lr_runs * lr_steps * s / 3600 / 2) if ffn in ("relu", "swiglu") else 0.0})
            print(f"{size} {ffn}: {tokens_per_step / s:,.0f} tokens/s", flush=True)
    df = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    df.round(6).to_csv(args.out / "plan.csv", index=False)
    per = df.groupby("size", sort=False).agg(d_model=("d_model", "first"), n_layers=("n_layers", "first"),
                                             non_embedding=("non_embedding", "max"), variants=("ffn", "count"),
                                             tokens_per_s=("tokens_per_s", "median"), cpu_h=("cpu_h", "sum"),
                                             lr_sweep_cpu_h=("lr_sweep_cpu_h", "sum"))
    lines = ["# Compute plan of experiment=scaling", "",
             f"Command: `python experiments/scaling/plan.py {' '.join(map(shlex.quote, argv))}`", "",
             f"Budgets {', '.join(f'{b:,}' for b in budgets)} steps of {tokens_per_step:,} tokens; the "
             f"longest run plus the cool-down branches (last {frac:.0%} of each shorter budget) = {ladder:,} steps "
             f"({ladder * tokens_per_step / 1e6:.1f}M tokens) per size, variant and seed; 2 seeds.", "",
             "| size | d_model | layers | non-emb params | variants | training tokens/s (1 thread, median) | "
             "ladder CPU-h | LR sweep CPU-h |", "|---|---|---|---|---|---|---|---|"]
    for size, r in per.iterrows():
        lines.append(f"| {size} | {int(r['d_model'])} | {int(r['n_layers'])} | {int(r['non_embedding']):,} | "
                     f"{int(r['variants'])} | "
                     f"{r['tokens_per_s']:,.0f} | {r['cpu_h']:.1f} | {r['lr_sweep_cpu_h']:.1f} |")
    total, lr_total = per["cpu_h"].sum(), per["lr_sweep_cpu_h"].sum()
    lines += ["", f"**Total: {total:.1f} CPU-hours for the ladder and {lr_total:.1f} for the LR sweep** "
              f"({(total + lr_total) / 2:.1f} hours of wall time with two 1-thread runs side by side on 2 cores), "
              "training steps only: evaluations, start-up and data add about a quarter at the shazeer "
              "configuration. Step times: the median of the timed steps of each variant on this machine, one "
              "thread, nothing else running.", ""]
    (args.out / "plan.md").write_text("\n".join(lines))
    print(f"wrote {args.out}/plan.md and plan.csv")


if __name__ == "__main__":
    main(sys.argv[1:])
