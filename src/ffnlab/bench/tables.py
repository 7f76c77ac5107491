"""Benchmark DataFrames → summary, Markdown and a plot (pure functions of the measured rows)."""

from __future__ import annotations

import pandas as pd

PEER_IMPLS = ("hf-llama", "x-transformers")


def summarize(steps: pd.DataFrame, sizes: dict, flops: pd.DataFrame, peak: dict[str, float],
              memory: pd.DataFrame) -> pd.DataFrame:
    """One row per (size, ffn, impl, precision): median tokens/s with spread, MFU, and ratios to the peers.

    `steps`: rows of (size, ffn, impl, precision, round, s_per_step); `flops`: (size, ffn, flops_per_token) of
    ffnlab's model, used for every implementation of that size and variant (they compute the same matmuls);
    `peak`: measured GEMM GFLOP/s per precision; `memory`: (size, ffn, impl, precision, activation_mb, ...).
    """
    df = steps.copy()
    tokens_per_step = df["size"].map(lambda s: sizes[s].batch_size * sizes[s].seq_len)
    df["tokens_per_s"] = tokens_per_step / df["s_per_step"]
    keys = ["size", "ffn", "impl", "precision"]
    g = df.groupby(keys)["tokens_per_s"]
    out = pd.DataFrame({
        "tokens_per_s": g.median(), "q25": g.quantile(0.25), "q75": g.quantile(0.75),
        "min": g.min(), "max": g.max(), "n": g.size(),
    }).reset_index()
    out = out.merge(flops, on=["size", "ffn"], how="left")
    out["gflops"] = out["tokens_per_s"] * out["flops_per_token"] / 1e9
    out["mfu"] = out["gflops"] / out["precision"].map(peak)
    out = out.merge(memory, on=keys, how="left")
    peers = out[out["impl"].isin(PEER_IMPLS)].groupby(["size", "ffn", "precision"])["tokens_per_s"]
    best = peers.max().rename("best_peer_tokens_per_s").reset_index()
    best_name = out.loc[peers.idxmax(), ["size", "ffn", "precision", "impl"]].rename(columns={"impl": "best_peer"})
    out = out.merge(best, on=["size", "ffn", "precision"], how="left").merge(
        best_name, on=["size", "ffn", "precision"], how="left")
    out["vs_best_peer"] = out["tokens_per_s"] / out["best_peer_tokens_per_s"]
    for peer in PEER_IMPLS:
        p = out[out["impl"] == peer][["size", "ffn", "precision", "tokens_per_s"]]
        out = out.merge(p.rename(columns={"tokens_per_s": f"{peer}_tps"}), on=["size", "ffn", "precision"],
                        how="left")
        out[f"vs_{peer}"] = out["tokens_per_s"] / out.pop(f"{peer}_tps")
    # Sizes in the order they were measured (as asked on the command line), not groupby's alphabetical order.
    rank = {s: i for i, s in enumerate(dict.fromkeys(steps["size"]))}
    return out.sort_values(["size", "ffn", "impl", "precision"], key=lambda c: c.map(rank) if c.name == "size" else c,
                           kind="stable", ignore_index=True)


def markdown(df: pd.DataFrame, floatfmt: str = ".4f", index: bool = True) -> str:
    """A plain Markdown table of a small DataFrame (floats formatted with `floatfmt`)."""
    df = df.reset_index() if index else df
    cell = lambda v: format(v, floatfmt) if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _fmt(x, spec: str) -> str:
    return "—" if pd.isna(x) else format(x, spec)


