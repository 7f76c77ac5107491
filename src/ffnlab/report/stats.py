"""Statistics over seeds: mean ± std, Δ vs ReLU with a Welch interval and test, Holm correction, rank agreement."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as st

from ffnlab.errors import ReportError
from ffnlab.report import blocked
from ffnlab.report.blocked import holm
from ffnlab.report.paper import BASELINE, order_key, reference_table

__all__ = ["BASELINE", "CORRECTION", "agreement", "holm", "holm_levels", "paired", "permutation_p", "rank_corr",
           "rank_corr_rows",
           "seeds_needed", "summarize", "welch", "welch_power"]
CORRECTION = "Holm-Bonferroni"


def welch(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """Δ = mean(a) − mean(b), its Welch confidence interval and two-sided p-value (scipy's ttest_ind, unequal
    variances). NaN where n < 2."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    delta = a.mean() - b.mean() if len(a) and len(b) else math.nan
    if len(a) < 2 or len(b) < 2:
        return delta, math.nan, math.nan, math.nan
    if a.var(ddof=1) + b.var(ddof=1) == 0:  # no spread: scipy has no interval; the difference is exact
        return delta, delta, delta, (1.0 if delta == 0 else 0.0)
    t = st.ttest_ind(a, b, equal_var=False)
    ci = t.confidence_interval(level)
    return delta, float(ci.low), float(ci.high), float(t.pvalue)


def paired(a: pd.Series, b: pd.Series, level: float = 0.95) -> tuple[float, float, float, float, int]:
    """Δ over seeds both have (a and b indexed by seed): mean difference, t interval, paired p (scipy's ttest_rel),
    n pairs.

    At one seed every variant shares its non-FFN initial weights and its batches, so pairing by seed
    removes that shared part of the seed-to-seed spread.
    """
    d = (a - b).dropna()
    n = len(d)
    if n < 2:
        return (d.mean() if n else math.nan), math.nan, math.nan, math.nan, n
    if d.std(ddof=1) == 0:  # no spread: scipy has no interval; the difference is exact
        return d.mean(), d.mean(), d.mean(), (1.0 if d.mean() == 0 else 0.0), n
    t = st.ttest_rel(a[d.index], b[d.index])
    ci = t.confidence_interval(level)
    return d.mean(), float(ci.low), float(ci.high), float(t.pvalue), n


def welch_power(delta: float, sd_a: float, sd_b: float, n: int, level: float) -> float:
    """Power of the two-sided Welch test at significance `level` with n seeds per group, when the true difference
    is `delta` and the seed-to-seed standard deviations are sd_a and sd_b (noncentral t, Welch's df)."""
    va, vb = sd_a**2 / n, sd_b**2 / n
    se = math.sqrt(va + vb)
    if n < 2 or se == 0:
        return math.nan
    df = (va + vb) ** 2 / (va**2 / (n - 1) + vb**2 / (n - 1))
    crit = st.t.ppf(1 - level / 2, df)
    nc = abs(delta) / se
    return float(st.nct.sf(crit, df, nc) + st.nct.cdf(-crit, df, nc))


def seeds_needed(delta: float, sd_a: float, sd_b: float, level: float, power: float = 0.8,
                 max_seeds: int = 1000) -> float:
    """The fewest seeds per variant (the baseline too) at which the Welch test at `level` detects `delta` with
    the given power, if the spread stays as measured. NaN where it cannot be said (no spread, no Δ) or beyond
    max_seeds."""
    if any(not math.isfinite(x) for x in (delta, sd_a, sd_b)) or delta == 0 or sd_a + sd_b == 0:
        return math.nan
    for n in range(2, max_seeds + 1):
        if welch_power(delta, sd_a, sd_b, n, level) >= power:
            return float(n)
    return math.nan


def holm_levels(pvalues: pd.Series, alpha: float = 0.05) -> pd.Series:
    """The level each test faces in Holm's step-down procedure at its current place: α/m for the smallest p,
    α/(m−1) for the next, ... (NaN stays NaN)."""
    p = pvalues.dropna().sort_values(kind="stable")
    m = len(p)
    return pd.Series([alpha / (m - i) for i in range(m)], index=p.index).reindex(pvalues.index)


