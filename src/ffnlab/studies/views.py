"""The optional views of a report, each written only where the runs call for it: the standard figures of one
setting, activation diagnostics, the scaling study, BLiMP, the newer variants' claims, the model families and a
learning-rate sweep. Each takes DataFrames and a folder; ffnlab-report (ffnlab.cli.report) decides which run."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from ffnlab.data.blimp import folder as blimp_folder
from ffnlab.report import collect, plots
from ffnlab.report import diagnostics as diag
from ffnlab.report.folder import save, slug
from ffnlab.studies import arms as am
from ffnlab.studies import blimp as bl
from ffnlab.studies import claims as cl
from ffnlab.studies import decisive
from ffnlab.studies import families as fam
from ffnlab.studies import findings as fd
from ffnlab.studies import scaling as sc
from ffnlab.studies import scaling_text as sct

OVER_TRAINING = ("zero_frac", "small_frac", "dead_frac", "act_mean", "ffn_write", "resid_kurtosis", "resid_max_ratio",
                 "update_ratio")


def basic_figures(s: pd.DataFrame, curves: pd.DataFrame, runs: pd.DataFrame, figdir: Path) -> None:
    save(plots.final_loss(s), figdir, "final_loss")
    if len(curves):
        save(plots.curves(curves), figdir, "curves")
        save(plots.loss_vs_compute(curves, runs, x="flops"), figdir, "loss_vs_flops")
        save(plots.loss_vs_compute(curves, runs, x="seconds"), figdir, "loss_vs_time")
    if "delta" in s:
        save(plots.delta_vs_paper(s), figdir, "delta_vs_paper")
        save(plots.delta_by_horizon(s, where=collect.describe(runs)), figdir, "delta_by_horizon")
    save(plots.throughput_memory(s), figdir, "throughput_memory")


def _diagnostic_figures(points: pd.DataFrame, dsum: pd.DataFrame, s: pd.DataFrame, figdir: Path) -> None:
    for name, stats_, fn in (("diagnostics_over_training", OVER_TRAINING, plots.diagnostic),
                             ("diagnostics_by_layer", OVER_TRAINING[:-1], plots.diagnostic_by_layer)):
        present = [st for st in stats_ if (points["stat"] == st).any()]
        cols = 4
        rows = (len(present) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(14, 3.2 * rows), squeeze=False)
        for ax, st in zip(axes.flat, present, strict=False):  # panels beyond the statistics stay hidden
            fn(points, st, ax=ax)
        for ax in list(axes.flat)[len(present):]:
            ax.set_visible(False)
        axes.flat[0].legend(fontsize=6, ncol=2)
        save(axes.flat[0], figdir, name)
    save(plots.sparsity_vs_loss(dsum, s), figdir, "sparsity_vs_loss")


def diagnostics(done: list, out: Path, figures: bool = True) -> None:
    """diagnostics.md, diagnostics.csv and the diagnostic figures, for the runs that carry diagnostics; moe.md for
    routed FFNs (their experts' balance and routers at the end of training)."""
    md, frames, routed = [], [], []
    for label, g, s in done:
        points, meta = diag.read(g)
        if points.empty:
            continue
        if len(moe := diag.moe_summary(points)):
            routed.append(moe)
        dsum = diag.summarize(points)
        corr = diag.loss_correlations(dsum, s) if "early_val_loss" in s else None
        md.append((f"## {label}\n\n" if label else "") + diag.tables_markdown(dsum, meta, corr))
        wide = diag.layer_means(points).pivot_table(index=["run_dir", "ffn", "seed", "step", "horizon"],
                                                    columns="stat", values="value").reset_index()
        frames.append(wide.assign(setting=label) if len(done) > 1 else wide)
        if figures:
            _diagnostic_figures(points, dsum, s, out / "figures" / (slug(label) if len(done) > 1 else ""))
    if routed:  # routed FFNs: their experts' balance and their routers at the end of training
        (out / "moe.md").write_text(diag.moe_markdown(pd.concat(routed)))
    if md:
        (out / "diagnostics.md").write_text("# Activation diagnostics\n\n" + "\n".join(md))
        pd.concat(frames, ignore_index=True).round(6).to_csv(out / "diagnostics.csv", index=False)


def scaling(runs: pd.DataFrame, out: Path, n_boot: int, figures: bool) -> None:
    """scaling.md, scaling_cells.csv, scaling_fits.csv, scaling_agreement.csv and the scaling figures, for runs of
    several sizes or budgets."""
    cells = sc.cells(runs)
    fits = sc.fits(runs, n_boot=min(n_boot, 200))
    agree = sc.agreement(runs, n_boot=min(n_boot, 1000))
    spent = sc.compute_spent(runs)
    classified = fd.classify(cells)
    blocks = decisive.contrasts(runs)
    sections = [sct.verdict_markdown(runs, cells, agree, decisive.sentence(blocks)), decisive.markdown(blocks),
                fd.markdown(classified, fd.margins(runs, classified), agree),
                sct.largest_markdown(cells), sct.markdown(cells, fits),
                _agreement_section(runs, agree), sct.compute_markdown(spent)]
    (out / "scaling.md").write_text("# Scaling: loss vs compute, Δ vs ReLU and compute multipliers\n\n"
                                    + "\n".join(sections))
    classified.round(6).to_csv(out / "scaling_cells.csv", index=False)
    fits.round(6).to_csv(out / "scaling_fits.csv", index=False)
    agree.round(6).to_csv(out / "scaling_agreement.csv", index=False)
    if len(blocks):
        blocks.round(6).to_csv(out / "scaling_contrasts.csv", index=False)
    if not figures:
        return
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    save(plots.scaling_loss_vs_flops(cells, fits), figdir, "scaling_loss_vs_flops")
    save(plots.scaling_delta_vs_tokens(cells), figdir, "scaling_delta_vs_tokens")
    save(plots.scaling_multiplier(cells), figdir, "scaling_multiplier")
    if agree["spearman_rho"].notna().any():
        save(plots.agreement_vs_compute(agree), figdir, "agreement_vs_compute")


def blimp(runs: pd.DataFrame, out: Path, figures: bool) -> None:
    """blimp.md, blimp.csv and the BLiMP figures, where runs carry BLiMP scores."""
    ok = bl.scored(runs[runs["status"] == "ok"])
    if ok.empty:
        return
    v, ph = bl.by_variant(ok), bl.phenomena(ok)
    (out / "blimp.md").write_text(bl.markdown(v, ph, bl.loss_relation(ok), bl.reference_from(blimp_folder())))
    v.drop(columns=["group"]).round(6).to_csv(out / "blimp.csv", index=False)
    if figures:
        (out / "figures").mkdir(parents=True, exist_ok=True)
        if len(ph):
            save(plots.blimp_phenomena(ph), out / "figures", "blimp_phenomena")
        save(plots.blimp_vs_loss(ok), out / "figures", "blimp_vs_loss")


def _agreement_section(runs: pd.DataFrame, agree: pd.DataFrame) -> str:
    p = sc.points(runs)
    variants, sizes = sc.agreement_set(p)
    return sct.agreement_markdown(agree, variants, sorted(set(p["size"]) - set(sizes)))


def settings_figure(summary: pd.DataFrame, out: Path) -> None:
    """settings.md's figure: the variants side by side across a grid of settings."""
    (out / "figures").mkdir(parents=True, exist_ok=True)
    save(plots.by_setting(summary), out / "figures", "by_setting")


def claims(done: list, out: Path) -> None:
    """claims.md, where newer variants ran (report.paper.CLAIMS): each paper's claim beside the measured Δs."""
    claimed = [(label, cl.table(g, s)) for label, g, s in done if cl.has_claims(s)]
    if claimed:
        (out / "claims.md").write_text("# The papers' claims beside ffnlab's measurements\n\n" + "\n".join(
            (f"## {label}\n\n" if label else "") + cl.markdown(t) for label, t in claimed))


def families(runs: pd.DataFrame, out: Path, figures: bool) -> None:
    """families.md and its figures, for family presets: shipped vs matched, by parameters and FLOPs."""
    if not fam.has_families(runs):
        return
    t = fam.table(runs)
    (out / "families.md").write_text(fam.markdown(t))
    if figures:
        (out / "figures").mkdir(parents=True, exist_ok=True)
        save(plots.families(t, "params_ffn"), out / "figures", "families_params")
        save(plots.families(t, "train_flops"), out / "figures", "families_flops")


def learning_rates(runs: pd.DataFrame, out: Path) -> None:
    """lr.md and lr.csv, for a learning-rate sweep across sizes (experiment=scaling_lr): the best rate per size."""
    if sc.has_lr_sweep(runs):
        t = sc.lr_choice(runs)
        (out / "lr.md").write_text("# Learning rate per size\n\n" + sct.lr_markdown(t))
        t.round(6).to_csv(out / "lr.csv", index=False)


def arms(runs: pd.DataFrame, out: Path, figures: bool = True) -> None:
    """arms.md, arms.csv and arms_interactions.csv, where runs cross the FFN with a routed FFN, an attention
    normalizer or an output head: each arm's Δ vs the reference arm (dense SwiGLU, softmax attention, full head)
    with its compute multiplier where the reference has a curve, and whether the FFN ordering changes with the
    context, seed-blocked (ffnlab.studies.arms)."""
    if am.has_arms(runs):
        t, inter = am.table(runs), am.interactions(runs)
        (out / "arms.md").write_text(am.markdown(t, inter))
        t.round(6).to_csv(out / "arms.csv", index=False)
        if len(inter):
            inter.round(6).to_csv(out / "arms_interactions.csv", index=False)
        if figures and len(t):
            (out / "figures").mkdir(parents=True, exist_ok=True)
            save(plots.forest(t, "arm", title=f"Against {t['reference'].iloc[0]}"), out / "figures", "arms")
