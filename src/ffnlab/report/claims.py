"""The claims view: each newer variant's published claim beside ffnlab's measured Δs (pure pandas).

report.paper.CLAIMS holds, per variant, its paper, the claim in words and the variants the claim compares it
with. For every variant of a setting that has a claim, claims.md gives its Δ vs ReLU (the summary's, Welch with
Holm's correction) and its Δ vs each compared variant that ran (Welch 95% interval, unadjusted, and the same Δ
paired by seed: at one seed both share their non-FFN initial weights and every batch): the measured sign and
size next to what the paper reports in a much larger setting. Torch-free.
"""

from __future__ import annotations

import math

import pandas as pd

from ffnlab.report.paper import BASELINE, CLAIMS
from ffnlab.report.stats import paired, welch


def has_claims(summary: pd.DataFrame) -> bool:
    return any(name in CLAIMS for name in summary.index)


def _delta(d: float, lo: float, hi: float) -> str:
    if not math.isfinite(d):
        return ""
    return f"{d:+.3f}" + (f" [{lo:+.3f}, {hi:+.3f}]" if math.isfinite(lo) else "")


def _signs(a: pd.Series, b: pd.Series) -> str:
    """How many of the seeds both have the first variant ends lower on, e.g. "lower on 5 of 5"."""
    d = (a - b).dropna()
    return f"lower on {int((d < 0).sum())} of {len(d)}"


def table(runs: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """One row per claimed variant: paper, claim, n, Δ vs ReLU (Holm p), and Δ vs each compared variant."""
    ok = runs[runs["status"] == "ok"]
    losses = {n: g["final_val_loss"].to_numpy() for n, g in ok.groupby("ffn")}
    by_seed = {n: g.groupby("seed")["final_val_loss"].mean() for n, g in ok.groupby("ffn")}
    rows = []
    for name in [n for n in summary.index if n in CLAIMS]:
        paper, claim, against = CLAIMS[name]
        s = summary.loc[name]
        compared = [o for o in against if o in losses and o != BASELINE]
        others = [f"vs {o}: {_delta(*welch(losses[name], losses[o])[:3])}" for o in compared]
        pairs = [(o, paired(by_seed[name], by_seed[o])) for o in compared]
        others_paired = [f"vs {o}: {_delta(*pr[:3])} ({pr[4]} seeds, {_signs(by_seed[name], by_seed[o])})"
                         for o, pr in pairs]
        rows.append({"ffn": name, "paper": paper, "claim": claim, "n": int(s["n_seeds"]),
                     "delta_vs_relu": _delta(s.get("delta", math.nan), s.get("delta_lo", math.nan),
                                             s.get("delta_hi", math.nan)),
                     "p_holm": s.get("p_holm", math.nan), "vs_compared": "; ".join(others),
                     "vs_compared_paired": "; ".join(others_paired)})
    return pd.DataFrame(rows)


def markdown(t: pd.DataFrame) -> str:
    lines = ["| FFN | paper | the paper's claim | n | Δ vs ReLU [95% CI] | p (Holm) | Δ vs the compared variants "
             "[95% CI] | the same, paired by seed [95% CI] |", "|---|---|---|---|---|---|---|---|"]
    for _, r in t.iterrows():
        p = f"{r['p_holm']:.3g}" if math.isfinite(r["p_holm"]) else ""
        lines.append(f"| {r['ffn']} | {r['paper']} | {r['claim']} | {r['n']} | {r['delta_vs_relu']} | {p} | "
                     f"{r['vs_compared']} | {r['vs_compared_paired']} |")
    lines += ["", "Δ: final validation loss minus the other variant's, mean over seeds (nats; < 0: lower loss). "
              "Δ vs ReLU and its p are the summary's (Welch, Holm-Bonferroni over the variants); the Δs vs the "
              "compared variants are Welch intervals without correction, and beside them the same Δs paired by seed "
              "(one seed: the same non-FFN initial weights and batches for both) with the number of seeds on which "
              "the variant ends lower. The claims come from far larger "
              "models and corpora: a Δ here says what happens at ffnlab's scale, not whether the paper is "
              "right at its own.", ""]
    return "\n".join(lines)
