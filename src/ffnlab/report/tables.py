"""Summary → Markdown / LaTeX tables and the plain-language verdict (strings only; the CLI writes files)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ffnlab.report.paper import order_key
from ffnlab.report.stats import BASELINE, CORRECTION, rank_differences


def _f(x, fmt="{:.3f}", none="–") -> str:
    return none if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def _pm(mean, std) -> str:
    return _f(mean) + ("" if std is None or (isinstance(std, float) and math.isnan(std)) else f" ± {std:.3f}")


def _star(r) -> str:
    """'*' when the row's test is significant (a bool or numpy bool; NaN and missing are not)."""
    sig = r.get("significant")
    return "*" if isinstance(sig, (bool, np.bool_)) and bool(sig) else ""


def _seeds(r) -> str:
    """Seeds per variant that would resolve its Δ (power 0.8 at its Holm level), '>1000' or '–' if unknown."""
    n = r.get("seeds_needed")
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "–" if r.get("n_seeds", 0) < 2 or not r.get("delta") else ">1000"
    return f"{int(n)}"


def table_rows(s: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    head = ["FFN", "n", "val loss (mean ± std)", "ppl", "bpb", "Δ vs ReLU (nats)", "Δ %",
            "seed-blocked Δ [95% CI] (p, Holm)", "blocked verdict (blocks to resolve)", "Welch 95% CI",
            f"p (Welch, {CORRECTION})", "seeds to resolve (Welch)", "paired-by-seed 95% CI (p)", "early loss", "rank",
            "d_ff",
            "FFN params (Δ%)", "FLOPs/token", "tok/s", "peak GPU MB" if "peak_gpu_mb" in s else "peak MB",
            "Shazeer 65k (Δ)", "Shazeer 524k (Δ)", "Narang early (Δ)", "Narang final (Δ)"]
    rows = []
    for name, r in s.iterrows():
        sig = _star(r)
        blocked_primary = r.get("test") == "seed-blocked"
        p = _f(r.get("p_holm"), "{:.3g}") + ("" if blocked_primary else sig)
        need = r.get("blocks_needed")
        verdict = (f"{r.get('blocked_verdict')}" + (f" ({int(need)})" if isinstance(need, float) and math.isfinite(need)
                                                     else "")) if blocked_primary else "–"
        rows.append([
            name + (f" ({r['not_ok']})" if r.get("not_ok") else ""), str(int(r["n_seeds"])),
            _pm(r["val_loss"], r["val_loss_std"]), _f(r["val_ppl"], "{:.1f}"), _f(r["val_bpb"]),
            _f(r.get("delta"), "{:+.3f}"), _f(r.get("delta_pct"), "{:+.2f}"),
            "(baseline)" if name == BASELINE else (
                f"{_f(r.get('blocked_delta'), '{:+.3f}')} [{_f(r.get('blocked_lo'), '{:+.3f}')}, "
                f"{_f(r.get('blocked_hi'), '{:+.3f}')}] "
                f"({_f(r.get('p_blocked'), '{:.3g}')}, {_f(r.get('p_blocked_holm'), '{:.3g}')}{sig})"
                if blocked_primary else "–"),
            "" if name == BASELINE else verdict,
            f"[{_f(r.get('delta_lo'), '{:+.3f}')}, {_f(r.get('delta_hi'), '{:+.3f}')}]" if name != BASELINE else "",
            p if name != BASELINE else "",
            _seeds(r) if name != BASELINE else "",
            (f"[{_f(r.get('paired_lo'), '{:+.3f}')}, {_f(r.get('paired_hi'), '{:+.3f}')}] "
             f"({_f(r.get('p_paired'), '{:.3g}')})") if name != BASELINE else "",
            _pm(r["early_val_loss"], r["early_val_loss_std"]),
            str(r["rank"]), str(int(r["d_ff"])),
            f"{int(r['params_ffn']):,} ({_f(r.get('ffn_params_vs_relu_pct'), '{:+.2f}')})",
            f"{int(r['flops_per_token']):,}", _f(r["tokens_per_s"], "{:,.0f}"),
            _f(r["peak_gpu_mb"] if "peak_gpu_mb" in s else r["peak_rss_mb"], "{:,.0f}"),
            f"{_f(r.get('shazeer_65k'))} ({_f(r.get('shazeer_65k_delta'), '{:+.3f}')})",
            f"{_f(r.get('shazeer_524k'))} ({_f(r.get('shazeer_524k_delta'), '{:+.3f}')})",
            f"{_f(r.get('narang_early'))} ({_f(r.get('narang_early_delta'), '{:+.3f}')})",
            f"{_f(r.get('narang_final'))} ({_f(r.get('narang_final_delta'), '{:+.3f}')})",
        ])
    return head, rows


def markdown(s: pd.DataFrame, title: str = "") -> str:
    head, rows = table_rows(s)
    lines = [f"### {title}\n" if title else ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "Loss: final validation loss, nats per token. Δ: mean over seeds minus ReLU's mean. **Seed-blocked "
              "(the primary test):** every variant of a seed starts from the same non-FFN initial weights and reads "
              "the same batches, so a seed is a block and the setting a randomized complete block design; the fit "
              "loss ~ variant + seed (statsmodels OLS; a seed some variant lacks is an incomplete block, and Δ is then "
              "the fit's, not the raw difference of means) gives Δ's 95% interval on "
              "the pooled residual, its p and the Holm-adjusted p over the variants (* = below 0.05); where the "
              "residual spread differs between variants (Brown–Forsythe p < 0.01) each Δ is taken block by block "
              "instead (paired). Verdict: difference (interval excludes 0, Holm p < 0.05), equivalent (90% "
              "interval inside ±0.005 nats), else unresolved, with the blocks (seeds) that would resolve it at "
              "its current estimate. "
              f"Welch (for comparison): the unpaired 95% interval and two-sided test, {CORRECTION}-adjusted; "
              "where fewer than two seeds are shared by every variant it is the primary test instead. "
              "Seeds to resolve: the seeds per variant (ReLU's too) at which that test, at "
              "the level Holm's procedure gives it now, would detect the measured Δ with power 0.8 if the spread "
              "stays as measured (Welch, noncentral t). Paired: the same Δ taken seed by seed (a seed fixes the "
              "non-FFN init and the batches "
              "for every variant), its t interval and unadjusted p. "
              "Paper columns: the papers' own losses and their Δ vs their ReLU (C4, T5-base); "
              "compare Δ and ranks, not absolute losses.", ""]
    return "\n".join(lines)


# The paper-sized subset of table_rows' columns that the LaTeX table keeps, by name.
LATEX_COLUMNS = ("FFN", "n", "val loss (mean ± std)", "Δ vs ReLU (nats)", "seed-blocked Δ [95% CI] (p, Holm)",
                 "early loss", "rank", "Shazeer 65k (Δ)", "Narang final (Δ)")


def latex(s: pd.DataFrame) -> str:
    """The paper-sized table as a booktabs LaTeX tabular (pandas' Styler.to_latex), cells escaped for LaTeX."""
    head, rows = table_rows(s)
    keep = [head.index(name) for name in LATEX_COLUMNS]

    def esc(x: str) -> str:
        return x.replace("%", r"\%").replace("_", r"\_").replace("±", r"$\pm$").replace("Δ", r"$\Delta$")

    cells = pd.DataFrame([[esc(r[i]) for i in keep] for r in rows], columns=[esc(head[i]) for i in keep])
    return cells.style.hide(axis="index").to_latex(hrules=True, column_format="l" + "r" * (len(keep) - 1))


FRAGILE = ("With 2 seeds each spread rests on one difference, so a test near the threshold can flip when a loss "
           "moves in its third decimal (a re-run on another CPU did that, experiments/init_sensitivity): read "
           "these tests as indicative, and add seeds before claiming one.")


def verdict(s: pd.DataFrame, agree: pd.DataFrame) -> str:
    """A plain-language paragraph: which variants beat ReLU significantly (at the end and at 1/8 of the budget),
    and whether the papers' ordering held."""
    if BASELINE not in s.index or "significant" not in s:
        return f"No verdict: the runs include no '{BASELINE}' baseline to compare against."
    others = s.drop(index=BASELINE)
    better = others[(others["significant"] == True) & (others["delta"] < 0)].index.tolist()  # noqa: E712
    worse = others[(others["significant"] == True) & (others["delta"] > 0)].index.tolist()  # noqa: E712
    blocked_primary = "test" in others and (others["test"] == "seed-blocked").all()
    p_primary = others["p_blocked_holm"] if blocked_primary else others["p_holm"]
    untested = others[p_primary.isna()].index.tolist()
    equivalent = others.index[others["blocked_verdict"] == "equivalent"].tolist() if blocked_primary else []
    null = [n for n in others.index if n not in better + worse + untested + equivalent]
    how = ("seed-blocked two-way fit, variant + seed, " if blocked_primary else "Welch, ") + \
        f"{CORRECTION}-adjusted p < 0.05"
    n = int(s["n_seeds"].min())
    parts = [f"With {n}–{int(s['n_seeds'].max())} seeds per variant," if n != int(s["n_seeds"].max())
             else f"With {n} seed{'s' if n != 1 else ''} per variant,"]
    parts.append(f"{', '.join(better)} beat ReLU significantly ({how})." if better
                 else f"no variant beat ReLU significantly ({how}).")
    if worse:
        parts.append(f"{', '.join(worse)} did significantly worse than ReLU.")
    if equivalent:
        parts.append(f"{', '.join(equivalent)} {'is' if len(equivalent) == 1 else 'are'} equivalent to ReLU within "
                     "±0.005 nats (90% interval inside it).")
    if null:
        parts.append(f"For {', '.join(null)} the difference from ReLU is not significant at this budget: "
                     "a null result, with the interval in the table bounding the effect.")
    if untested:
        parts.append(f"{', '.join(untested)} could not be tested (fewer than 2 seeds).")
    if n == 2 and len(others) > len(untested) and not blocked_primary:
        parts.append(FRAGILE)
    e = others[others["early_p_holm"].notna()] if "early_p_holm" in others else others.iloc[:0]
    e_better = e[(e["early_significant"] == True) & (e["early_delta"] < 0)]  # noqa: E712
    if len(e_better):
        lo, hi = e_better["early_delta"].max(), e_better["early_delta"].min()
        span = f"Δ {lo:+.3f} nats" if len(e_better) == 1 else f"Δ {lo:+.3f} to {hi:+.3f} nats"
        verb = "was" if len(e_better) == 1 else "were"
        parts.append(f"At 1/8 of the budget {', '.join(e_better.index)} {verb} significantly below ReLU ({span}).")
    elif len(e):
        parts.append("At 1/8 of the budget no variant was significantly below ReLU.")
    parts += _agreement_sentences(s, agree)
    return " ".join(parts)


def _agreement_sentences(s: pd.DataFrame, agree: pd.DataFrame) -> list[str]:
    """The verdict's sentences on the papers' ordering: Spearman ρ against each paper's final column, the ranks
    that moved against Shazeer's, and the ceiling the paper's own columns set."""
    parts: list[str] = []
    final = agree[agree["ours"] == "final"] if len(agree) else agree
    columns = (("Shazeer 2020, 65", "Shazeer's 65,536-step column"), ("Narang 2021, final", "Narang's final column"))
    for prefix, text in columns:
        row = final[final["reference"].str.startswith(prefix)] if len(final) else final
        if len(row) and not math.isnan(row.iloc[0]["spearman_rho"]):
            r = row.iloc[0]
            rho, p = r["spearman_rho"], r.get("rho_p", math.nan)
            if math.isfinite(p) and p >= 0.05:
                held = "did not agree beyond chance (the exact permutation test does not reject ρ = 0)"
            else:
                held = "held" if rho >= 0.7 else ("partly held" if rho > 0.3 else "did not hold")
            parts.append(f"Against {text} the ordering {held}: Spearman ρ = {rho:.2f} (bootstrap 95% interval "
                         f"{r['rho_lo']:.2f} to {r['rho_hi']:.2f}, permutation p {p:.2g}, "
                         f"{r.get('pairs_concordant', math.nan):.0%} of variant pairs in the paper's order) over "
                         f"{r['n_variants']} variants.")
    if len(final) and "shazeer_65k" in s:
        moved = rank_differences(s, "shazeer_65k")
        if moved:
            parts.append("Ranks that moved by two or more places against Shazeer's 65,536-step column: " +
                         ", ".join(f"{n} (ours {a}, paper {b})" for n, a, b in moved) + ".")
        parts.append("The paper's own two columns agree at ρ = 0.93, about the ceiling of a reproduction.")
    return parts


def headline(s: pd.DataFrame, verdict_text: str, title: str = "") -> str:
    """The compact table a README opens with: ours next to the papers, Δ vs ReLU, significance, ranks."""
    head = ["FFN", "n", "val loss", "Δ vs ReLU [95% CI]", f"p ({CORRECTION})", "early Δ", "rank",
            "Shazeer Δ 65k / 524k", "Shazeer rank", "Narang Δ final"]
    paper_rank = s["shazeer_65k"].rank(method="min") if "shazeer_65k" in s else None
    lines = [f"### {title}\n" if title else "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in s.iterrows():
        base = name == BASELINE
        sig = _star(r)
        est, lo, hi, pcol = (("blocked_delta", "blocked_lo", "blocked_hi", "p_blocked_holm")
                             if r.get("test") == "seed-blocked" else ("delta", "delta_lo", "delta_hi", "p_holm"))
        delta = "" if base else (f"{_f(r.get(est), '{:+.3f}')} [{_f(r.get(lo), '{:+.3f}')}, "
                                 f"{_f(r.get(hi), '{:+.3f}')}]")
        pr = paper_rank.get(name) if paper_rank is not None else None
        lines.append("| " + " | ".join([
            name, str(int(r["n_seeds"])), _pm(r["val_loss"], r["val_loss_std"]), delta or "(baseline)",
            "" if base else _f(r.get(pcol), "{:.2g}") + sig,
            "" if base else _f(r.get("early_delta"), "{:+.3f}"), str(r["rank"]),
            f"{_f(r.get('shazeer_65k_delta'), '{:+.3f}')} / {_f(r.get('shazeer_524k_delta'), '{:+.3f}')}",
            _f(pr, "{:.0f}"), _f(r.get("narang_final_delta"), "{:+.3f}"),
        ]) + " |")
    lines += ["", "val loss: final validation loss (nats/token), mean ± std over seeds. Δ: vs ReLU's mean, with the "
              "seed-blocked 95% interval (the fit loss ~ variant + seed: every variant of a seed shares its non-FFN "
              "initial weights and batches, so the seed's part cancels; Welch's where fewer than two seeds are "
              "shared); "
              f"p: that test, {CORRECTION}-adjusted (* below 0.05). early Δ: the same at 1/8 of the budget. "
              "rank: ours among the variants here; Shazeer rank: the paper's 65,536-step column among the same "
              "variants. Paper Δ: their own loss minus their ReLU's (C4, T5-base).", "", "**Verdict.** " + verdict_text,
              ""]
    return "\n".join(lines)


def agreement_markdown(agree: pd.DataFrame, verdict_text: str) -> str:
    lines = ["| ours | reference | variants | Spearman ρ [95% bootstrap] | permutation p | pairs in the paper's order "
             "| Kendall τ [95% bootstrap] |", "|---|---|---|---|---|---|---|"]
    for _, r in agree.iterrows():
        ours = "final" if r["ours"] == "final" else "early (1/8)"
        lines.append(f"| {ours} | {r['reference']} | {r['n_variants']} | {_f(r['spearman_rho'], '{:.2f}')} "
                     f"[{_f(r['rho_lo'], '{:.2f}')}, {_f(r['rho_hi'], '{:.2f}')}] | {_f(r.get('rho_p'), '{:.2g}')} | "
                     f"{_f(r.get('pairs_concordant'), '{:.0%}')} | {_f(r['kendall_tau'], '{:.2f}')} "
                     f"[{_f(r['tau_lo'], '{:.2f}')}, {_f(r['tau_hi'], '{:.2f}')}] |")
    lines += ["", "Rank correlation of our mean validation loss per variant (final, or at 1/8 of the budget against "
              "the papers' own 1/8-budget columns) with each paper column, over the variants both have. The interval "
              "resamples seeds within each variant; permutation p: the exact two-sided test of ρ over every "
              "ordering of the variants; pairs: the share of variant pairs ordered as the paper orders them.", "",
              "**Verdict.** " +
              verdict_text, ""]
    return "\n".join(lines)


def settings_markdown(summary: pd.DataFrame) -> str:
    """Runs that mix settings (a learning-rate grid, two inits): mean final loss per variant × setting, Δ vs
    ReLU within each setting (* = significant there), and each variant at its own best setting."""
    settings = list(dict.fromkeys(summary["setting"]))
    s = summary.set_index(["ffn", "setting"])
    names = sorted(summary["ffn"].unique(), key=lambda n: order_key(pd.Index([n]))[0])
    head = ["FFN", *settings, "best setting", "best loss", "Δ vs ReLU's best"]
    best = summary.loc[summary.groupby("ffn")["val_loss"].idxmin()].set_index("ffn")
    relu_best = best.loc[BASELINE, "val_loss"] if BASELINE in best.index else math.nan
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in names:
        cells = [n]
        for c in settings:
            if (n, c) not in s.index:
                cells.append("–")
                continue
            r = s.loc[(n, c)]
            delta = "" if n == BASELINE or pd.isna(r.get("delta")) else f" (Δ {r['delta']:+.3f}{_star(r)})"
            cells.append(_pm(r["val_loss"], r["val_loss_std"]) + delta)
        b = best.loc[n]
        cells += [b["setting"], _f(b["val_loss"]), "" if n == BASELINE else _f(b["val_loss"] - relu_best, "{:+.3f}")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Final validation loss, mean ± std over seeds, per setting; Δ vs ReLU at the same setting (* = "
              f"significant there by the primary test of table.md: seed-blocked, {CORRECTION}-adjusted; Welch's "
              "where fewer than two seeds are shared). Best setting: the one with each variant's lowest mean "
              "loss; picking it on the validation split flatters every variant alike.", ""]
    return "\n".join(lines)
