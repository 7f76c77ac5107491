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

from ffnlab.report import blocked
from ffnlab.report.paper import BASELINE, CLAIMS
from ffnlab.report.stats import welch


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


def _claim_tests(ok: pd.DataFrame, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """Each (variant, compared variant): the seed-blocked Δ over the seeds both have (a paired t with two
    variants), Holm over every claim test of the table, the verdict, and whether the two ran on other machines."""
    rows = []
    for name, other in pairs:
        sub = ok[ok["ffn"].isin([name, other])]
        f = blocked.fit(sub, baseline=other)
        c = blocked.contrast(f, {name: 1.0, other: -1.0}, f"{name} vs {other}")
        machines = [set(sub.loc[sub["ffn"] == v, "machine"].dropna()) if "machine" in sub else set()
                    for v in (name, other)]
        rows.append({**vars(c), "ffn": name, "other": other, "n": int(f.blocks),
                     "machines_differ": machines[0] != machines[1]})
    t = pd.DataFrame(rows)
    if len(t):
        t["p_holm"] = blocked.holm(t["p"])
        t["verdict"] = [blocked.classify(blocked.Contrast(**{k: r[k] for k in blocked.Contrast.__dataclass_fields__}),
                                         r["p_holm"]) for _, r in t.iterrows()]
    return t


def table(runs: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """One row per claimed variant: paper, claim, n, Δ vs ReLU (the summary's primary test, Holm p), and Δ vs each
    compared variant, seed-blocked, Holm over all the table's claim tests, with Welch's interval beside it."""
    ok = runs[runs["status"] == "ok"]
    losses = {n: g["final_val_loss"].to_numpy() for n, g in ok.groupby("ffn")}
    named = [n for n in summary.index if n in CLAIMS]
    pairs = [(n, o) for n in named for o in CLAIMS[n][2] if o in losses and o != BASELINE]
    tests = _claim_tests(ok, pairs).set_index(["ffn", "other"]) if pairs else pd.DataFrame()
    rows = []
    for name in named:
        paper, claim, against = CLAIMS[name]
        s = summary.loc[name]
        blocked_primary = s.get("test") == "seed-blocked"
        lo, hi, pcol = (("blocked_lo", "blocked_hi", "p_blocked_holm") if blocked_primary
                        else ("delta_lo", "delta_hi", "p_holm"))
        compared = [o for o in against if o in losses and o != BASELINE]
        others = []
        for o in compared:
            r = tests.loc[(name, o)]
            others.append(f"vs {o}: {_delta(r['estimate'], r['lo'], r['hi'])} (Holm p {r['p_holm']:.2g}, "
                          f"{r['verdict']}; {r['n']} seeds{'; other machines †' if r['machines_differ'] else ''})")
        welch_ = [f"vs {o}: {_delta(*welch(losses[name], losses[o])[:3])}" for o in compared]
        rows.append({"ffn": name, "paper": paper, "claim": claim, "n": int(s["n_seeds"]),
                     "delta_vs_relu": _delta(s.get("delta", math.nan), s.get(lo, math.nan), s.get(hi, math.nan)),
                     "p_holm": s.get(pcol, math.nan), "vs_compared": "; ".join(others),
                     "vs_compared_welch": "; ".join(welch_)})
    return pd.DataFrame(rows)


def markdown(t: pd.DataFrame) -> str:
    lines = ["| FFN | paper | the paper's claim | n | Δ vs ReLU [95% CI] | p (Holm) | Δ vs the compared variants, "
             "seed-blocked [95% CI] | the same, Welch [95% CI] |", "|---|---|---|---|---|---|---|---|"]
    for _, r in t.iterrows():
        p = f"{r['p_holm']:.3g}" if math.isfinite(r["p_holm"]) else ""
        lines.append(f"| {r['ffn']} | {r['paper']} | {r['claim']} | {r['n']} | {r['delta_vs_relu']} | {p} | "
                     f"{r['vs_compared']} | {r['vs_compared_welch']} |")
    lines += ["", "Δ: final validation loss minus the other variant's, mean over seeds (nats; < 0: lower loss). "
              "Δ vs ReLU and its p are the summary's primary test (seed-blocked, Holm-Bonferroni over the "
              "variants). The Δs vs the compared variants are seed-blocked too, over the seeds both variants have "
              "(one seed: the same non-FFN initial weights and batches for both; with two variants, the paired t "
              "test), Holm-adjusted over every claim test in this table, with the verdict (difference: interval "
              "excludes 0 and Holm p < 0.05; equivalent: 90% interval inside ±0.005 nats; else unresolved); "
              "Welch's unpaired intervals beside them, uncorrected. †: the two variants' runs were trained on "
              "different machines (machines.md), so a Δ also carries the machines' floating-point difference. "
              "The claims come from far larger models and corpora: a Δ here says what happens at ffnlab's scale, "
              "not whether the paper is right at its own.", ""]
    return "\n".join(lines)
