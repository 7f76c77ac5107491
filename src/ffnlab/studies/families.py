"""The families view: model families' FFNs as shipped against their parameter-matched twins (pure pandas).

Runs built from conf/family/* carry `ffn_family` (gpt2, gpt2_matched, ...). As-shipped FFNs do not match ReLU's
parameters, so this view never ranks them as if they did: it puts each family's loss beside its FFN parameters
and training FLOPs, its Δ vs ReLU, and the Δ between the shipped FFN and its matched twin: how much of a
family's advantage is width and how much is the activation. A twin identical to another family's (llama_matched
and palm_matched are both ffnlab's swiglu) shares its runs; the table says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as st

from ffnlab.report import blocked
from ffnlab.report.stats import BASELINE, paired, welch

COLUMN = "cfg.ffn_family"
SHIPPED = ("gpt2", "llama", "palm", "gemma")


def has_families(runs: pd.DataFrame) -> bool:
    return COLUMN in runs and runs[COLUMN].notna().any()


def width_share(shipped: pd.Series, matched: pd.Series, relu: pd.Series, seed: int = 0) -> tuple[float, float, float]:
    """The share of the shipped FFN's lead over ReLU that its matched twin does not have, (shipped − matched) /
    (shipped − relu) on the means, with a 95% bootstrap interval resampling the seeds all three share (scipy,
    paired: a resample keeps each seed's three runs together)."""
    common = shipped.index.intersection(matched.index).intersection(relu.index)
    a, b, c = (x[common].to_numpy(float) for x in (shipped, matched, relu))
    ratio = lambda x, y, z, axis=-1: (x.mean(axis) - y.mean(axis)) / (x.mean(axis) - z.mean(axis))  # noqa: E731
    point = float(ratio(a, b, c))
    if len(common) < 3:
        return point, float("nan"), float("nan")
    res = st.bootstrap((a, b, c), ratio, paired=True, vectorized=True, n_resamples=9999, method="percentile",
                       rng=np.random.default_rng(seed))
    return point, float(res.confidence_interval.low), float(res.confidence_interval.high)


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per family label: n, loss mean ± std, FFN parameters and their ratio to ReLU's, training FLOPs,
    Δ vs the relu label (Welch 95% CI, p), and for a shipped FFN the Δ to its matched twin, paired by seed: at
    one seed both share their non-FFN initial weights and every batch, so the pair isolates the FFN."""
    ok = runs[runs["status"].isin(["ok", "duplicate"]) & runs[COLUMN].notna()]  # a shared twin counts for both
    again = ok.duplicated([COLUMN, "experiment_hash"]) & ok["experiment_hash"].notna()
    ok = ok[~again]  # ... but within one label an experiment counts once (e.g. a reused copy beside its donor)
    g = ok.groupby(COLUMN)
    out = pd.DataFrame({
        "ffn": g["ffn"].first(), "n": g["final_val_loss"].count(), "val_loss": g["final_val_loss"].mean(),
        "val_loss_std": g["final_val_loss"].std(ddof=1), "params_ffn": g["params_ffn"].first(),
        "d_ff": g["d_ff"].first(), "train_flops": (ok["flops_per_token"] * ok["tokens"]).groupby(ok[COLUMN]).first(),
    })
    losses = {name: grp["final_val_loss"].to_numpy() for name, grp in g}
    by_seed = {name: grp.groupby("seed")["final_val_loss"].mean() for name, grp in g}
    experiment = g["experiment_hash"].agg(lambda s: tuple(sorted(s.dropna())))
    out["same_runs_as"] = [", ".join(o for o in out.index if o != n and experiment[o] == experiment[n]) or ""
                           for n in out.index]
    # one label per distinct set of runs: a twin shared by two families is one treatment, counted once
    first = {n: next(o for o in out.index if experiment[o] == experiment[n]) for n in out.index}
    if BASELINE in losses:
        out["params_vs_relu"] = out["params_ffn"] / out.loc[BASELINE, "params_ffn"]
        labelled = ok[ok[COLUMN].isin(set(first.values()))].assign(ffn=lambda d: d[COLUMN])
        f = blocked.fit(labelled)
        tests = blocked.table(f, {n: {n: 1.0, BASELINE: -1.0} for n in set(first.values()) if n != BASELINE})
        for name in out.index:
            if first[name] in tests.index:
                r = tests.loc[first[name]]
                out.loc[name, ["delta", "delta_lo", "delta_hi", "p", "p_holm"]] = (
                    r["estimate"], r["lo"], r["hi"], r["p"], r["p_holm"])
            d, lo, hi, _ = welch(losses[name], losses[BASELINE])
            out.loc[name, ["welch_lo", "welch_hi"]] = lo, hi
    for name in SHIPPED:
        twin = f"{name}_matched"
        if name in losses and twin in losses:
            d, lo, hi, p, pairs = paired(by_seed[name], by_seed[twin])
            out.loc[name, ["vs_matched", "vs_matched_lo", "vs_matched_hi", "vs_matched_p", "vs_matched_pairs"]] = (
                d, lo, hi, p, pairs)
            if BASELINE in losses:
                share = width_share(by_seed[name], by_seed[twin], by_seed[BASELINE])
                out.loc[name, ["width_share", "width_share_lo", "width_share_hi"]] = share
    order = [BASELINE] + [f for s in SHIPPED for f in (s, f"{s}_matched")]
    return out.loc[[n for n in order if n in out.index] + [n for n in out.index if n not in order]]


def markdown(t: pd.DataFrame) -> str:
    def f(x, fmt="{:+.3f}"):
        return "–" if pd.isna(x) else fmt.format(x)

    lines = ["| family FFN | variant | n | val loss | d_ff | FFN params (× ReLU) | training FLOPs | Δ vs ReLU, "
             "seed-blocked [95% CI] (Holm p) | shipped − matched, paired [95% CI] (p, pairs) | share of the lead "
             "that is width [95% CI] | same runs as |",
             "|---|---|---:|---:|---:|---:|---:|---|---|---|---|"]
    for name, r in t.iterrows():
        lines.append(
            f"| {name} | {r['ffn']} | {int(r['n'])} | {r['val_loss']:.3f} ± {f(r['val_loss_std'], '{:.3f}')} | "
            f"{int(r['d_ff'])} | {int(r['params_ffn']):,} ({f(r.get('params_vs_relu'), '{:.2f}×')}) | "
            f"{r['train_flops']:.3g} | "
            + (f"{f(r.get('delta'))} [{f(r.get('delta_lo'))}, {f(r.get('delta_hi'))}] "
               f"({f(r.get('p_holm'), '{:.2g}')})" if name != BASELINE else "(baseline)") + " | "
            + (f"{f(r.get('vs_matched'))} [{f(r.get('vs_matched_lo'))}, {f(r.get('vs_matched_hi'))}] "
               f"({f(r.get('vs_matched_p'), '{:.2g}')}, {int(r['vs_matched_pairs'])})"
               if pd.notna(r.get("vs_matched")) else "") + " | "
            + (f"{f(r.get('width_share'), '{:.0%}')} [{f(r.get('width_share_lo'), '{:.0%}')}, "
               f"{f(r.get('width_share_hi'), '{:.0%}')}]" if pd.notna(r.get("width_share")) else "") + " | "
            + f"{r['same_runs_as']} |")
    lines += ["", "As shipped, the families' FFNs do not hold ReLU's parameter count (the × column): compare them "
              "by loss against parameters and FLOPs (figures/families_params, families_flops), not by rank. "
              "shipped − matched: the as-shipped FFN's loss minus its twin's at ReLU's parameters, the share of the "
              "advantage that is width (and biases or rounding) rather than activation, paired by seed (same "
              "non-FFN initial weights, same batches), unadjusted; share of the lead that is width: (shipped − "
              "matched) / (shipped − ReLU), with a 95% bootstrap interval over the seeds. "
              "Δ vs ReLU: the seed-blocked fit (label + seed) with Holm over the table's distinct "
              "comparisons: labels that share their runs (same runs as) are one treatment, counted once.", ""]
    return "# Model families: FFNs as shipped and parameter-matched\n\n" + "\n".join(lines)
