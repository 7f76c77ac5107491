"""The benchmark's README: headline ratios against the targets of issue #5, then the full tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ffnlab.bench import tables


def _row(summary: pd.DataFrame, size: str, ffn: str, impl: str, precision: str = "fp32") -> pd.Series | None:
    r = summary[(summary["size"] == size) & (summary["ffn"] == ffn) & (summary["impl"] == impl)
                & (summary["precision"] == precision)]
    return None if r.empty else r.iloc[0]


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def bf16_gap(curves: pd.DataFrame, window: int = 20) -> pd.DataFrame:
    """Per variant: the largest |bf16 − fp32| of the `window`-step moving-average loss, and at the end."""
    rows = []
    for ffn, c in curves.groupby("ffn"):
        wide = c.pivot(index="step", columns="precision", values="loss").rolling(window, min_periods=1).mean()
        diff = (wide["bf16"] - wide["fp32"]).abs()
        rows.append({"ffn": ffn, "max_abs_diff": diff.max(), "final_abs_diff": diff.iloc[-1],
                     "final_fp32": wide["fp32"].iloc[-1], "steps": len(wide)})
    return pd.DataFrame(rows)


def headline(summary: pd.DataFrame, ovh: pd.DataFrame, curves: pd.DataFrame,
             default_impl: str, variants: list[str], has_compile: bool) -> list[str]:
    impl = f"ffnlab-{default_impl}"
    lines = []
    for size in dict.fromkeys(summary["size"]):
        s = summary[(summary["size"] == size) & (summary["impl"] == impl) & (summary["precision"] == "fp32")]
        s = s[s["ffn"].isin(variants)]
        if s["vs_best_peer"].notna().any():
            worst = s.loc[s["vs_best_peer"].idxmin()]
            named = {f: _row(summary, size, f, impl) for f in ("relu", "swiglu")}
            parts = ", ".join(f"{f} {r['vs_best_peer']:.2f}× ({r['best_peer']})" for f, r in named.items()
                              if r is not None and pd.notna(r["vs_best_peer"]))
            lines.append(f"- **{size}: ffnlab ({default_impl}, eager fp32) ÷ fastest peer**: {parts}; lowest over "
                         f"variants {worst['vs_best_peer']:.2f}× ({worst['ffn']}). Target ≥ 1.2× for relu and "
                         f"swiglu, never < 1: {_verdict(all(r is not None and r['vs_best_peer'] >= 1.2 for r in named.values()) and worst['vs_best_peer'] >= 1)}.")  # noqa: E501
        lines.append(f"- **{size}: MFU** ({impl}, fp32, vs the fp32 GEMM peak): median {s['mfu'].median():.0%} "
                     f"(range {s['mfu'].min():.0%}–{s['mfu'].max():.0%}); target ≥ 70%: "
                     f"{_verdict(s['mfu'].median() >= 0.7)}.")
        b = summary[(summary["size"] == size) & (summary["impl"] == impl) & (summary["precision"] == "bf16")]
        ratio = b.set_index("ffn")["tokens_per_s"] / s.set_index("ffn")["tokens_per_s"]
        if ratio.notna().any():
            lines.append(f"- **{size}: bf16 autocast ÷ fp32** tokens/s: median {ratio.median():.2f}× "
                         f"(range {ratio.min():.2f}–{ratio.max():.2f}); target ≥ 1.5×: "
                         f"{_verdict(ratio.median() >= 1.5)}.")
        if has_compile:
            c = summary[(summary["size"] == size) & (summary["impl"] == impl + "+compile")]
            cr = c.set_index("ffn")["tokens_per_s"] / s.set_index("ffn")["tokens_per_s"]
            lines.append(f"- **{size}: torch.compile ÷ eager**: median {cr.median():.2f}× "
                         f"(range {cr.min():.2f}–{cr.max():.2f}); its MFU median {c['mfu'].median():.0%}.")
    o = ovh.groupby("loop")["s_per_step"].median()
    if {"lightning", "bare"} <= set(o.index):
        pct = o["lightning"] / o["bare"] - 1
        lines.append(f"- **Lightning overhead** (ffnlab-train's Trainer vs a bare loop, medians of "
                     f"{ovh['round'].nunique()} alternating rounds): {pct:+.1%} per step; target ≤ 3%: "
                     f"{_verdict(pct <= 0.03)}.")
    g = bf16_gap(curves)
    if not g.empty:
        worst = g["max_abs_diff"].max()
        lines.append(f"- **bf16 loss curve vs fp32** ({int(g['steps'].iloc[0])} steps, 20-step moving averages): "
                     f"largest gap {worst:.3f} nats, final gaps "
                     + ", ".join(f"{r.ffn} {r.final_abs_diff:.3f}" for r in g.itertuples()) + ".")
    return lines


def write_readme(out: Path, summary, memory, ovh, curves, peak, info, peers, args, default_impl, impls):
    order = args.variants
    text = [
        "# Benchmarks: throughput, MFU, activation memory, Lightning overhead, bf16",
        "",
        "Written by `ffnlab-bench` (`src/ffnlab/bench/`); every number below is measured in the run that wrote "
        "this folder. Command: see `COMMAND.txt`.",
        "",
        f"Machine: {info['cpu']}, {info['logical_cpus']} logical CPUs, torch threads {info['torch_threads']}, "
        f"CPU capability {info['cpu_capability']}; versions "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v) + ".",
        f"Measured dense GEMM peak (median of 7, best size): fp32 {peak.get('fp32', float('nan')):.0f} GFLOP/s, "
        f"bf16 {peak.get('bf16', float('nan')):.0f} GFLOP/s"
        + ("." if info.get("native_bf16", True) else " (emulated: this machine has no native bf16, so bf16 MFU is "
           "not computed; bf16 rows show their tokens/s only)."),
        "",
        "## Headline (against the targets of issue #5)",
        "",
        *headline(summary, ovh, curves, default_impl, order, args.compile),
        "",
        "How it is measured: every configuration trains on the same fixed batch with AdamW (clip 1.0) under "
        f"`torch.use_deterministic_algorithms(True)`, as ffnlab-train does; {args.warmup} untimed warm-up steps, "
        f"then {args.rounds} rounds that visit every configuration in a fresh random order for {args.steps} steps. "
        "Cells are medians over rounds with the interquartile range. MFU = ffnlab's training FLOPs per token "
        "(attention included, the record's `flops_per_token`) × tokens/s ÷ the GEMM peak of the same dtype. "
        "Peers are built at identical dimensions (their FFN parameter counts are `ffn_params` in `memory.csv`): "
        "Hugging Face `LlamaForCausalLM` (gated only: its MLP is always act(xW)⊙xV) and x-transformers (plain and "
        "GLU; its GLU projection always has a bias, 2·d_ff parameters per layer). Activation memory is the bytes "
        "autograd saves for backward in one forward pass (exact, from saved-tensor hooks; parameters excluded).",
        "",
        "Peers not run: " + (", ".join(f"{p} ({w})" for p, w in peers.items() if w) or "none") + ".",
    ]
    for size in dict.fromkeys(summary["size"]):
        text += ["", f"## {size}: training tokens/s (fp32)", "",
                 tables.throughput_table(summary, size, impls, order), "",
                 f"### {size}: ffnlab-{default_impl} against the peers", "",
                 tables.ratio_table(summary, size, f"ffnlab-{default_impl}", order), "",
                 f"### {size}: activation memory", "",
                 tables.memory_table(memory, size, [i for i in impls if "+compile" not in i], order)]
    o = ovh.groupby("loop")["s_per_step"].agg(["median", "min", "max", "count"])
    text += ["", "## Lightning overhead (seconds per step)", "", tables.markdown(o), "",
             "## bf16 against fp32 (loss curves on real batches)", "",
             tables.markdown(bf16_gap(curves), index=False), "", "![throughput](throughput.png)", "",
             "Files: `summary.csv` (one row per size × variant × implementation × precision), `steps.csv` (every "
             "timed round), `memory.csv`, `gemm.csv`, `overhead.csv`, `bf16_curves.csv`, `machine.json`."]
    (out / "README.md").write_text("\n".join(text) + "\n")
