"""The scaling view: loss against training compute across model sizes and token budgets (pure pandas / numpy).

A study that trains several sizes (non-embedding parameters) to several budgets (tokens) gets, from its finished
runs, one cell per (size, budget):
  cells      per (size, budget, variant): seeds, loss mean ± std, training FLOPs, Δ vs ReLU with its seed-blocked
             95% interval (ffnlab.report.blocked: the two-way fit variant + seed; Welch's beside it), and the
             compute multiplier against ReLU with the Δ's interval carried through ReLU's curve;
  fits       per variant, L(C) = E + A·C^(−α) fitted to its compute frontier (the lower envelope of its sizes'
             loss-vs-compute curves), with seed-bootstrap intervals of E, A and α and the RMS residual;
  agreement  per (size, budget) and paper column, the rank agreement of agreement.md (stats.agreement), over
             the variants every size has, so that cells of different sizes compare;
  compute    per (size, machine), the runs, the tokens they trained and the hours they took (compute_spent).

The compute multiplier of a variant in a cell is the training compute ReLU needs, at the same size, to reach the
variant's loss, divided by the variant's compute: the ReLU curve through that size's budgets is interpolated
linearly in log compute. Where the variant's loss lies below ReLU's loss at the largest budget — the case that
matters most at the largest budget — ReLU's last segment is extended in log compute and the cell says "~"
(extrapolated). Loss curves flatten as compute grows (L = E + A·C^(−α) is convex in log C), so the straight
extension tends to understate what ReLU needs: "~" is a forecast that leans low. Past EXTRAPOLATE_MAX times
ReLU's largest compute, or where its last segment does not fall, only a lower bound is given ("≥"); above
ReLU's smallest budget, an upper bound ("≤"). Torch-free.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd

from ffnlab.report import blocked, stats
from ffnlab.report.paper import order_key, reference_table
from ffnlab.report.stats import BASELINE, rank_corr, welch

SIZE, BUDGET = "params_non_embedding", "tokens"


def points(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per finished run: variant, seed, size, budget, training FLOPs and final validation loss. A size is
    a model shape (d_model, n_layers), named by ReLU's non-embedding parameter count (the one every variant is
    matched to: they differ from it by < 1%), or the largest among its variants where ReLU has no run: so a
    size's name does not change with which other variants a report holds."""
    ok = runs[runs["status"] == "ok"]
    shape = [ok["d_model"], ok["n_layers"] if "n_layers" in ok else ok["d_model"]]
    relu = ok[SIZE].where(ok["ffn"] == BASELINE)
    size = relu.groupby(shape).transform("max").fillna(ok[SIZE].groupby(shape).transform("max"))
    return pd.DataFrame({"ffn": ok["ffn"], "seed": ok["seed"], "size": size.astype(int),
                         "d_model": ok["d_model"], "tokens": ok[BUDGET].astype(int),
                         "flops": ok["flops_per_token"] * ok[BUDGET], "loss": ok["final_val_loss"]})


def has_scaling(runs: pd.DataFrame) -> bool:
    """Whether the finished runs span several (size, budget) cells with ReLU and another variant in them, and no
    cell holds two runs of one variant and seed (runs that differ in another setting, such as a learning-rate
    sweep's, must never be averaged into one cell)."""
    if SIZE not in runs or BUDGET not in runs:
        return False
    p = points(runs)
    if p.duplicated(["size", "tokens", "ffn", "seed"]).any():
        return False
    return len(p.groupby(["size", "tokens"])) > 1 and BASELINE in set(p["ffn"]) and p["ffn"].nunique() > 1


LR = "cfg.optim.lr"


def has_lr_sweep(runs: pd.DataFrame) -> bool:
    """Whether some size was trained at several learning rates (a study's learning-rate sweep)."""
    if LR not in runs or SIZE not in runs:
        return False
    return bool((_with_lr(runs).groupby("size")["lr"].nunique() > 1).any())


def _with_lr(runs: pd.DataFrame) -> pd.DataFrame:
    """points() with each run's learning rate."""
    return points(runs).assign(lr=runs.loc[runs["status"] == "ok", LR].astype(float).values)


def lr_choice(runs: pd.DataFrame) -> pd.DataFrame:
    """Per size and learning rate: each variant's mean final loss, their mean (the choice's criterion: every
    variant of the sweep counts equally) and which learning rate is best per size. `edge` marks a best value at
    the end of the swept range, where the optimum may lie outside it."""
    wide = _with_lr(runs).groupby(["size", "d_model", "tokens", "lr", "ffn"])["loss"].mean().unstack("ffn")
    wide["mean"] = wide.mean(axis=1)
    wide = wide.reset_index()
    wide["best"] = wide.groupby("size")["mean"].transform("min") == wide["mean"]
    lo, hi = (wide.groupby("size")["lr"].transform(f) for f in ("min", "max"))
    wide["edge"] = wide["best"] & ((wide["lr"] == lo) | (wide["lr"] == hi))
    return wide


