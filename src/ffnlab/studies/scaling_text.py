"""The scaling study in words and tables: the verdict paragraph, the largest cell, every cell's Δ and multiplier,
the power-law fits, the rank agreement, the compute spent and the learning-rate choice, each read from the
DataFrames of ffnlab.studies.scaling (with the study's rule for a finding, ffnlab.studies.findings). Torch-free.
"""

from __future__ import annotations

import math

import pandas as pd

from ffnlab.report.paper import order_key, reference_table
from ffnlab.report.stats import BASELINE, rank_corr
from ffnlab.studies.findings import classify
from ffnlab.studies.scaling import EXTRAPOLATE_MAX, HEADLINE, gated_set


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


def _names(rows: pd.DataFrame) -> str:
    return ", ".join(f"{r.ffn} ({r.delta:+.3f} [{r.delta_lo:+.3f}, {r.delta_hi:+.3f}])" for r in rows.itertuples())


def _gated_sentence(runs: pd.DataFrame, c: pd.DataFrame, sizes: list) -> list[str]:
    """The verdict's sentence on the gated variants every size has: their mean Δ vs ReLU across sizes at one
    budget and across budgets at the largest size (empty where no gated variant is common to the sizes)."""
    common, covered = gated_set(runs, c)
    if not common:
        return []
    g = c[c["ffn"].isin(common) & c["size"].isin(covered)]
    top = covered[-1]
    t_all = c[c["size"].isin(covered)].groupby("size")["tokens"].max().min()
    by_size = g[g["tokens"] == t_all].groupby("size")["delta"].mean()
    by_budget = g[g["size"] == top].groupby("tokens")["delta"].mean()
    budgets = (" → ".join(f"{d:+.3f}" for d in by_budget) + f" from {by_budget.index[0] / 1e6:g}M to "
               f"{by_budget.index[-1] / 1e6:g}M tokens")
    across = ", ".join(f"{by_size[z]:+.3f} at {z:,}" for z in covered if z in by_size)
    pending = [z for z in sizes if z not in covered]
    return [f"The gated variants{' every size has' if len(covered) > 1 and not pending else ''} "
                f"({', '.join(common)}) differ from ReLU by a mean Δ of "
                + (f"{across} parameters at {t_all / 1e6:g}M tokens, and of {budgets} at {top:,} parameters"
                   if len(covered) > 1 else f"{budgets} at {top:,} parameters")
                + " (means over the variants of the Δs below; each Δ's interval is in the tables)"
                + (f"; {', '.join(f'{z:,}' for z in pending)} {'is' if len(pending) == 1 else 'are'} left out "
                   "until every one of them has run there" if pending else "") + "."]


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
    text += _gated_sentence(runs, c, sizes)
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
