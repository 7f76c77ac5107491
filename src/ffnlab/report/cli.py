"""`ffnlab-report SWEEP_DIR ... --out results/<study>`: tables, statistics, agreement and figures from run records.

Outputs (all in --out):
  runs.csv       one row per run folder, failed / diverged / missing / corrupt ones included, with the config
                 columns that vary across the runs and every metric of the record; run_dir is the run's
                 stable name (<root folder name>/<run folder>), the same when rebuilt from records/
  curves.csv     every evaluation of every run: step, tokens, train_loss, val_loss, val_partial, train_s
  summary.csv    one row per variant (per setting, if the runs mix settings): n seeds, loss mean ± std,
                 perplexity, bits per byte, Δ vs relu (nats, %), its Welch 95% CI, Welch p with Holm
                 correction, early-horizon loss, rank, parameter counts, FLOPs/token, tokens/s, peak
                 memory, and the papers' numbers with their own Δ vs ReLU
  table.md       summary.csv as the paper-style Markdown table; table.tex the same in LaTeX
  agreement.md   Spearman ρ / Kendall τ of our ranking vs Shazeer's and Narang's (bootstrap over seeds), our
                 final loss against every paper column and our 1/8-budget loss against the papers' 1/8 columns,
                 and a plain-language verdict
  headline.md    the compact table a README opens with (ours next to the papers, Δ, p, ranks) and the verdict
  settings.md    only when the runs mix settings (an LR grid, two inits): loss per variant × setting, Δ vs
                 ReLU within each, each variant at its best setting; figures/by_setting the same as a chart
  diagnostics.md when the records carry activation diagnostics: per variant, sparsity, dead units, gate
                 saturation, FFN output scale and residual outliers at the final and early horizons (mean ±
                 std over seeds) and their measured cost; diagnostics.csv every run's layer-averaged
                 statistics at every evaluation (per layer and per matrix: in the records)
  figures/       PNG + SVG: delta_by_horizon (the paper-style comparison), final_loss, curves, delta_vs_paper,
                 loss_vs_flops, loss_vs_time, throughput_memory; with diagnostics also diagnostics_over_training,
                 diagnostics_by_layer, sparsity_vs_loss; with family presets (ffn_family) also
                 families.md (each family's FFN as shipped and matched: loss, FFN parameters, FLOPs, Δ vs
                 ReLU, shipped − matched) and figures/families_params, families_flops; with several model
                 sizes or token budgets also scaling.md, scaling_cells.csv, scaling_fits.csv,
                 scaling_agreement.csv (ffnlab.report.scaling: Δ vs ReLU and the compute multiplier per size
                 and budget, power-law fits, rank agreement with the papers per size and budget over one
                 variant set, the compute the runs spent per size and machine; ffnlab.report.findings: the
                 scaling study's rules for a finding applied to them) and
                 figures/scaling_loss_vs_flops, scaling_delta_vs_tokens, scaling_multiplier,
                 agreement_vs_compute
  lr.md, lr.csv  when a size was trained at several learning rates (experiment=scaling_lr): each variant's
                 loss per size and learning rate and the best learning rate per size (scaling.lr_choice)
  machines.md    when the runs were trained on more than one machine (CPU model and vector instructions, GPU,
                 or platform string, as the records name it): finished runs per machine and variant
  claims.md      when newer variants ran (report.paper.CLAIMS): each paper's claim beside ffnlab's Δ vs ReLU
                 and vs the variants the claim names
  records/       the raw run record of every run read (records/<study>/<run>/metrics.json; no checkpoints), so
                 that `ffnlab-report OUT/records/* --out OUT` rebuilds this folder from git alone, byte for byte
  REPORT_COMMAND.txt  the command that wrote this folder (for a rebuild from records/, that command, which rebuilds
                 it from git alone, then the one that first wrote it from the runs)
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from ffnlab.blimp import folder as blimp_folder
from ffnlab.errors import cli_errors
from ffnlab.io import ensure_writable
from ffnlab.record import OUTCOME_NAME, RECORD_NAME
from ffnlab.report import blimp as bl
from ffnlab.report import claims as cl
from ffnlab.report import collect, decisive, plots, stats, tables
from ffnlab.report import diagnostics as diag
from ffnlab.report import families as fam
from ffnlab.report import findings as fd
from ffnlab.report import scaling as sc


def _settings(runs: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Split runs by the config settings that vary (other than variant and seed); never average across them."""
    cols = collect.setting_columns(runs)
    if not cols:
        return [("", runs)]
    warnings.warn(f"runs mix settings ({', '.join(c.removeprefix('cfg.') for c in cols)}); reporting each setting "
                  "separately",
                  stacklevel=2)
    labels = collect.setting_labels(runs)
    return [(label, runs[labels == label]) for label in collect.settings(runs)]


