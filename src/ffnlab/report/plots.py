"""Plots as functions of DataFrames: `(df, ax=None) -> Axes`, no file I/O (the CLI saves them)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless by default; notebooks switch to their inline backend themselves
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ffnlab.report.paper import BASELINE, order_key  # noqa: E402


def _ax(ax):
    return ax if ax is not None else plt.subplots(figsize=(7, 4))[1]


def final_loss(summary: pd.DataFrame, ax=None):
    """Final validation loss per variant, mean ± std over seeds (the paper's Table 1 as a chart)."""
    ax = _ax(ax)
    s = summary.sort_index(key=order_key)
    colors = ["tab:orange" if i == BASELINE else "tab:blue" for i in s.index]
    ax.bar(s.index, s["val_loss"], yerr=s["val_loss_std"].fillna(0), color=colors, capsize=3)
    lo = (s["val_loss"] - s["val_loss_std"].fillna(0)).min()
    hi = (s["val_loss"] + s["val_loss_std"].fillna(0)).max()
    ax.set_ylim(lo - 0.2 * (hi - lo + 1e-3), hi + 0.2 * (hi - lo + 1e-3))
    ax.set_ylabel("final validation loss (nats/token)")
    ax.set_title("Final loss per FFN variant (mean ± std over seeds)")
    ax.tick_params(axis="x", rotation=45)
    return ax


def curves(curves_df: pd.DataFrame, ax=None, x: str = "tokens"):
    """Validation loss against tokens (or step), mean over seeds with a min–max band, per variant.

    Points from partial evaluations (the first `curve_val_batches` batches) form the line; whole-split
    evaluations (early, final) are drawn as dots: the two read different text, so they are not joined.
    """
    ax = _ax(ax)
    partial = curves_df["val_partial"].astype(bool) if "val_partial" in curves_df else False
    for i, name in enumerate(sorted(curves_df["ffn"].unique(), key=lambda n: order_key(pd.Index([n]))[0])):
        color = f"C{i % 10}"
        sub = curves_df[curves_df["ffn"] == name]
        line = sub[partial[sub.index]] if partial is not False and partial[sub.index].any() else sub
        g = line.groupby(x)["val_loss"]
        m = g.mean()
        ax.plot(m.index, m.values, label=name, color=color, lw=2 if name == BASELINE else 1.2)
        ax.fill_between(m.index, g.min().values, g.max().values, color=color, alpha=0.15)
        if line is not sub:
            full = sub[~partial[sub.index]].groupby(x)["val_loss"].mean()
            ax.plot(full.index, full.values, "o", color=color, ms=5)
    ax.set_xlabel(x)
    ax.set_ylabel("validation loss (nats/token)")
    ax.set_title("Validation curves (line: partial evals; dots: whole split)")
    ax.legend(fontsize=7, ncol=2)
    return ax


def delta_vs_paper(summary: pd.DataFrame, ax=None, paper_col: str = "shazeer_65k_delta"):
    """Our Δ vs ReLU against the paper's Δ vs ReLU, per variant, with the identity line."""
    ax = _ax(ax)
    s = summary.dropna(subset=[paper_col, "delta"])
    ax.errorbar(s[paper_col], s["delta"],
                yerr=[s["delta"] - s["delta_lo"].fillna(s["delta"]), s["delta_hi"].fillna(s["delta"]) - s["delta"]],
                fmt="o", capsize=3)
    for name, r in s.iterrows():
        ax.annotate(name, (r[paper_col], r["delta"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    lim = np.nanmax(np.abs(np.r_[s[paper_col].to_numpy(), s["delta"].to_numpy(), 0.01])) * 1.2
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8, label="identity")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel(f"paper Δ vs ReLU ({paper_col.replace('_delta', '')}, nats)")
    ax.set_ylabel("our Δ vs ReLU (nats, 95% CI)")
    ax.set_title("Our Δ vs the paper's Δ")
    ax.legend(fontsize=8)
    return ax


def delta_by_horizon(summary: pd.DataFrame, axes=None, where: str = ""):
    """The paper-style comparison: Δ vs ReLU per variant, ours (Welch 95% CI) next to Shazeer's and Narang's, at
    1/8 of the budget (ours early vs the papers' 65,536 steps) and at the end (ours final vs 524,288 steps).
    `where`: what our runs were (collect.describe, e.g. "WikiText-2, CPU scale"), shown in the title."""
    if axes is None:
        axes = plt.subplots(1, 2, figsize=(10, 4.2 + 0.12 * max(0, len(summary) - 9)), sharey=True)[1]
    s = summary.drop(index=BASELINE, errors="ignore").sort_index(key=order_key)
    y = np.arange(len(s))[::-1]
    papers = [("Shazeer 2020", "tab:grey"), ("Narang 2021", "tab:orange")]
    panels = [("early_delta", ("shazeer_65k_delta", "narang_early_delta"), "at 1/8 of the budget (papers: 65,536)"),
              ("delta", ("shazeer_524k_delta", "narang_final_delta"), "at the end (papers: 524,288 steps)")]
    for ax, (ours, refs, title) in zip(axes, panels, strict=True):
        shown = [(c, name, color) for c, (name, color) in zip(refs, papers, strict=True)
                 if c in s and s[c].notna().any()]
        h = 0.8 / (1 + len(shown))
        lo, hi = s[f"{ours}_lo"].fillna(s[ours]), s[f"{ours}_hi"].fillna(s[ours])
        ax.barh(y + h * len(shown) / 2, s[ours], height=h, color="tab:blue", label="ours (95% CI)",
                xerr=[s[ours] - lo, hi - s[ours]], capsize=2)
        for i, (c, name, color) in enumerate(shown, start=1):
            ax.barh(y + h * (len(shown) / 2 - i), s[c].fillna(0), height=h, color=color, alpha=0.6, label=name)
        ax.axvline(0, color="k", lw=0.6)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("Δ loss vs ReLU (nats; left of 0 is better)")
        ax.xaxis.set_major_locator(plt.MaxNLocator(5))
    axes[0].set_yticks(y, s.index)
    axes[0].legend(fontsize=8, loc="upper left")
    ours = f"ours ({where})" if where else "ours"
    axes[0].figure.suptitle(f"Δ vs ReLU at equal parameters: {ours} and the papers' (C4)")
    return axes[0]


def by_setting(summary: pd.DataFrame, ax=None):
    """Final loss (mean ± std) per setting, one line per variant: is a win robust to, say, the learning rate?"""
    ax = _ax(ax)
    settings = list(dict.fromkeys(summary["setting"]))
    x = {c: i for i, c in enumerate(settings)}
    for i, name in enumerate(sorted(summary["ffn"].unique(), key=lambda n: order_key(pd.Index([n]))[0])):
        sub = summary[summary["ffn"] == name]
        ax.errorbar([x[c] for c in sub["setting"]], sub["val_loss"], yerr=sub["val_loss_std"].fillna(0),
                    marker="o", ms=4, capsize=2, label=name, color=f"C{i % 10}", lw=2 if name == BASELINE else 1.2)
    ax.set_xticks(range(len(settings)), settings, rotation=20, fontsize=8)
    ax.set_ylabel("final validation loss (nats/token)")
    ax.set_title("Final loss per setting (mean ± std over seeds)")
    ax.legend(fontsize=7, ncol=2)
    return ax


def loss_vs_compute(curves_df: pd.DataFrame, runs: pd.DataFrame, ax=None, x: str = "flops"):
    """Validation loss against training FLOPs (x='flops') or training wall-clock seconds (x='seconds')."""
    ax = _ax(ax)
    df = curves_df.merge(runs[["run_dir", "flops_per_token"]], on="run_dir", how="left")
    df["flops"] = df["tokens"] * df["flops_per_token"]
    df["seconds"] = df["train_s"]
    for name in sorted(df["ffn"].unique(), key=lambda n: order_key(pd.Index([n]))[0]):
        g = df[df["ffn"] == name].groupby("step")
        ax.plot(g[x].mean(), g["val_loss"].mean(), label=name, marker=".", ms=3)
    ax.set_xlabel("training FLOPs" if x == "flops" else "training wall-clock (s)")
    ax.set_ylabel("validation loss (nats/token)")
    ax.set_title(f"Loss against {'compute' if x == 'flops' else 'time'}")
    ax.legend(fontsize=7, ncol=2)
    return ax


def throughput_memory(summary: pd.DataFrame, ax=None):
    """Training tokens/s (bars) and peak memory (dots, right axis) per variant."""
    ax = _ax(ax)
    s = summary.sort_index(key=order_key)
    ax.bar(s.index, s["tokens_per_s"], color="tab:green", alpha=0.7)
    ax.set_ylabel("training tokens/s (median over seeds)")
    ax.tick_params(axis="x", rotation=45)
    ax2 = ax.twinx()
    gpu = "peak_gpu_mb" in s and s["peak_gpu_mb"].notna().any()
    ax2.plot(s.index, s["peak_gpu_mb" if gpu else "peak_rss_mb"], "ko")
    ax2.set_ylabel("peak GPU memory (MB)" if gpu else "peak RSS (MB)")
    ax.set_title("Throughput and memory per variant")
    return ax


DIAGNOSTIC_LABELS = {
    "zero_frac": "hidden zeros (fraction)", "small_frac": "near-zero hidden (fraction)",
    "dead_frac": "dead units (fraction)", "hidden_rms": "hidden RMS", "act_mean": "gate mean σ(xW)",
    "ffn_write": "FFN output / residual RMS", "resid_kurtosis": "residual kurtosis",
    "resid_max_ratio": "residual max / RMS", "grad_norm": "gradient norm (FFN matrices)",
    "update_ratio": "update / weight (FFN matrices)",
}


def _variants(df: pd.DataFrame) -> list[str]:
    return sorted(df["ffn"].unique(), key=lambda n: order_key(pd.Index([n]))[0])


def diagnostic(points: pd.DataFrame, stat: str, ax=None, layers: list[int] | None = None):
    """One diagnostic over training per variant: averaged over layers (or over `layers` only; weight statistics:
    over the FFN's matrices), mean over seeds with a min–max band. `points` is ffnlab.report.diagnostics.read's
    first frame (or ffnlab.report.notebook.load_diagnostics')."""
    ax = _ax(ax)
    d = points[points["stat"] == stat]
    if layers is not None:
        keep = d["where"].isin([str(i) for i in layers]) | d["where"].str.contains(
            "|".join(rf"blocks\.{i}\." for i in layers))
        d = d[keep]
    if (d["kind"] == "weight").any():
        d = d[d["where"].str.contains(".ffn.", regex=False)]
    per_run = d.groupby(["ffn", "run_dir", "step"], as_index=False)["value"].mean()
    for i, name in enumerate(_variants(points)):  # colours by the variant's place among all, the same in every panel
        if name not in set(per_run["ffn"]):
            continue
        g = per_run[per_run["ffn"] == name].groupby("step")["value"]
        m = g.mean()
        ax.plot(m.index, m.values, label=name, color=f"C{i % 10}", lw=2 if name == BASELINE else 1.2)
        ax.fill_between(m.index, g.min().values, g.max().values, color=f"C{i % 10}", alpha=0.15)
    ax.set_xlabel("step")
    ax.set_ylabel(DIAGNOSTIC_LABELS.get(stat, stat))
    ax.set_title(DIAGNOSTIC_LABELS.get(stat, stat) + (f", layers {layers}" if layers is not None else ""), fontsize=9)
    return ax


def diagnostic_by_layer(points: pd.DataFrame, stat: str, ax=None):
    """One layer statistic at the final horizon against layer index, per variant (mean over seeds)."""
    ax = _ax(ax)
    d = points[(points["stat"] == stat) & (points["kind"] == "layer") & (points["horizon"] == "final")]
    d = d.assign(layer=d["where"].astype(int))
    for i, name in enumerate(_variants(points)):
        if name not in set(d["ffn"]):
            continue
        m = d[d["ffn"] == name].groupby("layer")["value"].mean()
        ax.plot(m.index, m.values, marker="o", ms=3, label=name, color=f"C{i % 10}",
                lw=2 if name == BASELINE else 1.2)
    ax.set_xlabel("layer")
    ax.set_ylabel(DIAGNOSTIC_LABELS.get(stat, stat))
    ax.set_title(f"{DIAGNOSTIC_LABELS.get(stat, stat)}, final", fontsize=9)
    return ax


def sparsity_vs_loss(dsummary: pd.DataFrame, summary: pd.DataFrame, stat: str = "small_frac", ax=None):
    """Final loss against a final-horizon diagnostic (default: the near-zero fraction), one point per variant with
    std bars on both axes. `dsummary` is ffnlab.report.diagnostics.summarize's frame, `summary` stats.summarize's."""
    ax = _ax(ax)
    d = dsummary[dsummary["horizon"] == "final"].set_index("ffn")
    names = [n for n in summary.index if n in d.index and stat in d]
    x, y = d.loc[names, stat], summary.loc[names, "val_loss"]
    ax.errorbar(x, y, xerr=d.loc[names, f"{stat}_std"].fillna(0) if f"{stat}_std" in d else None,
                yerr=summary.loc[names, "val_loss_std"].fillna(0), fmt="o", capsize=2, color="tab:blue")
    for n in names:
        ax.annotate(n, (x[n], y[n]), fontsize=7, xytext=(3, 3), textcoords="offset points",
                    color="tab:orange" if n == BASELINE else "black")
    ax.set_xlabel(f"{DIAGNOSTIC_LABELS.get(stat, stat)}, final")
    ax.set_ylabel("final validation loss (nats/token)")
    ax.set_title("Sparsity against loss, per variant (mean ± std over seeds)")
    return ax


def families(table: pd.DataFrame, x: str = "params_ffn", ax=None):
    """Final loss of each family's FFN against its FFN parameters (x='params_ffn') or training FLOPs
    (x='train_flops'), mean ± std over seeds: one colour per family, filled as shipped, open at ReLU's parameters,
    a line joining the two; ReLU's mean ± std as a dashed line and band. `table` is
    ffnlab.studies.families.table's frame (one colour per family, in the table's order)."""
    ax = _ax(ax)
    t = table
    shipped_names = [n for n in t.index if n != BASELINE and not n.endswith("_matched")]
    for name, r in t.iterrows():
        if name == BASELINE:
            continue
        family = name.removesuffix("_matched")
        color = f"C{shipped_names.index(family)}" if family in shipped_names else "black"
        shipped = family == name
        ax.errorbar([r[x]], [r["val_loss"]], yerr=[0 if pd.isna(r["val_loss_std"]) else r["val_loss_std"]],
                    fmt="o" if shipped else "s", ms=6, mfc=color if shipped else "white", mec=color, ecolor=color,
                    capsize=2, label=f"{name} ({r['ffn']}, d_ff {int(r['d_ff'])})")
        twin = f"{name}_matched"
        if twin in t.index:
            ax.plot([r[x], t.loc[twin, x]], [r["val_loss"], t.loc[twin, "val_loss"]], color=color, lw=0.8)
    if BASELINE in t.index:
        r = t.loc[BASELINE]
        std = 0 if pd.isna(r["val_loss_std"]) else r["val_loss_std"]
        ax.axhline(r["val_loss"], color="gray", ls="--", lw=1, label=f"relu (d_ff {int(r['d_ff'])}), ± std")
        ax.axhspan(r["val_loss"] - std, r["val_loss"] + std, color="gray", alpha=0.12)
    ax.set_xscale("log")
    ax.set_xlabel("FFN parameters" if x == "params_ffn" else "training FLOPs")
    ax.set_ylabel("final validation loss (nats/token)")
    ax.set_title("Families' FFNs: as shipped (filled) and at ReLU's parameters (open)")
    ax.legend(fontsize=7)
    return ax


def scaling_loss_vs_flops(cells: pd.DataFrame, fits: pd.DataFrame | None = None, ax=None):
    """Final loss against training FLOPs, log-log: one line per (variant, size) through its budgets with a ±std
    band, and each variant's fitted frontier L(C) = E + A·C^(−α) dashed."""
    ax = _ax(ax)
    names = sorted(cells["ffn"].unique(), key=lambda n: order_key(pd.Index([n]))[0])
    sizes = sorted(cells["size"].unique())
    markers = "os^Dv<>p"
    for i, name in enumerate(names):
        color = f"C{i % 10}"
        for j, size in enumerate(sizes):
            g = cells[(cells["ffn"] == name) & (cells["size"] == size)].sort_values("flops")
            if g.empty:
                continue
            ax.plot(g["flops"], g["loss"], marker=markers[j % len(markers)], color=color, ms=4,
                    lw=2 if name == BASELINE else 1, label=name if j == 0 else None)
            std = g["loss_std"].fillna(0)
            ax.fill_between(g["flops"], g["loss"] - std, g["loss"] + std, color=color, alpha=0.12)
        if fits is not None and name in set(fits["ffn"]):
            f = fits.set_index("ffn").loc[name]
            if np.isfinite(f["E"]):
                c = np.geomspace(cells["flops"].min(), cells["flops"].max(), 50)
                ax.plot(c, f["E"] + f["A"] * c ** -f["alpha"], "--", color=color, lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training FLOPs")
    ax.set_ylabel("final validation loss (nats/token)")
    ax.set_title("Loss vs compute (markers: sizes " + ", ".join(f"{s:,}" for s in sizes) + " non-emb params)",
                 fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    return ax


def scaling_delta_vs_tokens(cells: pd.DataFrame, axes=None):
    """Δ vs ReLU against training tokens, one panel per size, with Welch 95% intervals: whether a lead closes,
    holds or grows with data."""
    sizes = sorted(cells["size"].unique())
    if axes is None:
        axes = plt.subplots(1, len(sizes), figsize=(4.5 * len(sizes), 3.8), sharey=True, squeeze=False)[1][0]
    names = [n for n in sorted(cells["ffn"].unique(), key=lambda n: order_key(pd.Index([n]))[0]) if n != BASELINE]
    for ax, size in zip(axes, sizes, strict=True):
        for i, name in enumerate(names):
            g = cells[(cells["ffn"] == name) & (cells["size"] == size)].sort_values("tokens")
            if g.empty:
                continue
            err = np.vstack([(g["delta"] - g["delta_lo"]).fillna(0), (g["delta_hi"] - g["delta"]).fillna(0)])
            ax.errorbar(g["tokens"] * (1 + 0.03 * (i - len(names) / 2)), g["delta"], yerr=err, marker="o", ms=3,
                        capsize=2, lw=1, color=f"C{(i + 1) % 10}", label=name)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        budgets = sorted(cells.loc[cells["size"] == size, "tokens"].unique())
        ax.set_xticks(budgets, [f"{t / 1e6:g}M" for t in budgets])  # the budgets themselves, no crowded minors
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("training tokens")
        ax.set_title(f"{size:,} non-emb params", fontsize=9)
    axes[0].set_ylabel("Δ loss vs ReLU (nats; < 0: better)")
    axes[0].legend(fontsize=7, ncol=2)
    return axes[0]


def scaling_multiplier(cells: pd.DataFrame, ax=None):
    """Compute multiplier vs ReLU against training FLOPs per variant (lines per size), log scale, with intervals;
    hollow markers: extrapolated past ReLU's largest budget ("~") or a bound ("≥", "≤")."""
    ax = _ax(ax)
    names = [n for n in sorted(cells["ffn"].unique(), key=lambda n: order_key(pd.Index([n]))[0]) if n != BASELINE]
    for i, name in enumerate(names):
        color = f"C{(i + 1) % 10}"
        for j, (_, g) in enumerate(cells[cells["ffn"] == name].groupby("size")):
            g = g.sort_values("flops").dropna(subset=["multiplier"])
            if g.empty:
                continue
            ax.plot(g["flops"], g["multiplier"], "-", color=color, lw=1, label=name if j == 0 else None)
            exact = g["bound"] == ""
            ax.plot(g["flops"][exact], g["multiplier"][exact], "o", color=color, ms=4)
            ax.plot(g["flops"][~exact], g["multiplier"][~exact], "o", mfc="none", color=color, ms=5)
            if "multiplier_lo" in g:
                ax.vlines(g["flops"], g["multiplier_lo"], g["multiplier_hi"], color=color, lw=0.8)
    ax.axhline(1, color="k", lw=0.8)
    ax.set_xscale("log")
    if (cells["multiplier"] > 0).any() if "multiplier" in cells else False:
        ax.set_yscale("log")
    ax.set_xlabel("training FLOPs of the variant's run")
    ax.set_ylabel("ReLU compute to match ÷ variant's compute")
    ax.set_title("Compute multiplier vs ReLU (hollow: extrapolated or a bound)")
    ax.legend(fontsize=7, ncol=2)
    return ax


def agreement_vs_compute(agree: pd.DataFrame, ax=None):
    """Spearman ρ of each (size, budget) cell's ranking against each paper column (scaling.agreement), by ReLU's
    training FLOPs in the cell, with the seed-bootstrap interval: one color per paper column, one line per size
    through its budgets (markers: sizes)."""
    ax = _ax(ax)
    sizes = sorted(agree["size"].unique())
    markers = "os^Dv<>p"
    for i, (ref, g) in enumerate(agree.groupby("reference", sort=True)):
        for j, size in enumerate(sizes):
            h = g[g["size"] == size].sort_values("flops")
            if h.empty:
                continue
            x = h["flops"] * (1 + 0.04 * i)
            ax.plot(x, h["spearman_rho"], marker=markers[j % len(markers)], ms=3, lw=0.8, color=f"C{i % 10}",
                    label=ref if j == 0 else None)
            # the bootstrap's percentile interval, drawn as it is: with few variants it need not contain ρ itself
            ax.vlines(x, h["rho_lo"], h["rho_hi"], color=f"C{i % 10}", lw=0.8)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("training FLOPs of the cell (ReLU's run)")
    ax.set_ylabel("Spearman ρ with the paper")
    ax.set_title("Agreement with the papers vs compute (markers: sizes " + ", ".join(f"{s:,}" for s in sizes)
                 + " non-emb params)", fontsize=9)
    ax.legend(fontsize=6)
    return ax


def blimp_phenomena(table: pd.DataFrame, ax=None):
    """BLiMP accuracy per variant × phenomenon (report.blimp.phenomena) as a heatmap, in percent."""
    ax = ax if ax is not None else plt.subplots(figsize=(1.0 + 0.75 * len(table.columns), 1.2 + 0.4 * len(table)))[1]
    im = ax.imshow(100 * table.to_numpy(float), cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(table.columns)), [c.replace("_", " ") for c in table.columns], rotation=45, ha="right")
    ax.set_yticks(range(len(table.index)), table.index)
    for (i, j), v in np.ndenumerate(100 * table.to_numpy(float)):
        ax.text(j, i, f"{v:.0f}", ha="center", va="center", color="w" if v < 70 else "k", fontsize=7)
    ax.figure.colorbar(im, ax=ax, label="accuracy %")
    ax.set_title("BLiMP accuracy by phenomenon (largest cell, mean over seeds)")
    return ax


def blimp_vs_loss(runs: pd.DataFrame, ax=None):
    """BLiMP accuracy against validation loss, one dot per scored run, one colour per variant."""
    ax = _ax(ax)
    for name in _variants(runs):
        g = runs[runs["ffn"] == name]
        ax.scatter(g["final_val_loss"], 100 * g["blimp_overall"], s=18, label=name,
                   color="tab:orange" if name == BASELINE else None)
    ax.set_xlabel("final validation loss (nats/token)")
    ax.set_ylabel("BLiMP accuracy % (mean over paradigms)")
    ax.set_title("BLiMP against loss, every scored run")
    ax.legend(fontsize=7, ncol=2)
    return ax


def forest(t: pd.DataFrame, label: str = "arm", ax=None, title: str = ""):
    """Δ with its 95% interval per row (columns `label`, delta, lo, hi; one panel row per `setting` if present),
    the zero line marked: the arms of a routed-FFN, normalizer or head study against their reference."""
    ax = _ax(ax)
    rows = t.reset_index(drop=True)
    names = [f"{r['setting']}: {r[label]}" if r.get("setting") else str(r[label]) for _, r in rows.iterrows()]
    y = list(range(len(rows)))[::-1]
    err = [rows["delta"] - rows["lo"], rows["hi"] - rows["delta"]]
    ax.errorbar(rows["delta"], y, xerr=err, fmt="o", capsize=3)
    ax.axvline(0.0, color="grey", lw=1, ls="--")
    ax.set_yticks(y, names)
    ax.set_xlabel("Δ final validation loss vs the reference (nats, 95% interval)")
    ax.set_title(title)
    return ax
