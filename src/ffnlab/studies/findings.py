"""The scaling study's rules for what counts as a finding, applied to the scaling view's tables, so the findings a
study states are generated from its records rather than picked by hand (pure pandas / numpy).

The rules (experiments/scaling/README.md, *What counts as a finding*, written before the ladder's results):

  Δ vs ReLU     a variant beats (or trails) ReLU in a (size, budget) cell when its seed-blocked 95% interval
                (ffnlab.report.blocked; until 2026-12-07 Welch's) excludes 0 and its Holm-adjusted p over the
                cell's variants is below 0.05; "indicative" when only the interval excludes 0; "equivalent" when
                its 90% interval lies inside ±0.005 nats (the pre-registered smallest effect of interest);
                otherwise a null result (the interval bounds the effect, no more).
  gated margin  the mean Δ of the gated variants every size has (scaling.gated_set), across the budgets of each
                size and across the sizes at the largest budget they all have: it "grows" or "narrows" only where
                it does so at every step it names, with the same sign throughout; the change from the first point
                to the last is given with a 95% interval that treats the seed as a block (every variant ran
                every seed, so a seed's shared part cancels; across budgets on each run's own change, as a seed's
                budgets share their stable phase), and a change whose interval includes 0 is a null result for
                the trend.
  multipliers   a compute multiplier is claimed only where the variant's Δ in that cell is a finding.
  agreement     ρ with a paper column shows the paper's order where it is positive and its exact permutation test
                (every ordering of the variants) rejects 0 at 5%, the reverse where it is negative and rejects,
                and nothing (a null result) otherwise (until 2026-12-07: where ρ's bootstrap interval excluded 0).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.stats as st

from ffnlab.report import blocked
from ffnlab.report.paper import order_key
from ffnlab.report.stats import BASELINE, holm
from ffnlab.studies.scaling import gated_set, points

ALPHA = 0.05


def classify(c: pd.DataFrame) -> pd.DataFrame:
    """The scaling cells (scaling.cells) with `p_holm` (Holm over each cell's variants, ReLU aside) and `finding`:
    'beats', 'trails', 'indicative', 'equivalent', 'null', or 'untested' (no interval); '' for ReLU itself."""
    c = c.copy()
    c["p_holm"] = math.nan
    for _, g in c[c["ffn"] != BASELINE].groupby(["size", "tokens"]):
        c.loc[g.index, "p_holm"] = holm(g["p"]).to_numpy()
    excludes = (c["delta_hi"] < 0) | (c["delta_lo"] > 0)
    held = excludes & (c["p_holm"] < ALPHA)
    lo90 = c["delta_lo90"] if "delta_lo90" in c else pd.Series(math.nan, index=c.index)
    hi90 = c["delta_hi90"] if "delta_hi90" in c else pd.Series(math.nan, index=c.index)
    equivalent = (lo90 > -blocked.DELTA) & (hi90 < blocked.DELTA)
    c["finding"] = np.where(c["ffn"] == BASELINE, "", np.where(
        held, np.where(c["delta"] < 0, "beats", "trails"),
        np.where(excludes, "indicative", np.where(equivalent, "equivalent",
                                                  np.where(c["delta_lo"].isna(), "untested", "null")))))
    return c


def block_contrast(losses: pd.DataFrame, coef: dict[str, float]) -> tuple[float, float, float]:
    """Σ c_v · mean(v) over the variants (rows) of a variants × seeds table, with its variance and degrees of
    freedom under the design's two-way model: value = variant + seed + noise. Every variant ran every seed (same
    non-FFN initial weights, same batches), so the seed's part cancels in a contrast (Σ c_v = 0) and the noise
    variance is estimated from the residuals of both effects, (V − 1)(n − 1) degrees of freedom: with two variants
    it is the paired t test. Seeds some variant lacks are dropped; NaN variance with fewer than two seeds."""
    t = losses.loc[list(coef)].dropna(axis=1)
    c = np.array([coef[v] for v in t.index])
    est = float(c @ t.mean(axis=1).to_numpy()) if t.shape[1] else math.nan
    v_, n = t.shape
    df = (v_ - 1) * (n - 1)
    if df < 1:
        return est, math.nan, math.nan
    x = t.to_numpy()
    resid = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + x.mean()
    return est, float((resid**2).sum() / df * (c**2).sum() / n), float(df)


def _interval(parts: list[tuple[float, float, float]], level: float = 0.95) -> tuple[float, float, float]:
    """The sum of independent contrasts (estimate, variance, df), with a t interval (Satterthwaite's df)."""
    est, var = sum(p[0] for p in parts), sum(p[1] for p in parts)
    if not math.isfinite(var):
        return est, math.nan, math.nan
    if var == 0:
        return est, est, est
    df = var**2 / sum(p[1] ** 2 / p[2] for p in parts if p[1] > 0)
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
    with its 95% interval (block_contrast: the seed is a block). Across budgets the sample is each run's own
    change from the first budget to the last (a seed's budgets share their stable phase); across sizes, the
    final losses of each size, whose contrasts are independent."""
    common, sizes = gated_set(runs, c)
    if not common:
        return pd.DataFrame()
    p = points(runs)
    g = c[c["ffn"].isin(common)].groupby(["size", "tokens"])["delta"]
    mean_delta = g.mean().where(g.count() == len(common))  # a point some variant has not reached yet: none
    coef = {v: 1 / len(common) for v in common} | {BASELINE: -1.0}

    def table(values: pd.Series) -> pd.DataFrame:  # variants × seeds
        return values.unstack("seed").reindex(list(coef)) if len(values) else pd.DataFrame(index=list(coef))

    rows = []
    for z in sizes:
        budgets = sorted(c.loc[c["size"] == z, "tokens"].unique())
        wide = p[p["size"] == z].pivot_table(index=["ffn", "seed"], columns="tokens", values="loss")
        change = table(wide[budgets[-1]] - wide[budgets[0]])
        rows.append(("budgets", z, budgets, [mean_delta.get((z, t), math.nan) for t in budgets],
                     [block_contrast(change, coef)] if len(budgets) > 1 else []))
    if len(sizes) > 1:
        t_all = c[c["size"].isin(sizes)].groupby("size")["tokens"].max().min()
        at = p[p["tokens"] == t_all].set_index(["ffn", "seed"])
        parts = [block_contrast(table(at.loc[at["size"] == z, "loss"]), {v: sign * w for v, w in coef.items()})
                 for z, sign in ((sizes[-1], 1.0), (sizes[0], -1.0))]
        rows.append(("sizes", t_all, sizes, [mean_delta.get((z, t_all), math.nan) for z in sizes], parts))
    out = []
    for along, at_, pts, deltas, parts in rows:
        _, lo, hi = _interval(parts) if parts else (math.nan,) * 3
        out.append({"along": along, "at": at_, "points": pts, "deltas": deltas,
                    "pattern": _pattern(deltas, along[:-1]), "change": deltas[-1] - deltas[0],
                    "change_lo": lo, "change_hi": hi, "variants": ", ".join(common)})
    return pd.DataFrame(out)


def agreement_counts(agree: pd.DataFrame) -> pd.DataFrame:
    """Per paper column: the cells (ranking 3 variants or more) whose ρ is positive and rejects 0 by the exact
    permutation test at 5% ('shown'), negative and rejects ('reversed'), and the rest ('null')."""
    a = agree[(agree["n_variants"] >= 3) & agree["spearman_rho"].notna()]
    rows = []
    for ref, g in a.groupby("reference", sort=False):
        rejects = g["rho_p"] < ALPHA
        shown, reversed_ = g[rejects & (g["spearman_rho"] > 0)], g[rejects & (g["spearman_rho"] < 0)]
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
             f"{counts.get('beats', 0)} beat ReLU and {counts.get('trails', 0)} trail it (seed-blocked 95% "
             "interval excluding 0 and Holm-adjusted p < 0.05 over the cell's variants); "
             f"{counts.get('indicative', 0)} are indicative (the interval excludes 0, Holm's correction does not "
             f"hold); {counts.get('equivalent', 0)} are equivalent to ReLU (90% interval inside ±"
             f"{blocked.DELTA} nats); {counts.get('null', 0)} are null results (the interval includes 0)"
             + (f"; {counts['untested']} have one seed on a side, so no interval" if counts.get("untested") else "")
             + "."]
    for kind in ("beats", "trails", "indicative", "equivalent"):
        k = v[v["finding"] == kind]
        if len(k):
            lines += ["", f"{kind.capitalize()}: " + "; ".join(f"{r.ffn} at {_cell(r.size, r.tokens)} ({_delta(r)})"
                                                               for r in k.itertuples()) + "."]
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
    lines += _margin_lines(m, sizes)
    claims = _multiplier_claims(v)
    if claims:
        lines += ["", "**Compute multipliers** at each size's largest budget, claimed only where the Δ is a finding: "
                  + claims]
    a = agreement_counts(agree)
    if len(a):
        lines += ["", "**Agreement with the papers** (cells ranking the same variants; shown: ρ > 0 and its exact "
                  "permutation test rejects 0 at 5%, reversed: ρ < 0 and it rejects, else a null result):", ""]
        for r in a.itertuples():
            where = lambda cells: "; ".join(_cell(z, t) for z, t in cells)  # noqa: E731
            lines.append(f"- {r.reference}: shown in {r.shown} of {r.cells} cells"
                         + (f" ({where(r.shown_at)})" if r.shown else "")
                         + f", reversed in {r.reversed}" + (f" ({where(r.reversed_at)})" if r.reversed else "")
                         + f", null in {r.null}.")
    return "\n".join(lines) + "\n"


def _margin_lines(m: pd.DataFrame, sizes: list) -> list[str]:
    """The gated margin's lines of the findings section: its path across budgets and across sizes, with the
    change's interval (empty without margins)."""
    if not len(m):
        return []
    pending = sorted(set(sizes) - set(m.loc[m["along"] == "budgets", "at"]))
    left = f"; {', '.join(f'{z:,}' for z in pending)} params left out until all of them have run there"
    lines = ["", f"**The gated margin** (mean Δ vs ReLU of {m['variants'].iloc[0]}; change: last − first, "
              "95% interval with the seed as a block" + (left if pending else "") + "):", ""]
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
    return lines


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