def throughput_table(summary: pd.DataFrame, size: str, impls: list[str], order: list[str]) -> str:
    """Markdown: variants down, implementations across; median tokens/s [IQR] per cell."""
    s = summary[(summary["size"] == size) & (summary["precision"] == "fp32")]
    head = "| variant | " + " | ".join(impls) + " |"
    lines = [head, "|" + "---|" * (len(impls) + 1)]
    for ffn in order:
        cells = []
        for impl in impls:
            r = s[(s["ffn"] == ffn) & (s["impl"] == impl)]
            cells.append("—" if r.empty else
                         f"{r.iloc[0]['tokens_per_s']:,.0f} [{r.iloc[0]['q25']:,.0f}–{r.iloc[0]['q75']:,.0f}]")
        lines.append(f"| {ffn} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratio_table(summary: pd.DataFrame, size: str, impl: str, order: list[str]) -> str:
    """Markdown: ffnlab (one impl) against each peer, MFU and activation memory, per variant."""
    s = summary[(summary["size"] == size) & (summary["impl"] == impl)].set_index(["ffn", "precision"])
    lines = ["| variant | tokens/s | ÷ hf-llama | ÷ x-transformers | MFU | bf16 tokens/s | bf16 ÷ fp32 "
             "| activations MB (fp32) |", "|---|---|---|---|---|---|---|---|"]
    for ffn in order:
        if (ffn, "fp32") not in s.index:
            continue
        r = s.loc[(ffn, "fp32")]
        b = s.loc[(ffn, "bf16")] if (ffn, "bf16") in s.index else None
        bf = "—" if b is None else f"{b['tokens_per_s']:,.0f}"
        bratio = "—" if b is None else f"{b['tokens_per_s'] / r['tokens_per_s']:.2f}×"
        lines.append(f"| {ffn} | {r['tokens_per_s']:,.0f} | {_fmt(r['vs_hf-llama'], '.2f')} | "
                     f"{_fmt(r['vs_x-transformers'], '.2f')} | {r['mfu']:.0%} | {bf} | {bratio} | "
                     f"{_fmt(r.get('activation_mb'), '.1f')} |")
    return "\n".join(lines)


def memory_table(memory: pd.DataFrame, size: str, impls: list[str], order: list[str]) -> str:
    m = memory[(memory["size"] == size) & (memory["precision"] == "fp32")]
    lines = ["| variant | d_ff | " + " | ".join(f"{i} model MB" for i in impls) + " | "
             + " | ".join(f"{i} FFN B/token" for i in impls) + " |", "|---|---|" + "---|" * (2 * len(impls))]
    for ffn in order:
        rows = {i: m[(m["ffn"] == ffn) & (m["impl"] == i)] for i in impls}
        first = next((r for r in rows.values() if not r.empty), None)
        if first is None:
            continue
        model = [_fmt(r.iloc[0]["activation_mb"], ".1f") if not r.empty else "—" for r in rows.values()]
        ffn_b = [_fmt(r.iloc[0]["ffn_bytes_per_token"], ",.0f") if not r.empty else "—" for r in rows.values()]
        lines.append(f"| {ffn} | {int(first.iloc[0]['d_ff'])} | " + " | ".join(model + ffn_b) + " |")
    return "\n".join(lines)


def plot_throughput(summary: pd.DataFrame, order: list[str], impls: list[str]):
    """One panel per size: median training tokens/s per variant and implementation, IQR as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sizes = list(dict.fromkeys(summary["size"]))
    fig, axes = plt.subplots(1, len(sizes), figsize=(7 * len(sizes), 4.2), squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        s = summary[(summary["size"] == size) & (summary["precision"] == "fp32")]
        width = 0.8 / len(impls)
        for i, impl in enumerate(impls):
            r = s[s["impl"] == impl].set_index("ffn").reindex(order)
            x = np.arange(len(order)) + (i - (len(impls) - 1) / 2) * width
            err = np.vstack([r["tokens_per_s"] - r["q25"], r["q75"] - r["tokens_per_s"]])
            ax.bar(x, r["tokens_per_s"], width, yerr=err, label=impl, capsize=2)
        ax.set_xticks(np.arange(len(order)), order, rotation=45, ha="right")
        ax.set_ylabel("training tokens/s (median, IQR)")
        ax.set_title(f"{size} (fp32, eager unless +compile)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