def _save(ax, figdir: Path, name: str) -> None:
    """PNG and SVG, byte-stable: no date in the metadata, SVG ids from a fixed salt (re-runs diff cleanly)."""
    import matplotlib
    import matplotlib.pyplot as plt

    fig = ax.figure
    fig.tight_layout()
    with matplotlib.rc_context({"svg.hashsalt": "ffnlab"}):
        fig.savefig(figdir / f"{name}.png", dpi=130, metadata={"Software": None})
        fig.savefig(figdir / f"{name}.svg", dpi=130, metadata={"Date": None})

    plt.close(fig)


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in label.replace(", ", "__"))


def _figures(s: pd.DataFrame, curves: pd.DataFrame, runs: pd.DataFrame, figdir: Path) -> None:
    _save(plots.final_loss(s), figdir, "final_loss")
    if len(curves):
        _save(plots.curves(curves), figdir, "curves")
        _save(plots.loss_vs_compute(curves, runs, x="flops"), figdir, "loss_vs_flops")
        _save(plots.loss_vs_compute(curves, runs, x="seconds"), figdir, "loss_vs_time")
    if "delta" in s:
        _save(plots.delta_vs_paper(s), figdir, "delta_vs_paper")
        _save(plots.delta_by_horizon(s, where=collect.describe(runs)), figdir, "delta_by_horizon")
    _save(plots.throughput_memory(s), figdir, "throughput_memory")


MANIFEST = ".ffnlab-report.json"  # the files the last report wrote here: the only ones a new report removes
FIGURES = ("final_loss", "curves", "loss_vs_flops", "loss_vs_time", "delta_vs_paper", "delta_by_horizon",
           "throughput_memory", "by_setting", "diagnostics_over_training", "diagnostics_by_layer", "sparsity_vs_loss",
           "families_params", "families_flops", "scaling_loss_vs_flops", "scaling_delta_vs_tokens",
           "scaling_multiplier", "agreement_vs_compute", "blimp_phenomena", "blimp_vs_loss")
OVER_TRAINING = ("zero_frac", "small_frac", "dead_frac", "act_mean", "ffn_write", "resid_kurtosis", "resid_max_ratio",
                 "update_ratio")


def _previous_outputs(out: Path) -> list[Path]:
    """What an earlier report wrote to `out`: its manifest's list, or for a report from before manifests
    (REPORT_COMMAND.txt, no manifest) its fixed names. A folder that no report wrote is refused, never cleared."""
    manifest = out / MANIFEST
    if manifest.is_file():
        return [out / rel for rel in json.loads(manifest.read_text())]
    if not out.is_dir() or not any(out.iterdir()):
        return []
    if not (out / "REPORT_COMMAND.txt").is_file():
        raise collect.ReportError(f"--out {out} holds files that no ffnlab report wrote; choose a new or empty "
                                  "folder (a report replaces only what an earlier report wrote there)")
    figures = [f for f in (out / "figures").rglob("*") if f.suffix in (".png", ".svg") and f.stem in FIGURES]
    return [out / "settings.md", *figures]


def _clear_previous(out: Path, keep_records: bool) -> None:
    """Remove what the earlier report here wrote and this one might not (settings.md, figures of settings that
    are gone, records of runs no longer read), so the folder never mixes two reports; nothing else is touched.
    `keep_records`: this report reads (some of) its runs from out/records, which therefore stays."""
    emptied: set[Path] = set()
    for f in sorted(_previous_outputs(out), reverse=True):
        if f.is_file() and not (keep_records and f.relative_to(out).parts[0] == RECORDS):
            f.unlink()
            emptied.update(p for p in f.parents if out in p.parents)
    for d in sorted(emptied, key=lambda p: len(p.parts), reverse=True):  # the folders it emptied, deepest first
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()