def summarize(runs: pd.DataFrame, alpha: float = 0.05, horizon: str = "final") -> pd.DataFrame:
    """One row per variant from the finished runs of ONE setting (see collect.setting_columns).

    `horizon="early"` puts the 1/8-budget loss in the place of the final one (loss, Δ, test, rank).
    """
    if horizon not in ("final", "early"):
        raise ReportError(f"horizon must be 'final' or 'early', got {horizon!r}")
    ok = runs[runs["status"] == "ok"]
    if horizon == "early":
        ok = ok.assign(final_val_loss=ok["early_val_loss"])
    if ok.empty:
        return pd.DataFrame()
    g = ok.groupby("ffn")
    out = pd.DataFrame({
        "n_seeds": g["final_val_loss"].count(),
        "val_loss": g["final_val_loss"].mean(),
        "val_loss_std": g["final_val_loss"].std(ddof=1),
        "early_val_loss": g["early_val_loss"].mean(),
        "early_val_loss_std": g["early_val_loss"].std(ddof=1),
        "test_loss": g["final_test_loss"].mean(),
        "val_bpb": g["final_val_bpb"].mean(),
        "d_ff": g["d_ff"].first(),
        "params_ffn": g["params_ffn"].first(),
        "params_total": g["params_total"].first(),
        "flops_per_token": g["flops_per_token"].first(),
        "tokens_per_s": g["tokens_per_s"].median(),
        "peak_rss_mb": g["peak_rss_mb"].max(),
    })
    if "peak_gpu_mb" in ok and ok["peak_gpu_mb"].notna().any():  # GPU runs: the device's peak, not only the host's
        out["peak_gpu_mb"] = g["peak_gpu_mb"].max()
    out["val_ppl"] = np.exp(out["val_loss"])
    failed = runs[runs["status"] != "ok"].groupby("ffn")["status"].agg(lambda s: ", ".join(sorted(s)))
    out["not_ok"] = failed.reindex(out.index).fillna("")
    if BASELINE in out.index:
        out = _versus_baseline(out, ok, alpha)
    out["rank"] = out["val_loss"].rank(method="min").astype(int)
    out = out.join(reference_table(), how="left")
    out.index.name = "ffn"
    return out.sort_index(key=order_key)


