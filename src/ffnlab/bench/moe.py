"""`ffnlab-bench --mode moe`: what routing costs on this machine, beside the dense FFN it replaces.

For each FFN variant asked (SwiGLU by default) at the scaling ladder's middle size (conf/scale/s.yaml with the
PG-books batch), the dense model and each routed preset of conf/moe/ (read from the presets themselves: matched
active, matched total, DeepSeek-style) train on the same fixed batch, interleaved in random order as the steps
benchmark does (ffnlab.bench.measure). Written to `<out>/moe.csv` and `moe.md`: seconds per step and tokens/s
(medians over rounds, with the interquartile range), their ratio to the dense model, the activation memory autograd
keeps for one step (exact, from saved-tensor hooks) and its ratio, and the FFN's total and active parameters and
active FLOPs per token from the model's own accounting. The routing overhead is the slowdown at matched active
FLOPs; the loss it buys is the `experiment=moe` study's.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
import yaml

from ffnlab.bench import measure
from ffnlab.bench.models import Built, Size
from ffnlab.io import REPO_ROOT
from ffnlab.model.transformer import ModelConfig, Transformer

PRESETS = ("top2_active", "top2_total", "deepseek")  # conf/moe/<name>.yaml
LADDER_S = Size("ladder_s", d_model=96, n_layers=3, n_heads=3, seq_len=128, batch_size=16)  # conf/scale/s.yaml


def preset(name: str, root: Path = REPO_ROOT) -> dict:
    """The model keys a conf/moe preset sets (the preset file is the one source of the arms)."""
    return dict(yaml.safe_load((root / "conf" / "moe" / f"{name}.yaml").read_text())["model"])


def build(size: Size, ffn: str, arm: str, seed: int = 0) -> tuple[Built, ModelConfig]:
    """The model of one arm: `dense`, or a conf/moe preset routing experts of `ffn`."""
    moe = {} if arm == "dense" else preset(arm)
    cfg = ModelConfig(vocab_size=size.vocab_size, seq_len=size.seq_len, d_model=size.d_model,
                      n_layers=size.n_layers, n_heads=size.n_heads, ffn=ffn, **moe)
    model = Transformer(cfg, seed=seed)
    return Built(f"{ffn}-{arm}", model, lambda x, y: model(x, y)[1], model.param_counts()["ffn"]), cfg


def run(size: Size, ffns: list[str], rounds: int, steps: int, warmup: int, log=print) -> pd.DataFrame:
    """One row per (variant, arm): timing, memory and counts, with ratios to the variant's dense model."""
    torch.manual_seed(0)
    batch = torch.randint(0, size.vocab_size, (size.batch_size, size.seq_len + 1),
                          generator=torch.Generator().manual_seed(0))
    built, timers = {}, {}
    for ffn in ffns:
        for arm in ("dense", *PRESETS):
            built[(ffn, arm)] = build(size, ffn, arm)
            timers[f"{ffn}|{arm}"] = measure.StepTimer(built[(ffn, arm)][0], batch)
    times = pd.DataFrame(list(measure.interleaved(timers, rounds, steps, warmup, progress=log)))
    rows = []
    for (ffn, arm), (b, cfg) in built.items():
        t = times.loc[times["key"] == f"{ffn}|{arm}", "s_per_step"]
        model: Transformer = b.module
        counts, flops = model.param_counts(), model.flops_per_token()
        rows.append({"size": size.name, "ffn": ffn, "arm": arm, "experts": cfg.moe_experts or 0,
                     "top_k": cfg.moe_top_k or (2 if cfg.moe_experts else 0), "shared": cfg.moe_shared or 0,
                     "match": cfg.moe_match or ("active" if cfg.moe_experts else ""), "d_ff": cfg.d_ff,
                     "params_ffn": counts["ffn"], "params_ffn_active": counts["ffn_active"],
                     "flops_per_token": flops["train"], "s_per_step": t.median(),
                     "s_per_step_iqr": t.quantile(0.75) - t.quantile(0.25),
                     "tokens_per_s": size.batch_size * size.seq_len / t.median(),
                     "activation_mb": measure.saved_activation_bytes(b, batch) / 2**20, "rounds": len(t)})
    out = pd.DataFrame(rows)
    dense = out[out["arm"] == "dense"].set_index("ffn")
    out["speed_vs_dense"] = out["tokens_per_s"] / out["ffn"].map(dense["tokens_per_s"])
    out["memory_vs_dense"] = out["activation_mb"] / out["ffn"].map(dense["activation_mb"])
    out["flops_vs_dense"] = out["flops_per_token"] / out["ffn"].map(dense["flops_per_token"])
    return out


def markdown(t: pd.DataFrame, machine: str) -> str:
    lines = ["# Routed FFNs against the dense FFN: speed and memory", "",
             f"Measured by `ffnlab-bench --mode moe --moe-variants {','.join(t['ffn'].unique())}` on {machine}: "
             f"{int(t['rounds'].max())} interleaved rounds, "
             "medians (IQR in moe.csv). Matched active: a token's FFN FLOPs equal the dense FFN's; matched total: "
             "all experts together hold the dense FFN's parameters.", "",
             "| FFN | arm | experts (top-k, shared) | match | FFN params (active) | FLOPs/token vs dense | tokens/s "
             "| speed vs dense | activation MB | memory vs dense |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in t.itertuples():
        routed = f"{r.experts} ({r.top_k}, {r.shared})" if r.experts else "dense"
        match = r.match if isinstance(r.match, str) and r.match else "–"  # dense: none (NaN when read from csv)
        lines.append(f"| {r.ffn} | {r.arm} | {routed} | {match} | {r.params_ffn:,} ({r.params_ffn_active:,}) "
                     f"| {r.flops_vs_dense:.2f}× | {r.tokens_per_s:,.0f} | {r.speed_vs_dense:.2f}× "
                     f"| {r.activation_mb:.1f} | {r.memory_vs_dense:.2f}× |")
    return "\n".join(lines) + "\n"


def main_moe(args, machine: dict, log=print) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    size = Size("tiny_moe", 48, 2, 2, 32, 4, vocab_size=256) if args.quick else LADDER_S
    t = run(size, args.moe_variants, args.rounds, args.steps, args.warmup, log=log)
    t.round(6).to_csv(out / "moe.csv", index=False)
    name = f"{machine.get('cpu', '?')} ({machine.get('cpu_capability', '?')}, {torch.get_num_threads()} threads)"
    (out / "moe.md").write_text(markdown(t, name))
    log(f"wrote {out}/moe.csv, moe.md")
