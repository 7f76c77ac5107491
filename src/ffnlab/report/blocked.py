"""The seed-blocked analysis: a cell's losses as a randomized complete block design, `loss ~ variant + seed`.

Why it is valid: every variant of a seed starts from the same non-FFN initial weights (seeded by parameter name)
and reads the same batches in the same order (data_seed = seed), so a seed is a block and the variants are the
treatments within it. What a seed does to all variants alike cancels in every contrast between variants, and
the noise is the pooled residual of the two-way fit, with (variants − 1)·(blocks − 1) degrees of freedom.

Read top to bottom: the blocks (every seed holding two variants; one some variant lacks is an incomplete block,
and the contrasts are then the fit's, not raw means) → the fit (statsmodels OLS) → its assumption, one residual
spread for every variant (Brown–Forsythe, scipy's median-centred `levene`), with paired per-block contrasts
where it fails → a contrast's estimate and intervals → the pre-registered classes (difference, equivalent,
unresolved) with Holm within a family → how many blocks an unresolved contrast would need. Pure pandas, scipy
and statsmodels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as st
from statsmodels.stats.multitest import multipletests

SPREAD_ALPHA = 0.01  # Brown–Forsythe p below this: the cell's contrasts use paired per-block differences
DELTA = 0.005  # the smallest effect of interest in nats (experiments/scaling/README.md, pre-registered)
POCOCK_ALPHA = 0.0182  # nominal level per look for 4 looks (5..8 blocks), two-sided overall 0.05


@dataclass
class Fit:
    """A cell's two-way fit over its blocks."""

    table: pd.DataFrame  # variant × seed losses (NaN: a variant missing from that block)
    resid_sd: float  # pooled residual standard deviation
    df: int  # residual degrees of freedom: (variants − 1)(blocks − 1) when every block is complete
    spread_p: float  # Brown–Forsythe p for equal residual spread across variants (NaN below 3 blocks: untestable)
    method: str  # "pooled" (the two-way fit) or "paired" (per-block contrasts: the spread differs)
    model: object | None  # the statsmodels result (None where it cannot be fitted)
    reference: str = "relu"  # the variant the fit's treatment coding measures from

    @property
    def blocks(self) -> int:
        return self.table.shape[1]


def block_table(cell: pd.DataFrame, value: str = "final_val_loss") -> pd.DataFrame:
    """variant × seed table of `value` over the seeds that hold two variants or more (a seed with one variant
    says nothing about a difference); a missing cell stays NaN (an incomplete block)."""
    table = cell.pivot_table(index="ffn", columns="seed", values=value, aggfunc="mean")
    return table.loc[:, table.notna().sum() >= 2].sort_index(axis=1)


def fit(cell: pd.DataFrame, value: str = "final_val_loss", baseline: str = "relu") -> Fit:
    """The two-way fit `value ~ C(ffn) + C(seed)` by least squares over every seed holding two variants or more
    (ReLU the reference level). With every variant at every seed it is the randomized complete block design's
    analysis; a seed some variant lacks is an incomplete block, and the contrasts are the fit's, not raw means."""
    import statsmodels.formula.api as smf

    table = block_table(cell, value)
    v, b = table.shape
    if v < 2 or b < 2:
        return Fit(table, math.nan, 0, math.nan, "pooled", None)
    long = table.stack().rename("y").reset_index().dropna(subset=["y"])
    long["ffn"], long["seed"] = long["ffn"].astype(str), long["seed"].astype(str)
    ref = baseline if baseline in table.index else str(table.index[0])
    model = smf.ols(f"y ~ C(ffn, Treatment('{ref}')) + C(seed)", data=long).fit()
    if model.df_resid < 1:
        return Fit(table, math.nan, 0, math.nan, "pooled", None)
    spread_p = math.nan
    if b >= 3:  # with 2 blocks a variant's two residuals are ±r: its spread is not testable
        resid = long.assign(r=model.resid.to_numpy())
        groups = [g["r"].to_numpy() for _, g in resid.groupby("ffn")]
        with np.errstate(invalid="ignore", divide="ignore"):  # residuals all 0: no spread to compare (NaN)
            spread_p = float(st.levene(*groups, center="median").pvalue)
    method = "paired" if spread_p < SPREAD_ALPHA else "pooled"
    return Fit(table, float(np.sqrt(model.scale)), int(model.df_resid), spread_p, method, model, ref)


@dataclass
class Contrast:
    name: str
    estimate: float
    lo: float  # 95% interval
    hi: float
    p: float  # two-sided, H0: 0
    lo90: float  # 90% interval (two one-sided tests at 5%: equivalence)
    hi90: float
    se: float
    df: float
    method: str