def lr_markdown(t: pd.DataFrame) -> str:
    variants = [c for c in t.columns if c not in {"size", "d_model", "tokens", "lr", "mean", "best", "edge"}]
    lines = ["| size (non-emb params) | d_model | tokens | lr | " + " | ".join(variants) + " | mean | best |",
             "|---:|---:|---:|---:|" + "---:|" * len(variants) + "---:|---|"]
    for _, r in t.iterrows():
        mark = ("**best** (at the edge of the range: widen it)" if r["edge"] else "**best**") if r["best"] else ""
        lines.append(f"| {int(r['size']):,} | {int(r['d_model'])} | {int(r['tokens']):,} | {r['lr']:g} | "
                     + " | ".join("–" if pd.isna(r[v]) else f"{r[v]:.4f}" for v in variants)
                     + f" | {r['mean']:.4f} | {mark} |")
    lines += ["", "Final validation loss (nats/token) per size and learning rate, mean over seeds; mean: over the "
              "variants, each counting once. The best learning rate of each size is the one with the lowest mean.",
              ""]
    return "\n".join(lines)


EXTRAPOLATE_MAX = 10.0  # how far past ReLU's largest measured compute its last segment is extended


def _interp_compute(curve: pd.DataFrame, loss: float) -> tuple[float, str]:
    """The compute at which a (flops, loss) curve, sorted by flops, reaches `loss`: linear in log compute between
    its points. Below the curve's last point, its last segment is extended ("~": extrapolated) up to
    EXTRAPOLATE_MAX times its largest compute, and beyond that, or where the last segment does not fall, only a
    lower bound is known ("≥"); above its first point, an upper bound ("≤")."""
    c, l_ = np.log(curve["flops"].to_numpy(float)), curve["loss"].to_numpy(float)
    if loss <= l_.min():
        if len(l_) >= 2 and np.argmin(l_) == len(l_) - 1 and l_[-1] < l_[-2]:
            slope = (l_[-1] - l_[-2]) / (c[-1] - c[-2])  # nats per unit log compute, negative
            reach = c[-1] + (loss - l_[-1]) / slope
            if reach <= c[-1] + math.log(EXTRAPOLATE_MAX):
                return float(np.exp(reach)), "~"
            return float(np.exp(c[-1]) * EXTRAPOLATE_MAX), "≥"
        return float(np.exp(c[np.argmin(l_)])), "≥"
    if loss >= l_[0]:
        return float(np.exp(c[0])), "≤"
    for i in range(len(l_) - 1):  # the first segment that crosses it (the curve may be non-monotone)
        hi, lo = l_[i], l_[i + 1]
        if min(hi, lo) <= loss <= max(hi, lo) and hi != lo:
            return float(np.exp(c[i] + (c[i + 1] - c[i]) * (loss - hi) / (lo - hi))), ""
    return float(np.exp(c[np.argmin(np.abs(l_ - loss))])), "≈"


def multiplier(relu_curve: pd.DataFrame, loss: float, flops: float) -> tuple[float, str]:
    """(ReLU compute to reach `loss`) / `flops`, and its mark ("", "~", "≥", "≤"; see _interp_compute)."""
    c, mark = _interp_compute(relu_curve.sort_values("flops"), loss)
    return c / flops, mark


def _means(p: pd.DataFrame) -> pd.DataFrame:
    return p.groupby(["size", "tokens", "ffn"], sort=True).agg(flops=("flops", "mean"), loss=("loss", "mean"))