def _write_manifest(out: Path, since: float) -> None:
    """List the files this report wrote (and its records/), for the next report to replace exactly those. A
    study's pending/ folder (records waiting for a whole seed block) is never a report's, whenever written."""
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != MANIFEST
                   and p.relative_to(out).parts[0] != PENDING
                   and (p.stat().st_mtime >= since or p.relative_to(out).parts[0] == RECORDS))
    (out / MANIFEST).write_text(json.dumps(files, indent=0) + "\n")


RECORDS = "records"
PENDING = "pending"  # results/<study>/pending/: records kept out of the report until their seed block is whole


def _shared_overrides(runs: pd.DataFrame) -> str | None:
    """The sweep overrides other than ffn and seed that every run shares, read from the run folders' names
    (Hydra's override_dirname, `ffn=gelu,scale=s,seed=0,trainer.max_steps=8000` → `scale=s
    trainer.max_steps=8000`); None where a folder's name is no such list."""
    shared = None
    for name in runs.get("run_dir", pd.Series([], dtype=object)):
        pairs = [part.split("=", 1) for part in str(name).rsplit("/", 1)[-1].split(",")]
        if not all(len(pair) == 2 and pair[0] for pair in pairs):
            return None
        own = {(k, v) for k, v in pairs if k not in ("ffn", "seed")}
        shared = own if shared is None else shared & own
    return " ".join(f"{k}={v}" for k, v in sorted(shared or ()))


def more_seeds_command(runs: pd.DataFrame, s: pd.DataFrame, cap: int = 50,
                       setting: pd.DataFrame | None = None) -> str | None:
    """The sweep that adds the seeds which would resolve every unresolved Δ (table.md's "seeds to resolve"), for
    a study run from an experiment file; finished runs are skipped when it runs. None if nothing is missing.
    `setting`: where the study spans several settings (sizes, budgets, learning rates), the runs of the one `s`
    summarizes, whose shared overrides narrow the sweep to it (else it would add the seeds to every setting)."""
    from ffnlab.io import REPO_ROOT

    if "seeds_needed" not in s:
        return None
    # the primary test's forecast: the seed blocks that would resolve a Δ (seed-blocked), else Welch's seeds
    need = "blocks_needed" if "test" in s and (s["test"] == "seed-blocked").any() else "seeds_needed"
    open_ = s[~s["significant"].fillna(False).astype(bool) & s[need].notna()]
    open_ = open_[open_[need] > open_["n_seeds"]]
    if open_.empty:
        return None
    seeds = int(min(open_[need].max(), cap))
    names = ",".join([stats.BASELINE, *[n for n in open_.index if n != stats.BASELINE]])
    study = runs.get("cfg.sweep_name", pd.Series(dtype=object)).dropna().unique()
    known = len(study) == 1 and (REPO_ROOT / "conf" / "experiment" / f"{study[0]}.yaml").is_file()
    sweep = f"experiment={study[0]}" if known else (f"sweep_name={study[0]}" if len(study) == 1 else
                                                     "<the sweep's overrides>")
    # the overrides every run's folder name carries (model=tiny, a budget, a size): without them the command
    # would plan runs of another configuration into the same study folder
    narrow = _shared_overrides(setting if setting is not None else runs)
    if narrow:
        sweep += f" {narrow}"
    elif narrow is None:
        sweep += " <the sweep's own overrides>"
    return f"ffnlab-train -m {sweep} ffn={names} seed={','.join(map(str, range(seeds)))}" + \
        (f"  (capped at {cap} seeds)" if open_[need].max() > cap else "")


def _diagnostic_figures(points: pd.DataFrame, dsum: pd.DataFrame, s: pd.DataFrame, figdir: Path) -> None:
    import matplotlib.pyplot as plt

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
        _save(axes.flat[0], figdir, name)
    _save(plots.sparsity_vs_loss(dsum, s), figdir, "sparsity_vs_loss")