def contrast(f: Fit, weights: dict[str, float], name: str = "") -> Contrast:
    """Σ w·mean(variant) with its intervals: from the pooled fit, or from per-block contrast values (paired)."""
    w = pd.Series(weights, dtype=float).reindex(f.table.index).fillna(0.0)
    missing = {v for v, x in weights.items() if x} - set(f.table.index)
    if missing or f.model is None or f.blocks < 2:
        return Contrast(name, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, f.method)
    if f.method == "paired":  # each block's own contrast, over the blocks that hold every variant it names
        support = [v for v in w.index if w[v] != 0]
        rows = f.table.loc[support].dropna(axis=1)
        per_block = rows.mul(w[support], axis=0).sum(axis=0).to_numpy()
        if len(per_block) < 2:
            return _intervals(name, math.nan, math.nan, 0, f.method)
        est, se = float(per_block.mean()), float(per_block.std(ddof=1) / math.sqrt(len(per_block)))
        return _intervals(name, est, se, len(per_block) - 1, f.method)
    names = f.model.params.index
    level = lambda v: f"C(ffn, Treatment('{f.reference}'))[T.{v}]"  # noqa: E731
    vec = np.array([w.get(n.split("[T.")[1][:-1], 0.0) if n.startswith("C(ffn") else 0.0 for n in names])
    assert all(level(v) in names for v in w.index if v != f.reference and w[v] != 0)
    est = float(vec @ f.model.params.to_numpy())
    se = float(np.sqrt(vec @ f.model.cov_params().to_numpy() @ vec))
    return _intervals(name, est, se, f.df, f.method)


def _intervals(name: str, est: float, se: float, df: float, method: str) -> Contrast:
    if not math.isfinite(est):
        return Contrast(name, est, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, df, method)
    if not (se > 0 and df > 0):
        return Contrast(name, est, est, est, 1.0 if est == 0 else 0.0, est, est, se, df, method)
    t95, t90 = st.t.ppf(0.975, df), st.t.ppf(0.95, df)
    p = float(2 * st.t.sf(abs(est) / se, df))
    return Contrast(name, est, est - t95 * se, est + t95 * se, p, est - t90 * se, est + t90 * se, se, df, method)


def mean_of(group_a: list[str], group_b: list[str]) -> dict[str, float]:
    """The weights of mean(group_a) − mean(group_b)."""
    w = {v: 1.0 / len(group_a) for v in group_a}
    for v in group_b:
        w[v] = w.get(v, 0.0) - 1.0 / len(group_b)
    return w


def holm(p: pd.Series) -> pd.Series:
    """Holm-adjusted p-values (statsmodels' multipletests); NaN stays NaN."""
    ok = p.dropna()
    if ok.empty:
        return p.astype(float)
    return pd.Series(multipletests(ok.to_numpy(), method="holm")[1], index=ok.index).reindex(p.index)


def classify(c: Contrast, p_holm: float, delta: float = DELTA, alpha: float = 0.05) -> str:
    """difference (95% interval excludes 0 and Holm p < alpha) | equivalent (90% interval inside ±delta) |
    unresolved | untested (no interval)."""
    if not math.isfinite(c.lo):
        return "untested"
    if (c.lo > 0 or c.hi < 0) and p_holm < alpha:
        return "difference"
    if -delta < c.lo90 and c.hi90 < delta:
        return "equivalent"
    return "unresolved"


def resolved_at_look(c: Contrast, alpha: float = POCOCK_ALPHA, delta: float = DELTA) -> bool:
    """The stopping rule's test at one look: the (1 − α) interval excludes 0, or the (1 − 2α) one lies in ±δ."""
    if not (c.se > 0 and c.df > 0):
        return False
    t2, t1 = st.t.ppf(1 - alpha / 2, c.df), st.t.ppf(1 - alpha, c.df)
    return abs(c.estimate) > t2 * c.se or (abs(c.estimate) + t1 * c.se < delta)


def blocks_needed(c: Contrast, f: Fit, family: int = 1, delta: float = DELTA, cap: int = 50) -> float:
    """The fewest blocks (more than the fit has) at which this contrast, at its current estimate and the cell's
    residual spread, would be a difference (off 0 at Bonferroni's 0.05/family, which Holm's first step equals and
    its later steps relax) or equivalent (90% interval inside ±δ); NaN beyond `cap` or untestable."""
    if not (math.isfinite(c.estimate) and math.isfinite(c.se) and c.se > 0):
        return math.nan
    v = f.table.shape[0]
    per_block_sd = c.se * math.sqrt(f.blocks)  # SE × √blocks: the spread of one block's contrast
    for b in range(f.blocks + 1, cap + 1):
        df = (v - 1) * (b - 1) if f.method == "pooled" else b - 1
        se = per_block_sd / math.sqrt(b)
        off = abs(c.estimate) > st.t.ppf(1 - 0.025 / family, df) * se
        if off or abs(c.estimate) + st.t.ppf(0.95, df) * se < delta:
            return float(b)
    return math.nan


def table(f: Fit, contrasts: dict[str, dict[str, float]], delta: float = DELTA) -> pd.DataFrame:
    """One row per named contrast (one Holm family): estimate, 95% and 90% intervals, p, Holm p, class, blocks
    needed, with the method, residual SD, df and blocks of the fit."""
    rows = [contrast(f, w, name) for name, w in contrasts.items()]
    out = pd.DataFrame([vars(c) for c in rows]).set_index("name") if rows else pd.DataFrame()
    if out.empty:
        return out
    out["p_holm"] = holm(out["p"])
    out["verdict"] = [classify(c, out.loc[c.name, "p_holm"], delta) for c in rows]
    out["blocks_needed"] = [blocks_needed(c, f, len(rows), delta) if out.loc[c.name, "verdict"] ==
                            "unresolved" else math.nan for c in rows]
    out["resolved_at_look"] = [resolved_at_look(c, delta=delta) for c in rows]
    out["blocks"], out["resid_sd"], out["spread_p"] = f.blocks, f.resid_sd, f.spread_p
    return out
