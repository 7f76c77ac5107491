"""Activation diagnostics from run records → DataFrames and tables (pure pandas; ffnlab.model.diagnostics defines each
statistic). One long frame, one row per (run, evaluation, layer or weight matrix, statistic); summaries average
the layers of a run first, then take mean ± std over seeds, at the early (1/8) and final horizons.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ffnlab.report.paper import order_key
from ffnlab.runs.record import read_record

# The compact table's columns: (statistic, header, scale, format). Fractions are shown in percent.
TABLE = [
    ("zero_frac", "zeros %", 100, "{:.1f}"),
    ("small_frac", "near-zero %", 100, "{:.1f}"),
    ("dead_frac", "dead units %", 100, "{:.2f}"),
    ("act_mean", "gate mean", 1, "{:.3f}"),
    ("sat_low", "gate < 0.05 %", 100, "{:.1f}"),
    ("sat_high", "gate > 0.95 %", 100, "{:.1f}"),
    ("ffn_write", "FFN write", 1, "{:.3f}"),
    ("resid_kurtosis", "resid. kurtosis", 1, "{:.2f}"),
    ("resid_max_ratio", "resid. max/RMS", 1, "{:.1f}"),
    ("attn_entropy", "attn. entropy", 1, "{:.2f}"),  # diagnostics version 2 on: shown where the records have them
    ("attn_sink", "attn. first %", 100, "{:.1f}"),
    ("attn_mass", "attn. mass", 1, "{:.3f}"),
]
ATTENTION_LEGEND = (" attn. entropy: of each attention row, normalised to sum 1 (nats); attn. first: the share of a "
                    "row's weight on the first position (the sink); attn. mass: a row's total weight (1 for softmax).")
HORIZONS = ("early", "final")
MOE_STATS = ("load_cv", "entropy", "top1_changed")  # per routed layer: expert balance, router entropy, churn


def read(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(points, meta) of the finished runs (status ok) that carry diagnostics.

    points: one row per value: run_dir, ffn, seed, step, horizon (early, final or ""), kind (layer | weight),
    where (layer index or matrix name), stat, value. meta: per run, the tokens measured, the seconds spent and
    the run's wall time (the diagnostics' cost).
    """
    rows, meta = [], []
    for _, r in runs[runs["status"] == "ok"].iterrows():
        rec = read_record(Path(r["folder"]))
        if rec is None or rec.diagnostics is None:
            continue
        diag = rec.diagnostics
        meta.append({"run_dir": r["run_dir"], "ffn": r["ffn"], "tokens": diag.tokens, "seconds": diag.seconds,
                     "wall_s": rec.wall_s})
        last = diag.points[-1]["step"] if diag.points else None
        for p in diag.points:
            step = p["step"]
            horizon = "final" if step == last else "early" if step == r.get("early_step") else ""
            base = {"run_dir": r["run_dir"], "ffn": r["ffn"], "seed": r["seed"], "step": step, "horizon": horizon}
            for stat, values in p["layers"].items():
                rows += [{**base, "kind": "layer", "where": str(i), "stat": stat, "value": v}
                         for i, v in enumerate(values) if v is not None]
            for stat in MOE_STATS:  # a routed FFN's per-layer routing (ffnlab.model.diagnostics.routing)
                rows += [{**base, "kind": "moe", "where": str(i), "stat": stat, "value": v}
                         for i, v in enumerate((p.get("moe") or {}).get(stat) or []) if v is not None]
            for stat, by_matrix in (p.get("weights") or {}).items():
                rows += [{**base, "kind": "weight", "where": m, "stat": stat, "value": v}
                         for m, v in by_matrix.items() if v is not None]
    cols = ["run_dir", "ffn", "seed", "step", "horizon", "kind", "where", "stat", "value"]
    return pd.DataFrame(rows, columns=cols), pd.DataFrame(meta, columns=["run_dir", "ffn", "tokens", "seconds",
                                                                         "wall_s"])