def _resample(p: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Seeds drawn with replacement within each (size, budget, variant) cell (for the fits' intervals)."""
    parts = [g.iloc[rng.integers(0, len(g), len(g))] for _, g in p.groupby(["size", "tokens", "ffn"], sort=False)]
    return pd.concat(parts)


def _relu_curves(means: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """ReLU's (flops, loss) points per size, one per budget."""
    m = means.reset_index()
    return {size: g for size, g in m[m["ffn"] == BASELINE].groupby("size")}


def _blocked_cell(g: pd.DataFrame) -> dict[str, dict]:
    """Per variant of one (size, budget) cell: Δ vs ReLU from the seed-blocked fit (ffnlab.report.blocked), its
    95% and 90% intervals and p, with Welch's test beside it."""
    f = blocked.fit(g, value="loss")
    base = g.loc[g["ffn"] == BASELINE, "loss"].to_numpy()
    out = {}
    for ffn, v in g.groupby("ffn"):
        if ffn == BASELINE or not len(base):
            continue
        c = blocked.contrast(f, {ffn: 1.0, BASELINE: -1.0}, ffn)
        d, wlo, whi, wp = welch(v["loss"].to_numpy(), base)
        out[ffn] = {"delta": d, "delta_lo": c.lo, "delta_hi": c.hi, "p": c.p, "delta_lo90": c.lo90,
                    "delta_hi90": c.hi90, "blocks": f.blocks, "method": f.method, "resid_sd": f.resid_sd,
                    "spread_p": f.spread_p, "welch_lo": wlo, "welch_hi": whi, "p_welch": wp}
    return out


def cells(runs: pd.DataFrame) -> pd.DataFrame:
    """The per-(size, budget, variant) table (module docstring), sorted by size, budget, variant."""
    p = points(runs)
    curves = _relu_curves(_means(p))
    rows = []
    for (size, tokens), cell in p.groupby(["size", "tokens"], sort=True):
        tests = _blocked_cell(cell)
        relu = cell.loc[cell["ffn"] == BASELINE, "loss"].mean()
        for ffn, g in cell.groupby("ffn", sort=True):
            row = {"size": size, "d_model": int(g["d_model"].iloc[0]), "tokens": tokens, "ffn": ffn, "n": len(g),
                   "flops": g["flops"].mean(), "loss": g["loss"].mean(), "loss_std": g["loss"].std(ddof=1),
                   **{k: math.nan for k in ("delta", "delta_lo", "delta_hi", "p")}, **tests.get(ffn, {})}
            if ffn == BASELINE:
                row["multiplier"], row["bound"] = 1.0, ""
            elif size in curves:
                row["multiplier"], row["bound"] = multiplier(curves[size], row["loss"], row["flops"])
                # the Δ's interval carried through ReLU's curve: ReLU's mean plus each end of the interval
                ends = [multiplier(curves[size], relu + row[k], row["flops"])[0] if math.isfinite(row[k])
                        else math.nan for k in ("delta_hi", "delta_lo")]
                row["multiplier_lo"], row["multiplier_hi"] = ends
            rows.append(row)
    return pd.DataFrame(rows)


def fit_power_law(flops: np.ndarray, loss: np.ndarray) -> tuple[float, float, float, float]:
    """(E, A, α, RMS residual) of L = E + A·C^(−α) by least squares (C in units of 1e12 FLOPs for conditioning);
    NaNs with fewer than 3 points or when no fit converges."""
    from scipy.optimize import curve_fit

    x, y = np.asarray(flops, float) / 1e12, np.asarray(loss, float)
    if len(x) < 3:
        return (math.nan,) * 4
    f = lambda c, e, a, alpha: e + a * np.power(c, -alpha)
    best = None
    for e0 in (0.0, 0.5 * y.min(), 0.9 * y.min()):  # a few starts: the fit is not convex in E
        try:
            params, _ = curve_fit(f, x, y, p0=(e0, max(y.max() - e0, 1e-3), 0.3), maxfev=20000,
                                  bounds=([0, 0, 0], [y.min(), np.inf, 5]))
        except (RuntimeError, ValueError):
            continue
        rms = float(np.sqrt(np.mean((f(x, *params) - y) ** 2)))
        if best is None or rms < best[3]:
            best = (*map(float, params), rms)
    if best is None:
        return (math.nan,) * 4
    e, a, alpha, rms = best
    return e, a * 1e12**alpha, alpha, rms  # A back in raw FLOPs: A·C^(−α) with C in FLOPs


def frontier(means: pd.DataFrame) -> pd.DataFrame:
    """Per variant, its compute frontier: the lower envelope of its sizes' loss-vs-compute curves. Each size's
    curve runs through its budgets' mean losses, linear in log compute; a (size, budget) point is on the frontier
    when no cheaper point has a lower loss and no other size's curve passes below it at its compute (where that
    curve reaches it): the points a compute-optimal choice of size would reach."""
    m = means.reset_index().sort_values(["ffn", "flops", "loss"], kind="stable")
    keep = pd.Series(True, index=m.index)
    for _, g in m.groupby("ffn", sort=False):
        cheaper_best = g["loss"].cummin().shift(fill_value=math.inf)
        keep[g.index] = g["loss"] < cheaper_best
        for size, curve in g.groupby("size"):
            x, y = np.log(curve["flops"].to_numpy()), curve["loss"].to_numpy()
            others = g[(g["size"] != size) & g["flops"].between(curve["flops"].min(), curve["flops"].max())]
            below = np.interp(np.log(others["flops"].to_numpy()), x, y) < others["loss"].to_numpy()
            keep[others.index[below]] = False
    return m[keep]


def fits(runs: pd.DataFrame, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Per variant: the power-law fit to its frontier, with seed-bootstrap 95% intervals of E, A and α."""
    p = points(runs)
    front = frontier(_means(p))
    rng = np.random.default_rng(seed)
    boot_fronts = [frontier(_means(_resample(p, rng))) for _ in range(n_boot)]
    rows = []
    spread = p.groupby(["size", "tokens", "ffn"])["loss"].std(ddof=1)
    for ffn, g in front.groupby("ffn", sort=True):
        e, a, alpha, rms = fit_power_law(g["flops"], g["loss"])
        noise = spread.reindex(list(zip(g["size"], g["tokens"], g["ffn"], strict=True))).median()
        row = {"ffn": ffn, "points": len(g), "E": e, "A": a, "alpha": alpha, "rms": rms, "seed_std": noise}
        bs = np.array([fit_power_law(b[b["ffn"] == ffn]["flops"], b[b["ffn"] == ffn]["loss"])[:3]
                       for b in boot_fronts]) if n_boot else np.empty((0, 3))
        for j, name in enumerate(("E", "A", "alpha")):
            vals = bs[:, j][np.isfinite(bs[:, j])] if len(bs) else np.array([])
            row[f"{name}_lo"], row[f"{name}_hi"] = (np.quantile(vals, [0.025, 0.975]) if len(vals) > 10
                                                    else (math.nan, math.nan))
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt_mult(m: float, mark: str, lo: float, hi: float) -> str:
    if not math.isfinite(m):
        return ""
    ci = f" [{lo:.2f}, {hi:.2f}]" if math.isfinite(lo) and math.isfinite(hi) else ""
    return f"{mark}{m:.2f}×{ci}"


def largest_markdown(c: pd.DataFrame) -> str:
    """The headline section of scaling.md: at each size's largest budget, every variant's Δ vs ReLU and compute
    multiplier with their intervals, one column per size (the variants in the papers' order)."""
    last = c[(c["tokens"] == c.groupby("size")["tokens"].transform("max")) & (c["ffn"] != BASELINE)]
    sizes = sorted(last["size"].unique())
    tokens = last.groupby("size")["tokens"].first()
    head = ("| FFN | " + " | ".join(f"{s:,} params, {tokens[s] / 1e6:g}M tokens" for s in sizes) + " |\n|---|"
            + "---:|" * len(sizes))
    t = last.set_index(["ffn", "size"])
    variants = pd.Index(last["ffn"].unique())
    variants = variants[order_key(variants).argsort(kind="stable")]

    def table(cell) -> list[str]:
        return [head] + [f"| {v} | " + " | ".join(cell(t.loc[(v, s)]) if (v, s) in t.index else "–" for s in sizes)
                         + " |" for v in variants]

    delta = lambda r: f"{r['delta']:+.3f}" + (f" [{r['delta_lo']:+.3f}, {r['delta_hi']:+.3f}]"  # noqa: E731
                                               if math.isfinite(r["delta_lo"]) else "")
    mult = lambda r: _fmt_mult(r.get("multiplier", math.nan), r.get("bound", ""),  # noqa: E731
                               r.get("multiplier_lo", math.nan), r.get("multiplier_hi", math.nan))
    caveat = (" A multiplier's interval maps the ends of the Δ's interval through ReLU's curve (ReLU's mean plus"
              " each end); it leaves out the spread of ReLU's own points at the other budgets, and an end marked"
              " ~ or ≥ lies past ReLU's largest budget.")
    return "\n".join(["## At the largest budget", "", "Δ vs ReLU (nats, seed-blocked 95% interval: the two-way fit "
                      "variant + seed, ffnlab.report.blocked):", "", *table(delta),
                      "", "Compute multiplier vs ReLU (the Δ's 95% interval carried through ReLU's curve):", "",
                      *table(mult), "",
                      "Each size's largest budget, from the table below (its notes explain ~, ≥ and ≤). The size "
                      "is its non-embedding parameter count." + caveat, ""])


def widest(have: dict[int, set[str]], least: int = 1) -> tuple[set[str], list[int]]:
    """The variants and sizes a cross-size comparison covers, from the variants each size has: of all choices of
    sizes (each with at least `least` variants), the one whose shared variants make the most (size, variant)
    pairs; on a tie, the one with more variants. So one size's extras (xs's bilinear) drop out, and a size still
    in progress (a few variants so far) is left out rather than shrinking every size's set to its few."""
    have = {z: v for z, v in have.items() if len(v) >= max(least, 1)}
    best: tuple[int, int, list[int], set[str]] = (0, 0, [], set())
    for k in range(len(have), 0, -1):
        for sizes in combinations(sorted(have), k):
            shared = set.intersection(*(have[z] for z in sizes))
            if len(shared) >= least:
                best = max(best, (len(shared) * k, len(shared), list(sizes), shared), key=lambda b: b[:2])
    return best[3], best[2]


def agreement_set(p: pd.DataFrame) -> tuple[list[str], list[int]]:
    """The variants every cell's agreement ranks and the sizes whose cells are ranked (`widest` over the variants
    the papers name, at least three): every ranked cell ranks the same variants, so their ρ compare like with
    like."""
    named = set(reference_table().index)
    shared, sizes = widest({z: set(g["ffn"]) & named for z, g in p.groupby("size")}, least=3)
    return sorted(shared, key=lambda n: order_key(pd.Index([n]))[0]), sizes


def agreement(runs: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per (size, budget) cell of the sizes agreement_set covers: stats.agreement's final-loss rows (Spearman ρ and
    Kendall τ with each paper column, seeds resampled within each variant) over its variants only; `flops` is
    ReLU's training compute in the cell (for agreement_vs_compute)."""
    p = points(runs)
    variants, sizes = agreement_set(p)
    rows = []
    for (size, tokens), g in p[p["ffn"].isin(variants) & p["size"].isin(sizes)].groupby(["size", "tokens"],
                                                                                        sort=True):
        cell = runs.loc[g.index]  # points keeps the finished runs' index
        means = cell.groupby("ffn")["final_val_loss"].mean().to_frame("val_loss").join(reference_table())
        a = stats.agreement(cell, means, n_boot=n_boot, seed=seed, horizons=("final",))
        relu = g.loc[g["ffn"] == BASELINE, "flops"]
        rows.append(a.assign(size=size, d_model=int(g["d_model"].iloc[0]), tokens=tokens,
                                                    flops=relu.mean() if len(relu) else g["flops"].mean()))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["size", "tokens", "reference", "n_variants", "spearman_rho", "rho_lo", "rho_hi"])


def agreement_markdown(a: pd.DataFrame, variants: list[str], left_out: list[int] = ()) -> str:
    """The agreement section of scaling.md: one row per (size, budget) that ranks three variants or more, one
    column per paper column; `left_out`: the sizes agreement_set leaves out (still in progress)."""
    a = a[a["n_variants"] >= 3]
    if a.empty or not a["spearman_rho"].notna().any():
        return ""
    refs = list(dict.fromkeys(a["reference"]))
    lines = ["## Agreement with the papers, by size and budget", "",
             "| size (non-emb params) | tokens | variants | " + " | ".join(refs) + " |",
             "|---:|---:|---:|" + "---:|" * len(refs)]
    for (size, tokens), g in a.groupby(["size", "tokens"], sort=True):
        r = g.set_index("reference")
        cell = lambda x: "–" if not math.isfinite(x["spearman_rho"]) else (  # noqa: E731
            f"{x['spearman_rho']:+.2f}" + (f" [{x['rho_lo']:+.2f}, {x['rho_hi']:+.2f}]"
                                            if math.isfinite(x["rho_lo"]) else "")
            + (f" p {x['rho_p']:.2g}, {x['pairs_concordant']:.0%} of pairs" if math.isfinite(x.get("rho_p", math.nan))
               else ""))
        lines.append(f"| {size:,} | {tokens:,} | {int(r['n_variants'].iloc[0])} | "
                     + " | ".join(cell(r.loc[ref]) if ref in r.index else "–" for ref in refs) + " |")
    ref = reference_table().loc[variants]
    ceiling, _, n = rank_corr(ref["shazeer_65k"], ref["narang_final"])
    lines += ["", "Spearman ρ of the cell's ranking by mean final validation loss with each paper column's ranking, "
              f"over the variants every size has that the papers name ({', '.join(variants)}; fewer where a cell "
              "lacks one), so every cell ranks the same variants; 95% interval: seeds resampled within each "
              "variant; p: exact two-sided permutation test of ρ (every ordering of the variants); pairs: the share "
              "of variant pairs ordered as the paper orders them. +1: the paper's order; 0: none; −1: the reverse. "
              "agreement.md gives each cell's ρ over "
              "all the variants it has."
              + (f" Left out until it has them all: {', '.join(f'{z:,}' for z in left_out)} params." if len(left_out)
                 else "")
              + (f" Over these {n} variants the papers' own columns (Shazeer's 65,536-step, Narang's final) agree "
                 f"at ρ = {ceiling:.2f}: about the ceiling of a reproduction." if math.isfinite(ceiling) else ""), ""]
    return "\n".join(lines)


# The variants whose compute multiplier the verdict names (the README's headline quotes them).
HEADLINE = ("swiglu", "geglu", "gelu", "glu")


def gated_set(runs: pd.DataFrame, c: pd.DataFrame) -> tuple[list[str], list[int]]:
    """The gated variants the gated margin averages over (in the papers' order) and the sizes it covers: `widest`
    over each size's gated variants, so every covered size has every one of them."""
    gated = set(runs.loc[runs["gated"].fillna(False).astype(bool), "ffn"]) if "gated" in runs else set()
    common, sizes = widest({z: set(g["ffn"]) & gated for z, g in c[c["ffn"] != BASELINE].groupby("size")})
    return sorted(common, key=lambda n: order_key(pd.Index([n]))[0]), sizes


def _names(rows: pd.DataFrame) -> str:
    return ", ".join(f"{r.ffn} ({r.delta:+.3f} [{r.delta_lo:+.3f}, {r.delta_hi:+.3f}])" for r in rows.itertuples())


def verdict_markdown(runs: pd.DataFrame, c: pd.DataFrame, agree: pd.DataFrame, gating: str = "") -> str:
    """The scaling view in words, every number read from the tables below it: who leads ReLU at the largest
    size and budget (and whether its interval excludes 0), how the gated variants' mean Δ moves across sizes at
    one budget and across budgets at the largest size, the headline variants' compute multipliers there, and the
    agreement with Shazeer's ranking at the smallest and the largest cell."""
    sizes = sorted(c.loc[c["ffn"] != BASELINE, "size"].unique())  # a size with ReLU alone compares nothing yet
    if not sizes:
        return ""
    big = sizes[-1]
    t_big = c.loc[c["size"] == big, "tokens"].max()
    last = c[(c["size"] == big) & (c["tokens"] == t_big) & (c["ffn"] != BASELINE)]
    last = last.iloc[order_key(pd.Index(last["ffn"])).argsort(kind="stable")]
    lead, trail = last[last["delta_hi"] < 0], last[last["delta_lo"] > 0]
    from ffnlab.report.findings import classify  # the study's rule, in one place (findings imports this module)

    found = classify(c).loc[last.index, "finding"].isin(["beats", "trails"])  # Holm over the cell, as table.md
    held = int(found.sum())
    text = [f"At the largest size ({big:,} non-embedding parameters) and its largest budget ({t_big / 1e6:g}M "
            f"tokens), {(last['delta'] < 0).sum()} of {len(last)} variants have a lower mean loss than ReLU; "
            + (f"{_names(lead)} {'leads' if len(lead) == 1 else 'lead'} it with a seed-blocked 95% interval "
               "that excludes 0" if len(lead) else "none leads it with a seed-blocked 95% interval that excludes 0")
            + (f", and {_names(trail)} {'trails' if len(trail) == 1 else 'trail'} it so" if len(trail) else "")
            + ("; " + ("none" if held == 0 else f"{held} of them") + (" survives" if held <= 1 else " survive")
               + " Holm's correction over the cell's variants" if len(lead) + len(trail) else "") + "."]
    if gating:
        text.append(gating)
    common, covered = gated_set(runs, c)
    if common:
        g = c[c["ffn"].isin(common) & c["size"].isin(covered)]
        top = covered[-1]
        t_all = c[c["size"].isin(covered)].groupby("size")["tokens"].max().min()
        by_size = g[g["tokens"] == t_all].groupby("size")["delta"].mean()
        by_budget = g[g["size"] == top].groupby("tokens")["delta"].mean()
        budgets = (" → ".join(f"{d:+.3f}" for d in by_budget) + f" from {by_budget.index[0] / 1e6:g}M to "
                   f"{by_budget.index[-1] / 1e6:g}M tokens")
        across = ", ".join(f"{by_size[z]:+.3f} at {z:,}" for z in covered if z in by_size)
        pending = [z for z in sizes if z not in covered]
        text.append(f"The gated variants{' every size has' if len(covered) > 1 and not pending else ''} "
                    f"({', '.join(common)}) differ from ReLU by a mean Δ of "
                    + (f"{across} parameters at {t_all / 1e6:g}M tokens, and of {budgets} at {top:,} parameters"
                       if len(covered) > 1 else f"{budgets} at {top:,} parameters")
                    + " (means over the variants of the Δs below; each Δ's interval is in the tables)"
                    + (f"; {', '.join(f'{z:,}' for z in pending)} {'is' if len(pending) == 1 else 'are'} left out "
                       "until every one of them has run there" if pending else "") + ".")
    named = last.assign(found=found).set_index("ffn")
    mults = [f"{v} " + _fmt_mult(r["multiplier"], r["bound"], r.get("multiplier_lo", math.nan),
                                 r.get("multiplier_hi", math.nan)) + ("" if r["found"] else "*")
             for v in HEADLINE if v in named.index and math.isfinite((r := named.loc[v]).get("multiplier", math.nan))]
    if mults:
        text.append(f"Compute multipliers against ReLU there: {', '.join(mults)} (the Δ's 95% interval carried "
                    "through ReLU's loss-vs-compute curve"
                    + ("; ~: ReLU's curve extended past its largest budget" if any("~" in m for m in mults) else "")
                    + ("; *: not a finding by the study's rules, since its Δ is not one"
                       if any(m.endswith("*") for m in mults) else "") + ").")
    sh = agree[agree["reference"] == "Shazeer 2020, 65,536 steps"].dropna(subset=["spearman_rho"]) \
        if len(agree) else agree
    if len(sh) > 1:
        first, end = sh.iloc[0], sh.iloc[-1]
        text.append(f"Agreement with Shazeer's ranking (65,536-step column, {int(end['n_variants'])} variants): "
                    f"ρ = {first['spearman_rho']:+.2f} (permutation p {first['rho_p']:.2g}) at the "
                    f"smallest cell ({first['size']:,} parameters, {first['tokens'] / 1e6:g}M tokens), "
                    f"{end['spearman_rho']:+.2f} (p {end['rho_p']:.2g}; {end['pairs_concordant']:.0%} of variant "
                    "pairs ordered as the paper) at the largest.")
    return "## Verdict\n\n" + " ".join(text) + "\n"


def compute_spent(runs: pd.DataFrame) -> pd.DataFrame:
    """The time the finished runs of each size took, per machine, as their records measured it. A run trained from
    step 0 counts its time inside training steps and evaluations (summed over its resumptions; start-up left out);
    a cool-down branch counts its own wall time and only the tokens after its branch point, since the steps before
    it are the longer run's and counted there. CPU-hours: hours × the run's threads, for runs without a GPU."""
    ok = runs[runs["status"] == "ok"]
    col = lambda name: ok[name] if name in ok else pd.Series(math.nan, index=ok.index)  # noqa: E731
    branch = col("branch_step")
    own = col("train_s") + col("eval_s")
    seconds = own.where(branch.isna() & own.notna(), col("wall_s"))
    gpu = col("peak_gpu_mb").fillna(0) > 0
    t = pd.DataFrame({"size": points(runs)["size"], "d_model": ok["d_model"],
                      "machine": col("machine").fillna("unnamed"), "runs": 1, "branches": branch.notna().astype(int),
                      "tokens_trained": ok[BUDGET] * (1 - branch.fillna(0) / ok["steps"]), "hours": seconds / 3600,
                      "cpu_hours": (seconds * col("threads")).where(~gpu) / 3600})
    return t.groupby(["size", "d_model", "machine"], as_index=False).sum(min_count=1)


def compute_markdown(t: pd.DataFrame) -> str:
    """The compute-spent section of scaling.md."""
    lines = ["## Compute spent", "", "| size (non-emb params) | d_model | machine | runs (of them branches) | "
             "tokens trained | run hours | CPU-hours |", "|---:|---:|---|---:|---:|---:|---:|"]
    fmt = lambda h: f"{h:.2f}" if math.isfinite(h) else "–"  # noqa: E731
    for r in t.itertuples():
        lines.append(f"| {r.size:,} | {r.d_model} | {r.machine} | {r.runs} ({r.branches}) | "
                     f"{r.tokens_trained:,.0f} | {fmt(r.hours)} | {fmt(r.cpu_hours)} |")
    lines.append(f"| **total** | | | {t['runs'].sum()} ({t['branches'].sum()}) | {t['tokens_trained'].sum():,.0f} | "
                 f"{fmt(t['hours'].sum())} | {fmt(t['cpu_hours'].sum(min_count=1))} |")
    lines += ["", "As the records measured it: a run trained from step 0 counts its time inside training steps and "
              "evaluations, over all its resumptions (start-up left out); a cool-down branch counts its own wall time "
              "and the tokens after its branch point only (the steps before it are the longer run's). CPU-hours: "
              "run hours × the threads each run used (– for GPU runs). Runs side by side share the machine, so wall "
              "time of the study is less than the sum.", ""]
    return "\n".join(lines)


def _ci(r: pd.Series, name: str, fmt: str) -> str:
    lo, hi = r[name + "_lo"], r[name + "_hi"]
    return f"{r[name]:{fmt}}" + (f" [{lo:{fmt}}, {hi:{fmt}}]" if math.isfinite(lo) else "")


def markdown(c: pd.DataFrame, f: pd.DataFrame) -> str:
    """scaling.md: the Δ and multiplier per cell, and the fits."""
    return cells_markdown(c) + "\n" + fits_markdown(f)


def cells_markdown(c: pd.DataFrame) -> str:
    """The Δ, test and compute multiplier of every (size, budget, variant) cell."""
    lines = ["## Every size and budget", "",
             "| size (non-emb params) | d_model | tokens | FFN | n | val loss (mean ± std) | Δ vs ReLU [95% CI] | p | "
             "Welch 95% CI (p) | compute multiplier vs ReLU [95% CI] |", "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in c.iterrows():
        delta = "" if r["ffn"] == BASELINE or not math.isfinite(r["delta"]) else (
            f"{r['delta']:+.3f}" + (f" [{r['delta_lo']:+.3f}, {r['delta_hi']:+.3f}]"
                                     if math.isfinite(r["delta_lo"]) else ""))
        mult = "1 (baseline)" if r["ffn"] == BASELINE else _fmt_mult(
            r.get("multiplier", math.nan), r.get("bound", ""), r.get("multiplier_lo", math.nan),
            r.get("multiplier_hi", math.nan))
        std = f" ± {r['loss_std']:.3f}" if math.isfinite(r["loss_std"]) else ""
        p = f"{r['p']:.3g}" if math.isfinite(r["p"]) else ""
        welch_ = (f"[{r['welch_lo']:+.3f}, {r['welch_hi']:+.3f}] ({r['p_welch']:.3g})"
                  if math.isfinite(r.get("welch_lo", math.nan)) else "")
        lines.append(f"| {r['size']:,} | {r['d_model']} | {r['tokens']:,} | {r['ffn']} | {r['n']} | "
                     f"{r['loss']:.3f}{std} | {delta} | {p} | {welch_} | {mult} |")
    lines += ["", "Δ: the variant's mean final validation loss minus ReLU's at the same size and budget (nats), "
              "with its seed-blocked 95% interval and unadjusted p (ffnlab.report.blocked: the two-way fit variant "
              "+ seed over the cell's complete blocks, pooled residual; every variant of a seed shares its non-FFN "
              "initial weights and batches, so the seed's part cancels); Welch's unpaired interval beside it, for "
              "comparison. Compute multiplier: the training compute ReLU needs at the "
              "same size to reach the variant's loss, over the variant's compute (ReLU's curve through that "
              "size's budgets, linear in log compute); ~: the variant beats ReLU's largest budget, so ReLU's last "
              "segment is extended (a forecast that tends to understate, as loss flattens with compute), at most "
              f"{EXTRAPOLATE_MAX:g}× past ReLU's largest compute; ≥ / ≤: beyond that, only a bound is known; "
              "interval: the Δ's 95% interval carried through ReLU's curve.", ""]
    return "\n".join(lines)


def fits_markdown(f: pd.DataFrame) -> str:
    """The power-law fit of each variant's compute frontier, with its intervals."""
    lines = ["## Fits: L(C) = E + A·C^(−α) on each variant's compute frontier", "",
             "| FFN | points | E | α | A | RMS residual |", "|---|---|---|---|---|---|"]
    for _, r in f.iterrows():
        if not math.isfinite(r["rms"]):
            lines.append(f"| {r['ffn']} | {r['points']} | no fit | | | |")
            continue
        poor = " †" if r["rms"] > r.get("seed_std", math.inf) else ""
        lines.append(f"| {r['ffn']} | {r['points']} | {_ci(r, 'E', '.3f')} | {_ci(r, 'alpha', '.3f')} | "
                     f"{_ci(r, 'A', '.3g')} | {r['rms']:.4f}{poor} |")
    lines += ["", "Frontier: the lower envelope of the variant's sizes' loss-vs-compute curves (each through its "
              "budgets, linear in log compute): the points that no cheaper point and no other size's curve beat. "
              "C: training FLOPs (forward + "
              "backward, attention included). Intervals: 95% seed bootstrap of the whole fit. With few points "
              "per variant the fit describes the measured range; it is no forecast. †: the residual exceeds the "
              "median seed std of the frontier's points, so the curve does not describe them to within noise (an "
              "envelope across sizes bends where the best size changes): read the points themselves "
              "(scaling_cells.csv).", ""]
    return "\n".join(lines)