def _versus_baseline(out: pd.DataFrame, ok: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """summarize's comparison columns: each variant's Δ vs ReLU by Welch (final and early), paired by seed and
    seed-blocked, Holm over the variants, the seeds (or blocks) that would resolve it, and which test is primary."""
    base = ok.loc[ok["ffn"] == BASELINE, "final_val_loss"].to_numpy()
    base_by_seed = ok[ok["ffn"] == BASELINE].groupby("seed")["final_val_loss"].mean()
    base_early = ok.loc[ok["ffn"] == BASELINE, "early_val_loss"].dropna().to_numpy()
    cols = {}
    for name in out.index:
        vals = ok.loc[ok["ffn"] == name, "final_val_loss"].to_numpy()
        d, lo, hi, p = welch(vals, base)
        early = ok.loc[ok["ffn"] == name, "early_val_loss"].dropna().to_numpy()
        by_seed = ok[ok["ffn"] == name].groupby("seed")["final_val_loss"].mean()
        _, plo, phi, pp, npairs = paired(by_seed, base_by_seed)
        ed, elo, ehi, ep = welch(early, base_early) if len(early) else (math.nan,) * 4
        cols[name] = {"delta": d, "delta_lo": lo, "delta_hi": hi, "p_welch": p,
                      "paired_lo": plo, "paired_hi": phi, "p_paired": pp, "n_pairs": npairs,
                      "early_delta": ed, "early_delta_lo": elo, "early_delta_hi": ehi, "early_p_welch": ep}
    out = out.join(pd.DataFrame.from_dict(cols, orient="index"))
    out["delta_pct"] = 100 * out["delta"] / out.loc[BASELINE, "val_loss"]
    out.loc[BASELINE, ["p_welch", "p_paired", "early_p_welch"]] = math.nan
    out["p_holm"] = holm(out["p_welch"])
    out["significant"] = out["p_holm"] < alpha
    base_sd = out.loc[BASELINE, "val_loss_std"]
    levels = holm_levels(out["p_welch"], alpha)  # seeds that resolve each Δ at its Holm level, power 0.8
    out["seeds_needed"] = [seeds_needed(r["delta"], r["val_loss_std"], base_sd, levels[name])
                           if name != BASELINE and pd.notna(levels[name]) else math.nan
                           for name, r in out.iterrows()]
    out = out.join(_blocked_columns(ok, alpha))
    blocked_ok = out["blocks"].fillna(0) >= 2
    out["test"] = ["" if n == BASELINE else ("seed-blocked" if b else "Welch") for n, b in blocked_ok.items()]
    out["significant"] = out["significant"].where(~blocked_ok, out["p_blocked_holm"] < alpha)
    out["early_p_holm"] = holm(out["early_p_welch"])  # the same test at 1/8 of the budget
    out["early_significant"] = out["early_p_holm"] < alpha
    out["ffn_params_vs_relu_pct"] = 100 * (out["params_ffn"] / out.loc[BASELINE, "params_ffn"] - 1)
    return out


def _blocked_columns(ok: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Δ vs ReLU from the seed-blocked fit (ffnlab.report.blocked) over the setting's blocks (its estimate: the
    raw difference of means where every variant ran every seed, the fit's where a block is incomplete), its 95%
    interval, p, Holm p, the verdict (difference / equivalent / unresolved), the blocks that would resolve it, the
    blocks and the method (pooled, or paired where the residual spread differs between variants)."""
    f = blocked.fit(ok)
    t = blocked.table(f, {n: {n: 1.0, BASELINE: -1.0} for n in f.table.index if n != BASELINE})
    if t.empty:
        return pd.DataFrame(columns=["blocked_delta", "blocked_lo", "blocked_hi", "p_blocked", "p_blocked_holm",
                                     "blocked_verdict", "blocks_needed", "blocks", "blocked_method"])
    return pd.DataFrame({"blocked_delta": t["estimate"], "blocked_lo": t["lo"], "blocked_hi": t["hi"],
                         "p_blocked": t["p"], "p_blocked_holm": t["p_holm"], "blocked_verdict": t["verdict"],
                         "blocks_needed": t["blocks_needed"], "blocks": t["blocks"], "blocked_method": t["method"]})


def rank_corr(ours: pd.Series, theirs: pd.Series) -> tuple[float, float, int]:
    """Spearman ρ and Kendall τ over the variants both series have (NaN below three), and how many that is."""
    common = ours.dropna().index.intersection(theirs.dropna().index)
    if len(common) < 3:
        return math.nan, math.nan, len(common)
    rho = st.spearmanr(ours[common], theirs[common]).statistic
    tau = st.kendalltau(ours[common], theirs[common]).statistic
    return float(rho), float(tau), len(common)


def permutation_p(ours: pd.Series, theirs: pd.Series, exact_up_to: int = 8, n_resamples: int = 20000,
                  seed: int = 0) -> tuple[float, float]:
    """(two-sided permutation p of Spearman's ρ, share of variant pairs ordered as `theirs` orders them) over the
    variants both have. Exact over every ordering of the variants up to `exact_up_to` of them (8! = 40,320), else
    scipy's permutation test with `n_resamples` random orderings. NaN below three variants."""
    from itertools import permutations

    common = ours.dropna().index.intersection(theirs.dropna().index)
    n = len(common)
    if n < 3:
        return math.nan, math.nan
    a, b = st.rankdata(ours[common].to_numpy()), st.rankdata(theirs[common].to_numpy())
    i, j = np.triu_indices(n, 1)
    sa, sb = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    concordant = float(((sa * sb) > 0).sum() / len(i))
    rho = lambda x: np.corrcoef(x, b)[0, 1] if np.std(x) > 0 else 0.0  # noqa: E731
    observed = abs(rho(a))
    if n <= exact_up_to:
        perms = np.array(list(permutations(a)))
        am, bm = perms - perms.mean(axis=1, keepdims=True), b - b.mean()
        den = np.sqrt((am**2).sum(axis=1) * (bm**2).sum())
        rhos = np.where(den > 0, am @ bm / np.where(den > 0, den, 1), 0.0)
        return float(np.mean(np.abs(rhos) >= observed - 1e-12)), concordant
    res = st.permutation_test((a,), lambda x: rho(x), permutation_type="pairings", n_resamples=n_resamples,
                              alternative="two-sided", random_state=seed)
    return float(res.pvalue), concordant


def rank_corr_rows(ours: np.ndarray, theirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman ρ and Kendall τ of each row of `ours` (resamples × variants) with `theirs`: rank_corr one row at
    a time (average ranks for ties, τ-b's tie correction, NaN where a side is constant), vectorized for
    bootstraps."""
    ours, theirs = np.atleast_2d(np.asarray(ours, dtype=float)), np.asarray(theirs, dtype=float)
    a, b = st.rankdata(ours, axis=1), st.rankdata(theirs)
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean()
    i, j = np.triu_indices(len(theirs), 1)
    sx, sy = np.sign(ours[:, i] - ours[:, j]), np.sign(theirs[i] - theirs[j])
    pairs = len(i)
    rho_den = np.sqrt((a ** 2).sum(axis=1) * (b ** 2).sum())
    tau_den = np.sqrt((pairs - (sx == 0).sum(axis=1)) * (pairs - (sy == 0).sum()))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(rho_den > 0, a @ b / rho_den, math.nan),
                np.where(tau_den > 0, sx @ sy / tau_den, math.nan))


# (summary column, label, our horizon): our final loss against every paper column, and our early (1/8-budget)
# loss against the papers' own 1/8-budget columns (65,536 of 524,288 steps).
REFERENCES = [("shazeer_65k", "Shazeer 2020, 65,536 steps", "final"),
              ("shazeer_524k", "Shazeer 2020, 524,288 steps", "final"),
              ("narang_early", "Narang 2021, early (65,536)", "final"),
              ("narang_final", "Narang 2021, final", "final"),
              ("shazeer_65k", "Shazeer 2020, 65,536 steps", "early"),
              ("narang_early", "Narang 2021, early (65,536)", "early")]


def agreement(runs: pd.DataFrame, summary: pd.DataFrame, n_boot: int = 2000, seed: int = 0,
              horizons: tuple[str, ...] = ("final", "early")) -> pd.DataFrame:
    """Spearman ρ and Kendall τ of our variant ranking vs each paper column, with a seed-bootstrap interval.

    `ours` says which of our horizons is ranked: "final", or "early" (the 1/8-budget evaluation, the analogue
    of the papers' 65,536-step columns). The bootstrap resamples seeds within each variant (with replacement),
    recomputes the variant means and the correlations; the interval is the 2.5–97.5 percentile over resamples.
    `horizons` limits the rows to some of ours (the summary then needs only those losses and the paper columns).
    """
    ok = runs[runs["status"] == "ok"]
    rng = np.random.default_rng(seed)
    rows = []
    for col, label, horizon in REFERENCES:
        if col not in summary or horizon not in horizons:
            continue
        loss = "final_val_loss" if horizon == "final" else "early_val_loss"
        ours = summary["val_loss"] if horizon == "final" else summary["early_val_loss"]
        per_variant = {n: g[loss].dropna().to_numpy() for n, g in ok.groupby("ffn")}
        theirs = summary[col]
        rho, tau, n = rank_corr(ours, theirs)
        drawn = [k for k, v in per_variant.items() if len(v)]
        common = [k for k in drawn if k in set(theirs.dropna().index)]
        boots = []
        if n >= 3 and len(common) >= 3:
            for _ in range(n_boot):  # the draws in rank_corr's order: the same resamples, correlated at once
                boots.append([rng.choice(per_variant[k], len(per_variant[k])).mean() for k in drawn])
            means = pd.DataFrame(boots, columns=drawn)[common].to_numpy()
            b = np.column_stack(rank_corr_rows(means, theirs[common].to_numpy()))
        else:
            b = np.full((1, 2), math.nan)
        rho_p, concordant = permutation_p(ours, theirs)
        rows.append({
            "reference": label, "ours": horizon, "n_variants": n, "spearman_rho": rho, "rho_p": rho_p,
            "pairs_concordant": concordant,
            "rho_lo": np.nanpercentile(b[:, 0], 2.5) if boots else math.nan,
            "rho_hi": np.nanpercentile(b[:, 0], 97.5) if boots else math.nan,
            "kendall_tau": tau,
            "tau_lo": np.nanpercentile(b[:, 1], 2.5) if boots else math.nan,
            "tau_hi": np.nanpercentile(b[:, 1], 97.5) if boots else math.nan,
        })
    return pd.DataFrame(rows)


def rank_differences(summary: pd.DataFrame, col: str, min_shift: int = 2) -> list[tuple[str, int, int]]:
    """(variant, our rank, paper rank) where the two differ by at least `min_shift`, ranked over the variants
    both have, largest shift first."""
    common = summary[["val_loss", col]].dropna()
    if len(common) < 3:
        return []
    ours = common["val_loss"].rank(method="min").astype(int)
    theirs = common[col].rank(method="min").astype(int)
    shift = (ours - theirs).abs()
    keep = shift[shift >= min_shift].sort_values(ascending=False, kind="stable").index
    return [(n, int(ours[n]), int(theirs[n])) for n in keep]