def layer_means(diag: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, step, stat): the statistic averaged over the run's layers."""
    d = diag[diag["kind"] == "layer"]
    return d.groupby(["run_dir", "ffn", "seed", "step", "horizon", "stat"], as_index=False)["value"].mean()


def summarize(diag: pd.DataFrame) -> pd.DataFrame:
    """Per variant and horizon: mean and std over seeds of each layer-averaged statistic (columns stat, stat_std)."""
    d = layer_means(diag)
    d = d[d["horizon"].isin(HORIZONS)]
    g = d.groupby(["ffn", "horizon", "stat"])["value"]
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(), "n": g.count()}).reset_index()
    wide = out.pivot_table(index=["ffn", "horizon"], columns="stat", values=["mean", "std"])
    wide.columns = [stat if kind == "mean" else f"{stat}_std" for kind, stat in wide.columns]
    wide["n_seeds"] = out.groupby(["ffn", "horizon"])["n"].max()
    return wide.reset_index()


def markdown(summary: pd.DataFrame, horizon: str = "final") -> str:
    """The compact table: per variant, the sparsity, gate and outlier statistics at one horizon (mean ± std)."""
    s = summary[summary["horizon"] == horizon].set_index("ffn").sort_index(key=order_key)
    cols = [c for c in TABLE if c[0] in s]
    lines = ["| variant | seeds | " + " | ".join(h for _, h, _, _ in cols) + " |",
             "|---|---:|" + "---:|" * len(cols)]
    for name, r in s.iterrows():
        cells = []
        for stat, _, scale, fmt in cols:
            m, sd = r[stat], r.get(f"{stat}_std")
            cells.append("–" if pd.isna(m) else fmt.format(m * scale) + ("" if pd.isna(sd) else
                                                                        " ± " + fmt.format(sd * scale)))
        lines.append(f"| {name} | {int(r['n_seeds'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def loss_correlations(dsum: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Across variants: Spearman ρ (and its p) between each diagnostic and the loss at the same horizon (the
    final loss at the final horizon, the 1/8-budget loss at the early one). Which statistics track the loss?"""
    from scipy import stats as st

    rows = []
    for horizon, loss_col in (("early", "early_val_loss"), ("final", "val_loss")):
        d = dsum[dsum["horizon"] == horizon].set_index("ffn")
        names = [n for n in d.index if n in summary.index]
        for stat, header, _, _ in TABLE:
            if stat not in d:
                continue
            x, y = d.loc[names, stat], summary.loc[names, loss_col]
            ok = x.notna() & y.notna()
            if ok.sum() >= 4 and x[ok].nunique() > 1:
                rho, p = st.spearmanr(x[ok], y[ok])
                rows.append({"horizon": horizon, "stat": stat, "column": header, "n_variants": int(ok.sum()),
                             "rho": float(rho), "p": float(p)})
    return pd.DataFrame(rows, columns=["horizon", "stat", "column", "n_variants", "rho", "p"])


def correlations_markdown(corr: pd.DataFrame) -> str:
    if corr.empty:
        return ""
    wide = corr.pivot_table(index="column", columns="horizon", values=["rho", "p"], sort=False)
    lines = ["| statistic | " + " | ".join(f"ρ with loss, {h} (p)" for h in ("early", "final")) + " | variants |",
             "|---|---:|---:|---:|"]
    for col in dict.fromkeys(corr["column"]):
        cells = []
        for h in ("early", "final"):
            try:
                cells.append(f"{wide.loc[col, ('rho', h)]:+.2f} ({wide.loc[col, ('p', h)]:.2g})")
            except KeyError:
                cells.append("–")
        n = int(corr.loc[corr["column"] == col, "n_variants"].max())
        lines.append(f"| {col} | " + " | ".join(cells) + f" | {n} |")
    return "\n".join(lines) + "\n"


def cost(meta: pd.DataFrame) -> float | None:
    """The diagnostics' share of the runs' wall time (their seconds summed over the runs' wall time summed)."""
    m = meta[meta["wall_s"].notna() & (meta["wall_s"] > 0)]
    return float(m["seconds"].sum() / m["wall_s"].sum()) if len(m) else None


def tables_markdown(summary: pd.DataFrame, meta: pd.DataFrame, corr: pd.DataFrame | None = None) -> str:
    """diagnostics.md: the compact table at the final and the early horizon, what each column means, and the cost."""
    tokens = meta["tokens"].unique()
    where = f"{int(tokens[0])} fixed validation tokens" if len(tokens) == 1 else "fixed validation tokens"
    parts = []
    for horizon in ("final", "early"):  # the final horizon first: the table a README quotes
        if (summary["horizon"] == horizon).any():
            title = "final" if horizon == "final" else "early (1/8 of the budget)"
            parts.append(f"### At the {title} horizon\n\n" + markdown(summary, horizon))
    share = cost(meta)
    legend = (f"Layer averages over {where}, mean ± std over seeds (ffnlab.model.diagnostics defines each). zeros: "
              "hidden values exactly 0; near-zero: |h| < 1% of the layer's hidden RMS; dead units: near-zero on every "
              "token; gate: σ(xW) of a sigmoid gate; FFN write: RMS of the FFN output over RMS of the residual "
              "stream it is added to; resid. kurtosis: per token over features (3 = Gaussian); resid. max/RMS: "
              "the largest residual value in RMS units."
              + (ATTENTION_LEGEND if "attn_entropy" in summary else "")
              + (f" Measuring them took {100 * share:.2f}% of the runs' wall time." if share is not None else "")
              + "\n")
    text = "\n".join(parts) + "\n" + legend
    if corr is not None and not corr.empty:
        text += ("\n### Which statistics track the loss\n\nSpearman ρ across variants between each statistic's "
                 "variant mean and the variant's mean loss at the same horizon (unadjusted p; a handful of "
                 "variants, so read it as a pointer, not a test):\n\n" + correlations_markdown(corr))
    return text


def moe_summary(diag: pd.DataFrame) -> pd.DataFrame:
    """Per variant, at the final evaluation: each routing statistic averaged over a run's layers, then mean and
    std over seeds (columns stat, stat_std, n). Empty where no run routes its FFN."""
    d = diag[(diag["kind"] == "moe") & (diag["horizon"] == "final")]
    if d.empty:
        return pd.DataFrame()
    runs = d.groupby(["run_dir", "ffn", "stat"], as_index=False)["value"].mean()
    g = runs.groupby(["ffn", "stat"])["value"]
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(), "n": g.count()}).reset_index()
    wide = out.pivot_table(index="ffn", columns="stat", values=["mean", "std", "n"])
    table = pd.DataFrame({s: wide[("mean", s)] for s in MOE_STATS if ("mean", s) in wide})
    for s in MOE_STATS:
        if ("std", s) in wide:
            table[f"{s}_std"] = wide[("std", s)]
    table["n"] = wide[("n", MOE_STATS[0])] if ("n", MOE_STATS[0]) in wide else pd.NA
    return table.iloc[order_key(table.index).argsort(kind="stable")]


def moe_markdown(t: pd.DataFrame) -> str:
    """moe.md: the routing of each routed variant at the run's end, mean ± std over seeds."""
    lines = ["# Routing at the end of training", "",
             "Per routed variant, each statistic averaged over the run's layers at the final evaluation, mean ± std "
             "over seeds (ffnlab.model.diagnostics.routing): load CV, the coefficient of variation of the experts' "
             "shares of the routed assignments (0: an even load); router entropy (nats) of the router's softmax "
             "over experts; top-1 changed, the share of tokens whose first expert differs from the evaluation "
             "before.", "", "| FFN | n | load CV | router entropy | top-1 changed |", "|---|---|---|---|---|"]
    for name, r in t.iterrows():
        cells = [f"{r[s]:.3f} ± {r.get(f'{s}_std', float('nan')):.3f}" if pd.notna(r.get(s)) else "–"
                 for s in MOE_STATS]
        lines.append(f"| {name} | {int(r['n'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