def _diagnostics(done: list, out: Path, figures: bool = True) -> None:
    """diagnostics.md, diagnostics.csv and the diagnostic figures, for the runs that carry diagnostics."""
    md, frames = [], []
    for label, g, s in done:
        points, meta = diag.read(g)
        if points.empty:
            continue
        dsum = diag.summarize(points)
        corr = diag.loss_correlations(dsum, s) if "early_val_loss" in s else None
        md.append((f"## {label}\n\n" if label else "") + diag.tables_markdown(dsum, meta, corr))
        wide = diag.layer_means(points).pivot_table(index=["run_dir", "ffn", "seed", "step", "horizon"],
                                                    columns="stat", values="value").reset_index()
        frames.append(wide.assign(setting=label) if len(done) > 1 else wide)
        if figures:
            _diagnostic_figures(points, dsum, s, out / "figures" / (_slug(label) if len(done) > 1 else ""))
    if md:
        (out / "diagnostics.md").write_text("# Activation diagnostics\n\n" + "\n".join(md))
        pd.concat(frames, ignore_index=True).round(6).to_csv(out / "diagnostics.csv", index=False)


def _scaling(runs: pd.DataFrame, out: Path, n_boot: int, figures: bool) -> None:
    """scaling.md, scaling_cells.csv, scaling_fits.csv, scaling_agreement.csv and the scaling figures, for runs of
    several sizes or budgets."""
    cells = sc.cells(runs)
    fits = sc.fits(runs, n_boot=min(n_boot, 200))
    agree = sc.agreement(runs, n_boot=min(n_boot, 1000))
    spent = sc.compute_spent(runs)
    classified = fd.classify(cells)
    blocks = decisive.contrasts(runs)
    sections = [sc.verdict_markdown(runs, cells, agree, decisive.sentence(blocks)), decisive.markdown(blocks),
                fd.markdown(classified, fd.margins(runs, classified), agree),
                sc.largest_markdown(cells), sc.markdown(cells, fits),
                _agreement_section(runs, agree), sc.compute_markdown(spent)]
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
    _save(plots.scaling_loss_vs_flops(cells, fits), figdir, "scaling_loss_vs_flops")
    _save(plots.scaling_delta_vs_tokens(cells), figdir, "scaling_delta_vs_tokens")
    _save(plots.scaling_multiplier(cells), figdir, "scaling_multiplier")
    if agree["spearman_rho"].notna().any():
        _save(plots.agreement_vs_compute(agree), figdir, "agreement_vs_compute")


def _blimp(runs: pd.DataFrame, out: Path, figures: bool) -> None:
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
            _save(plots.blimp_phenomena(ph), out / "figures", "blimp_phenomena")
        _save(plots.blimp_vs_loss(ok), out / "figures", "blimp_vs_loss")


def _agreement_section(runs: pd.DataFrame, agree: pd.DataFrame) -> str:
    p = sc.points(runs)
    variants, sizes = sc.agreement_set(p)
    return sc.agreement_markdown(agree, variants, sorted(set(p["size"]) - set(sizes)))


FIRST = "# first written by: "


def report_command(argv: list[str], before: str | None) -> str:
    """REPORT_COMMAND.txt: the command that wrote this report, then, for a report rebuilt from its own records/,
    the command that first wrote it from the runs (a line starting FIRST): the first line always rebuilds the
    folder from what git holds when the report was rebuilt from records/."""
    line = "ffnlab-report " + " ".join(shlex.quote(a) for a in argv) + "\n"
    if before is None:
        return line
    lines = before.splitlines()
    first = next((ln for ln in lines if ln.startswith(FIRST)), FIRST + lines[0] if lines else None)
    return line + (first + "\n" if first and first != FIRST + line.strip() else "")


def _inside_records(runs: pd.DataFrame, out: Path) -> list[bool]:
    """For each run, whether it was read from out/records (a rebuild of this report from git)."""
    dest = (out / RECORDS).resolve()
    return [dest in Path(f).resolve().parents for f in runs["folder"]]


