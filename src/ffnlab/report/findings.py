"""The scaling study's rules for what counts as a finding, applied to the scaling view's tables, so the findings a
study states are generated from its records rather than picked by hand (pure pandas / numpy).

The rules (experiments/scaling/README.md, *What counts as a finding*, written before the ladder's results):

  Δ vs ReLU     a variant beats (or trails) ReLU in a (size, budget) cell when its Welch 95% interval excludes 0
                and its Holm-adjusted p over the cell's variants is below 0.05; "indicative" when only the interval
                excludes 0; otherwise a null result (the interval bounds the effect, no more).
  gated margin  the mean Δ of the gated variants every size has (scaling.gated_set), across the budgets of each size and across the
                sizes at the largest budget they all have: it "grows" or "narrows" only where it does so at every
                step it names, with the same sign throughout; the change from the first point to the last is
                given with a Welch interval (across budgets, on each seed's own change: its budgets share their
                stable phase), and a change whose interval includes 0 is a null result for the trend.
  multipliers   a compute multiplier is claimed only where the variant's Δ in that cell is a finding.
  agreement     ρ with a paper column shows the paper's order where its interval lies above 0, the reverse where
                it lies below, and nothing (a null result) otherwise.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.stats as st

from ffnlab.report.paper import order_key
from ffnlab.report.scaling import gated_set, points
from ffnlab.report.stats import BASELINE, holm

ALPHA = 0.05


def classify(c: pd.DataFrame) -> pd.DataFrame:
    """The scaling cells (scaling.cells) with `p_holm` (Holm over each cell's variants, ReLU aside) and `finding`:
    'beats', 'trails', 'indicative', 'null', or 'untested' (one seed: no interval); '' for ReLU itself."""
    c = c.copy()
    c["p_holm"] = math.nan
    for _, g in c[c["ffn"] != BASELINE].groupby(["size", "tokens"]):
        c.loc[g.index, "p_holm"] = holm(g["p"]).to_numpy()
    excludes = (c["delta_hi"] < 0) | (c["delta_lo"] > 0)
    held = excludes & (c["p_holm"] < ALPHA)
    c["finding"] = np.where(c["ffn"] == BASELINE, "", np.where(
        held, np.where(c["delta"] < 0, "beats", "trails"),
        np.where(excludes, "indicative", np.where(c["delta_lo"].isna(), "untested", "null"))))
    return c


def welch_sum(groups: list[tuple[float, np.ndarray]], level: float = 0.95) -> tuple[float, float, float]:
    """Σ cᵢ·mean(xᵢ) over independent samples xᵢ, with its Welch–Satterthwaite interval (the two-sample Welch
    interval when the coefficients are +1 and −1). NaN bounds where a sample has fewer than 2 values."""
    est = sum(cf * np.mean(x) for cf, x in groups)
    if any(len(x) < 2 for _, x in groups):
        return est, math.nan, math.nan
    terms = [cf**2 * np.var(x, ddof=1) / len(x) for cf, x in groups]
    var = sum(terms)
    if var == 0:
        return est, est, est
    df = var**2 / sum(t**2 / (len(x) - 1) for t, (_, x) in zip(terms, groups, strict=True))
    half = st.t.ppf(0.5 + level / 2, df) * math.sqrt(var)
    return est, est - half, est + half


def _pattern(deltas: list[float], along: str) -> str:
    """The rule's words for a sequence of mean Δs: the sign at every point, then the size at every step."""
    d = np.asarray(deltas, float)
    if len(d) < 2:
        return ""
    if not np.isfinite(d).all():
        return f"incomplete (a {along} some variant has not reached yet)"
    if (d < 0).all() or (d > 0).all():
        side = "leads" if d[0] < 0 else "trails"
        steps = np.diff(np.abs(d))
        trend = ("grows at every step" if (steps > 0).all() else "narrows at every step" if (steps < 0).all()
                 else "without a monotone trend")
        return f"{side} at every {along}, {trend}"
    moves = np.diff(d)
    how = (", falling at every step (from trailing ReLU to leading it)" if (moves < 0).all() else
           ", rising at every step (from leading ReLU to trailing it)" if (moves > 0).all() else "")
    return f"changes sign across the {along}s{how}"


def margins(runs: pd.DataFrame, c: pd.DataFrame) -> pd.DataFrame:
    """The gated margin (module docstring): one row per size across its budgets, and one across the sizes at the
    largest budget every size has, with the mean Δ at each point, the pattern, and the change (last − first)
    with its Welch 95% interval. Across budgets a seed is its own control: each seed's change from the first
    budget to the last (the runs share their stable phase) is the sample, per variant; across sizes the
    runs are independent, and each variant's final losses are the samples."""
    common, sizes = gated_set(runs, c)
    if not common:
        return pd.DataFrame()
    p = points(runs)
    g = c[c["ffn"].isin(common)].groupby(["size", "tokens"])["delta"]
    mean_delta = g.mean().where(g.count() == len(common))  # a point some variant has not reached yet: none
    weights = [(v, 1 / len(common)) for v in common] + [(BASELINE, -1.0)]
    rows = []
    for z in sizes:
        budgets = sorted(c.loc[c["size"] == z, "tokens"].unique())
        wide = p[p["size"] == z].pivot_table(index=["ffn", "seed"], columns="tokens", values="loss")
        change = (wide[budgets[-1]] - wide[budgets[0]]).dropna() if len(budgets) > 1 else pd.Series(dtype=float)
        groups = [(w, change.xs(v).to_numpy()) for v, w in weights if v in change.index.get_level_values(0)]
        rows.append(("budgets", z, budgets, [mean_delta.get((z, t), math.nan) for t in budgets],
                     groups if len(groups) == len(weights) else []))
    if len(sizes) > 1:
        t_all = c[c["size"].isin(sizes)].groupby("size")["tokens"].max().min()
        at = p[p["tokens"] == t_all]
        groups = [(sign * w, at.loc[(at["size"] == z) & (at["ffn"] == v), "loss"].to_numpy())
                  for z, sign in ((sizes[-1], 1.0), (sizes[0], -1.0)) for v, w in weights]
        rows.append(("sizes", t_all, sizes, [mean_delta.get((z, t_all), math.nan) for z in sizes],
                     groups if all(len(x) for _, x in groups) else []))
    out = []
    for along, at_, pts, deltas, groups in rows:
        est, lo, hi = welch_sum(groups) if groups else (math.nan,) * 3
        out.append({"along": along, "at": at_, "points": pts, "deltas": deltas,
                    "pattern": _pattern(deltas, along[:-1]), "change": deltas[-1] - deltas[0],
                    "change_lo": lo, "change_hi": hi, "variants": ", ".join(common)})
    return pd.DataFrame(out)


def agreement_counts(agree: pd.DataFrame) -> pd.DataFrame:
    """Per paper column: the cells (ranking 3 variants or more) whose ρ interval lies above 0 ('shown'), below 0
    ('reversed'), and the rest ('null')."""
    a = agree[(agree["n_variants"] >= 3) & agree["spearman_rho"].notna()]
    rows = []
    for ref, g in a.groupby("reference", sort=False):
        shown, reversed_ = g[g["rho_lo"] > 0], g[g["rho_hi"] < 0]
        rows.append({"reference": ref, "cells": len(g), "shown": len(shown), "reversed": len(reversed_),
                     "null": len(g) - len(shown) - len(reversed_),
                     "shown_at": list(zip(shown["size"], shown["tokens"], strict=True)),
                     "reversed_at": list(zip(reversed_["size"], reversed_["tokens"], strict=True))})
    return pd.DataFrame(rows)


def _cell(size: int, tokens: int) -> str:
    return f"{size:,} params, {tokens / 1e6:g}M tokens"


def _delta(r) -> str:
    return f"{r.delta:+.3f} [{r.delta_lo:+.3f}, {r.delta_hi:+.3f}], Holm p {r.p_holm:.2g}"


def markdown(c: pd.DataFrame, m: pd.DataFrame, agree: pd.DataFrame) -> str:
    """The findings section of scaling.md: `c` from classify, `m` from margins, `agree` from scaling.agreement."""
    v = c[c["ffn"] != BASELINE]
    if v.empty:
        return ""
    counts = v["finding"].value_counts()
    lines = ["## Findings by the study's rules", "",
             "The rules of experiments/scaling/README.md (*What counts as a finding*), applied to the tables below.",
             "", f"**Δ vs ReLU.** Of {len(v)} comparisons (variant × size × budget), "
             f"{counts.get('beats', 0)} beat ReLU and {counts.get('trails', 0)} trail it (Welch 95% interval "
             "excluding 0 and Holm-adjusted p < 0.05 over the cell's variants); "
             f"{counts.get('indicative', 0)} are indicative (the interval excludes 0, Holm's correction does not "
             f"hold); {counts.get('null', 0)} are null results (the interval includes 0)"
             + (f"; {counts['untested']} have one seed on a side, so no interval" if counts.get("untested") else "")
             + "."]
    for kind in ("beats", "trails", "indicative"):
        k = v[v["finding"] == kind]
        if len(k):
            lines.append(f"{kind.capitalize()}: " + "; ".join(f"{r.ffn} at {_cell(r.size, r.tokens)} ({_delta(r)})"
                                                           for r in k.itertuples()) + ".")
    lines += ["", "Sign of Δ vs ReLU at each budget, smallest first (−: lower loss than ReLU; **bold**: a finding, "
              "*italic*: indicative):", ""]
    sizes = sorted(v["size"].unique())
    lines += ["| FFN | " + " | ".join(f"{z:,} params" for z in sizes) + " |", "|---|" + "---|" * len(sizes)]
    variants = pd.Index(v["ffn"].unique())
    for name in variants[order_key(variants).argsort(kind="stable")]:
        cells = []
        for z in sizes:
            g = v[(v["ffn"] == name) & (v["size"] == z)].sort_values("tokens")
            marks = [("−" if r.delta < 0 else "+") for r in g.itertuples()]
            marks = [f"**{s}**" if r.finding in ("beats", "trails") else f"*{s}*" if r.finding == "indicative" else s
                     for s, r in zip(marks, g.itertuples(), strict=True)]
            cells.append(" ".join(marks) if marks else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if len(m):
        pending = sorted(set(sizes) - set(m.loc[m["along"] == "budgets", "at"]))
        lines += ["", f"**The gated margin** (mean Δ vs ReLU of {m['variants'].iloc[0]}; change: last − first, "
                  "Welch 95% interval" + (f"; {', '.join(f'{z:,}' for z in pending)} params left out until all of "
                                          "them have run there" if pending else "") + "):", ""]
        for r in m.itertuples():
            where = f"at {r.at:,} params, across budgets" if r.along == "budgets" else \
                f"at {r.at / 1e6:g}M tokens, across sizes"
            label = (lambda x: f"{x / 1e6:g}M") if r.along == "budgets" else (lambda x: f"{x:,}")
            path = " → ".join(f"{d:+.3f} ({label(x)})" for x, d in zip(r.points, r.deltas, strict=True))
            trend = ("" if not math.isfinite(r.change_lo) else
                     "; its interval excludes 0" if r.change_lo > 0 or r.change_hi < 0 else
                     "; its interval includes 0: no trend beyond the seeds' spread (a null result)")
            ci = f" [{r.change_lo:+.3f}, {r.change_hi:+.3f}]" if math.isfinite(r.change_lo) else ""
            lines.append(f"- {where}: {path}: {r.pattern or 'one point'}; change {r.change:+.3f}{ci}{trend}.")
    claims = _multiplier_claims(v)
    if claims:
        lines += ["", "**Compute multipliers** at each size's largest budget, claimed only where the Δ is a finding: "
                  + claims]
    a = agreement_counts(agree)
    if len(a):
        lines += ["", "**Agreement with the papers** (cells ranking the same variants; shown: ρ's interval above 0, "
                  "reversed: below 0, else a null result):", ""]
        for r in a.itertuples():
            where = lambda cells: ", ".join(_cell(z, t) for z, t in cells)  # noqa: E731
            lines.append(f"- {r.reference}: shown in {r.shown} of {r.cells} cells"
                         + (f" ({where(r.shown_at)})" if r.shown else "")
                         + f", reversed in {r.reversed}" + (f" ({where(r.reversed_at)})" if r.reversed else "")
                         + f", null in {r.null}.")
    return "\n".join(lines) + "\n"


def _multiplier_claims(v: pd.DataFrame) -> str:
    if "multiplier" not in v:
        return ""
    last = v[v["tokens"] == v.groupby("size")["tokens"].transform("max")]
    parts = []
    for z, g in last.groupby("size", sort=True):
        held = g[g["finding"].isin(["beats", "trails"]) & g["multiplier"].notna()]
        said = ", ".join(f"{r.ffn} {r.bound}{r.multiplier:.2f}×" + (
            f" [{r.multiplier_lo:.2f}, {r.multiplier_hi:.2f}]" if math.isfinite(getattr(r, "multiplier_lo", math.nan))
            else "") for r in held.itertuples())
        parts.append(f"{_cell(z, g['tokens'].iloc[0])}: " + (said if said else "none (no Δ there is a finding)"))
    return "; ".join(parts) + "."
