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
from ffnlab.report.stats import BASELINE, welch

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


# The variants whose compute multiplier the verdict names (the README's headline quotes them).
HEADLINE = ("swiglu", "geglu", "gelu", "glu")


def gated_set(runs: pd.DataFrame, c: pd.DataFrame) -> tuple[list[str], list[int]]:
    """The gated variants the gated margin averages over (in the papers' order) and the sizes it covers: `widest`
    over each size's gated variants, so every covered size has every one of them."""
    gated = set(runs.loc[runs["gated"].fillna(False).astype(bool), "ffn"]) if "gated" in runs else set()
    common, sizes = widest({z: set(g["ffn"]) & gated for z, g in c[c["ffn"] != BASELINE].groupby("size")})
    return sorted(common, key=lambda n: order_key(pd.Index([n]))[0]), sizes


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