def _copy_records(runs: pd.DataFrame, out: Path, inside: list[bool]) -> None:
    """Copy each run's record (metrics.json; a run without one: its .hydra/config.yaml and outcome.json) to
    out/records/<run_dir>/, so the report can be rebuilt from git. Checkpoints and logs are never copied; runs
    read from out/records already are where they belong."""
    for name, folder, is_inside in zip(runs["run_dir"], runs["folder"], inside, strict=True):
        src = Path(folder)
        files = [RECORD_NAME] if (src / RECORD_NAME).is_file() else [".hydra/config.yaml", OUTCOME_NAME]
        for rel in files:
            if not is_inside and (src / rel).is_file():
                (out / RECORDS / name / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src / rel, out / RECORDS / name / rel)


def report(roots: list[str], out: Path, n_boot: int = 2000, copy_records: bool = True, figures: bool = True,
           announce=None) -> dict[str, pd.DataFrame]:
    """Write the report of the runs under `roots` to `out`. copy_records=False leaves out records/ (a report
    inside the sweep it reads); figures=False writes the tables only; `announce(text)` is called with the
    headline and verdict as soon as they are written, before the figures."""
    ensure_writable(out, "--out")  # a read-only folder: one line before any work
    runs, curves = collect.load(roots)
    dup = collect.duplicates(runs)
    if dup.any():
        warnings.warn(f"{int(dup.sum())} finished run(s) repeat the exact config of another (same variant, seed and "
                      "settings); each config is counted once (see 'duplicate' in runs.csv)", stacklevel=2)
    runs["duplicate"] = dup
    runs.loc[dup, "status"] = "duplicate"
    started = time.time()
    inside = _inside_records(runs, out)
    rebuild = all(inside)
    command = out / "REPORT_COMMAND.txt"  # a rebuild from records/ keeps the command that made the report
    made_by = command.read_text() if rebuild and command.is_file() else None
    _clear_previous(out, keep_records=any(inside))
    out.mkdir(parents=True, exist_ok=True)
    if copy_records:
        _copy_records(runs, out, inside)
    # runs.csv leaves out where each run was read and which machine trained it (machines.md says that)
    keep = [c for c in runs.columns if not c.startswith("cfg.") and c not in ("folder", "machine")]
    keep += collect.varying_columns(runs)
    runs[keep].to_csv(out / "runs.csv", index=False)
    curves.to_csv(out / "curves.csv", index=False)
    for status, n in runs["status"].value_counts().items():
        if status != "ok":
            warnings.warn(f"{n} run(s) with status '{status}' (listed in runs.csv, left out of the statistics)",
                          stacklevel=2)

    summaries, md, tex, agree_md, heads, done = [], [], [], [], [], []
    groups = _settings(runs)
    for label, g in groups:
        s = stats.summarize(g)
        if s.empty:
            continue
        single = s.index[s["n_seeds"] < 2].tolist()
        if single:
            warnings.warn(f"{label or 'runs'}: only one seed for {', '.join(single)}: no std, interval or test",
                          stacklevel=2)
        a = stats.agreement(g, s, n_boot=n_boot)
        done.append((label, g, s))
        summaries.append(s.assign(setting=label).reset_index())
        md.append(tables.markdown(s, title=label))
        tex.append((f"% {label}\n" if label else "") + tables.latex(s))
        text = tables.verdict(s, a)
        agree_md.append((f"### {label}\n\n" if label else "") + tables.agreement_markdown(a, text))
        heads.append(tables.headline(s, text, title=label))
    if not summaries:
        raise collect.ReportError("no finished ('ok') runs to summarize; see runs.csv for their status")
    summary = pd.concat(summaries, ignore_index=True)
    summary.to_csv(out / "summary.csv", index=False)
    corpora = ", ".join(sorted(runs["corpus"].dropna().unique())) if "corpus" in runs else "?"
    header = f"# Results ({corpora}; {int((runs['status'] == 'ok').sum())} finished runs of {len(runs)})\n\n"
    (out / "table.md").write_text(header + "\n".join(md))
    (out / "table.tex").write_text("\n".join(tex))
    (out / "agreement.md").write_text("# Rank agreement with the papers\n\n" + "\n".join(agree_md))
    (out / "headline.md").write_text(header + "\n".join(heads))
    if announce is not None:
        announce(header + "\n".join(heads))
    if len(summaries) > 1:  # a grid of settings: the variants side by side across it
        (out / "settings.md").write_text("# Across settings\n\n" + tables.settings_markdown(summary))
        if figures:
            (out / "figures").mkdir(parents=True, exist_ok=True)
            _save(plots.by_setting(summary), out / "figures", "by_setting")

    for label, g, s in done if figures else []:
        figdir = out / "figures" / (_slug(label) if len(done) > 1 else "")
        figdir.mkdir(parents=True, exist_ok=True)
        _figures(s, curves[curves["run_dir"].isin(g["run_dir"])] if len(curves) else curves, g, figdir)
    _diagnostics(done, out, figures)
    claimed = [(label, cl.table(g, s)) for label, g, s in done if cl.has_claims(s)]
    if claimed:  # the newer variants: each paper's claim beside the measured Δs
        (out / "claims.md").write_text("# The papers' claims beside ffnlab's measurements\n\n" + "\n".join(
            (f"## {label}\n\n" if label else "") + cl.markdown(t) for label, t in claimed))
    if fam.has_families(runs):  # family presets: shipped vs matched, by parameters and FLOPs, never by rank alone
        t = fam.table(runs)
        (out / "families.md").write_text(fam.markdown(t))
        if figures:
            (out / "figures").mkdir(parents=True, exist_ok=True)
            _save(plots.families(t, "params_ffn"), out / "figures", "families_params")
            _save(plots.families(t, "train_flops"), out / "figures", "families_flops")
    if sc.has_scaling(runs):
        _scaling(runs, out, n_boot, figures)
    _blimp(runs, out, figures)
    if sc.has_lr_sweep(runs):  # a learning-rate sweep across sizes (experiment=scaling_lr): the best per size
        t = sc.lr_choice(runs)
        (out / "lr.md").write_text("# Learning rate per size\n\n" + sc.lr_markdown(t))
        t.round(6).to_csv(out / "lr.csv", index=False)
    machines = collect.machines_markdown(runs)
    if machines:
        (out / "machines.md").write_text(machines)
        n = runs.loc[runs["status"] == "ok", "machine"].nunique()
        warnings.warn(f"the runs come from {n} machines (machines.md): a Δ between variants trained on different "
                      "ones also carries their floating-point differences", stacklevel=2)
    command.write_text(report_command(sys.argv[1:], made_by))
    _write_manifest(out, started)
    return {"runs": runs, "curves": curves, "summary": summary, "rebuilt": rebuild}


@cli_errors("ffnlab-report")
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ffnlab-report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_dirs", nargs="+", help="sweep or run folders to read (searched recursively)")
    p.add_argument("--out", required=True, type=Path, help="folder to write (e.g. results/shazeer)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for rank agreement")
    args = p.parse_args(argv)
    if args.bootstrap < 0:
        p.error(f"--bootstrap {args.bootstrap}: the number of resamples is 0 (no intervals) or more")
    warnings.simplefilter("always")
    warnings.formatwarning = lambda msg, *a, **k: f"ffnlab-report: warning: {msg}\n"
    if args.out.exists() and not args.out.is_dir():
        raise collect.ReportError(f"--out {args.out} is a file; name a folder (e.g. results/<study>)")
    result = report(args.sweep_dirs, args.out, n_boot=args.bootstrap)
    labels = collect.setting_labels(result["runs"])
    for label, s in result["summary"].groupby("setting", sort=False):
        setting = result["runs"][labels == label] if label else None
        command = more_seeds_command(result["runs"], s.set_index("ffn"), setting=setting)
        if command:
            print(f"{label + ': ' if label else ''}to resolve every Δ vs ReLU (table.md), add seeds:"
                  f"\n  {command}")
    written = [f for f in json.loads((args.out / MANIFEST).read_text()) if "/" not in f]  # the manifest's top level
    print(f"wrote {args.out}/: {' '.join(written)} figures/ "
          + ("(rebuilt from its records/)" if result["rebuilt"] else f"{RECORDS}/ (the raw run records)"))


if __name__ == "__main__":
    main()
