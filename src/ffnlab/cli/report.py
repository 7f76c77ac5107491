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
                 scaling_agreement.csv (ffnlab.studies.scaling: Δ vs ReLU and the compute multiplier per size
                 and budget, power-law fits, rank agreement with the papers per size and budget over one
                 variant set, the compute the runs spent per size and machine; ffnlab.studies.findings: the
                 scaling study's rules for a finding applied to them) and
                 figures/scaling_loss_vs_flops, scaling_delta_vs_tokens, scaling_multiplier,
                 agreement_vs_compute
  lr.md, lr.csv  when a size was trained at several learning rates (experiment=scaling_lr): each variant's
                 loss per size and learning rate and the best learning rate per size (scaling.lr_choice)
  machines.md    when the runs were trained on more than one machine (CPU model and vector instructions, GPU,
                 or platform string, as the records name it): finished runs per machine and variant
  claims.md      when newer variants ran (report.paper.CLAIMS): each paper's claim beside ffnlab's Δ vs ReLU
                 and vs the variants the claim names
  arms.md, arms.csv  when runs cross the FFN with a routed FFN, a normalizer or a head: each arm's Δ vs the
                 dense SwiGLU with softmax attention and the full head, seed-blocked, with its compute multiplier
                 where the reference ran at several budgets and its recorded speed; arms_interactions.csv: whether
                 the FFN ordering changes with the routing, normalizer or head; figures/arms.png: the Δs and their
                 intervals (ffnlab.studies.arms)
  moe.md         when runs route their FFN: expert load CV, router entropy, top-1 churn per variant
  records/       the raw run record of every run read (records/<study>/<run>/metrics.json; no checkpoints), so
                 that `ffnlab-report OUT/records/* --out OUT` rebuilds this folder from git alone, byte for byte
  REPORT_COMMAND.txt  the command that wrote this folder (for a rebuild from records/, that command, which rebuilds
                 it from git alone, then the one that first wrote it from the runs)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from ffnlab.errors import FfnlabError, ReportError, cli_errors
from ffnlab.io import ensure_writable
from ffnlab.report import collect, folder, seeds, stats, tables
from ffnlab.runs.record import RECORD_NAME, try_read_record
from ffnlab.studies import scaling as sc
from ffnlab.studies import views

log = logging.getLogger("ffnlab")
REPORT_DIR = "report"  # a sweep's own report: <sweep>/report/


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


def report(roots: list[str], out: Path, n_boot: int = 2000, copy_records: bool = True, figures: bool = True,
           announce=None) -> dict[str, pd.DataFrame]:
    """Write the report of the runs under `roots` to `out`. copy_records=False leaves out records/ (a report
    inside the sweep it reads); figures=False writes the tables only; `announce(text)` is called with the
    headline and verdict as soon as they are written, before the figures."""
    ensure_writable(out, "--out")  # a read-only folder: one line before any work
    runs, curves = _load(roots)
    started = time.time()
    inside = folder.inside_records(runs, out)
    rebuild = all(inside)
    command = out / "REPORT_COMMAND.txt"  # a rebuild from records/ keeps the command that made the report
    made_by = command.read_text() if rebuild and command.is_file() else None
    folder.clear_previous(out, keep_records=any(inside))
    out.mkdir(parents=True, exist_ok=True)
    if copy_records:
        folder.copy_records(runs, out, inside)
    _write_runs(runs, curves, out)
    done, summary = _summaries(runs, out, n_boot, announce)
    if len(done) > 1 and figures:
        views.settings_figure(summary, out)
    for label, g, s in done if figures else []:
        figdir = out / "figures" / (folder.slug(label) if len(done) > 1 else "")
        figdir.mkdir(parents=True, exist_ok=True)
        views.basic_figures(s, curves[curves["run_dir"].isin(g["run_dir"])] if len(curves) else curves, g, figdir)
    views.diagnostics(done, out, figures)
    views.claims(done, out)
    views.families(runs, out, figures)
    if sc.has_scaling(runs):
        views.scaling(runs, out, n_boot, figures)
    views.blimp(runs, out, figures)
    views.learning_rates(runs, out)
    views.arms(runs, out, figures)
    _machines(runs, out)
    command.write_text(folder.report_command(sys.argv[1:], made_by))
    folder.write_manifest(out, started)
    return {"runs": runs, "curves": curves, "summary": summary, "rebuilt": rebuild}


def _load(roots: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every run under `roots` (one row each) and every evaluation; a repeated exact config marked duplicate."""
    runs, curves = collect.load(roots)
    dup = collect.duplicates(runs)
    if dup.any():
        warnings.warn(f"{int(dup.sum())} finished run(s) repeat the exact config of another (same variant, seed and "
                      "settings); each config is counted once (see 'duplicate' in runs.csv)", stacklevel=3)
    runs["duplicate"] = dup
    runs.loc[dup, "status"] = "duplicate"
    return runs, curves


def _write_runs(runs: pd.DataFrame, curves: pd.DataFrame, out: Path) -> None:
    """runs.csv (without where each run was read and which machine trained it: machines.md says that), curves.csv."""
    keep = [c for c in runs.columns if not c.startswith("cfg.") and c not in ("folder", "machine")]
    keep += collect.varying_columns(runs)
    runs[keep].to_csv(out / "runs.csv", index=False)
    curves.to_csv(out / "curves.csv", index=False)
    for status, n in runs["status"].value_counts().items():
        if status != "ok":
            warnings.warn(f"{n} run(s) with status '{status}' (listed in runs.csv, left out of the statistics)",
                          stacklevel=3)


def _summaries(runs: pd.DataFrame, out: Path, n_boot: int, announce) -> tuple[list, pd.DataFrame]:
    """summary.csv, table.md/.tex, agreement.md, headline.md (announced as soon as written) and, for a grid of
    settings, settings.md; returns [(label, runs, summary)] of each setting with finished runs, and summary.csv."""
    summaries, md, tex, agree_md, heads, done = [], [], [], [], [], []
    for label, g in _settings(runs):
        s = stats.summarize(g)
        if s.empty:
            continue
        single = s.index[s["n_seeds"] < 2].tolist()
        if single:
            warnings.warn(f"{label or 'runs'}: only one seed for {', '.join(single)}: no std, interval or test",
                          stacklevel=3)
        a = stats.agreement(g, s, n_boot=n_boot)
        done.append((label, g, s))
        summaries.append(s.assign(setting=label).reset_index())
        md.append(tables.markdown(s, title=label))
        tex.append((f"% {label}\n" if label else "") + tables.latex(s))
        text = tables.verdict(s, a)
        agree_md.append((f"### {label}\n\n" if label else "") + tables.agreement_markdown(a, text))
        heads.append(tables.headline(s, text, title=label))
    if not summaries:
        raise ReportError("no finished ('ok') runs to summarize; see runs.csv for their status")
    summary = pd.concat(summaries, ignore_index=True)
    summary.to_csv(out / "summary.csv", index=False, float_format="%.12g")  # 12 digits: no ulp noise across libraries
    corpora = ", ".join(sorted(runs["data_corpus"].dropna().unique())) if "data_corpus" in runs else "?"
    header = f"# Results ({corpora}; {int((runs['status'] == 'ok').sum())} finished runs of {len(runs)})\n\n"
    (out / "table.md").write_text(header + "\n".join(md))
    (out / "table.tex").write_text("\n".join(tex))
    (out / "agreement.md").write_text("# Rank agreement with the papers\n\n" + "\n".join(agree_md))
    (out / "headline.md").write_text(header + "\n".join(heads))
    if announce is not None:
        announce(header + "\n".join(heads))
    if len(summaries) > 1:  # a grid of settings: the variants side by side across it
        (out / "settings.md").write_text("# Across settings\n\n" + tables.settings_markdown(summary))
    return done, summary


def _machines(runs: pd.DataFrame, out: Path) -> None:
    """machines.md, when the runs were trained on more than one machine, and a warning saying so."""
    machines = collect.machines_markdown(runs)
    if machines:
        (out / "machines.md").write_text(machines)
        n = runs.loc[runs["status"] == "ok", "machine"].nunique()
        warnings.warn(f"the runs come from {n} machines (machines.md): a Δ between variants trained on different "
                      "ones also carries their floating-point differences", stacklevel=3)


def report_sweep(sweep_dir: Path, figures: bool = True) -> Path | None:
    """Report the finished runs of a sweep into <sweep>/report/ (without records/: they are the sweep itself) and
    print its headline and verdict as soon as the tables are written; the figures follow. Nothing when fewer
    than two variants finished. A report newer than every run record is kept as it is (its headline printed):
    a sweep that only skipped runs does not spend minutes rewriting it. Never fails the sweep: a report problem
    is one warning."""
    out = Path(sweep_dir) / REPORT_DIR
    found = [p for p in Path(sweep_dir).rglob(RECORD_NAME) if out not in p.parents]
    head = out / "headline.md"
    written = head.stat().st_mtime if head.is_file() else None
    if written is not None and all(p.stat().st_mtime <= written for p in found):
        print(head.read_text())  # no record newer than the report: rebuilding it would write the same tables
        log.info("report: %s is up to date (no run record is newer; ffnlab-report %s --out %s rebuilds it)", out,
                 sweep_dir, out)
        return out
    variants = {r.ffn for p in found if (r := try_read_record(p)) and r.status == "ok"}
    if len(variants) < 2:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the report's warnings are in its tables (runs.csv lists every run)
            report([str(sweep_dir)], out, copy_records=False, figures=figures, announce=lambda text: print(text))
    except FfnlabError as e:
        log.warning("no report for %s: %s", sweep_dir, e)
        return None
    log.info("report: %s (tables%s; ffnlab-report %s --out DIR for another folder)", out,
             ", figures/" if figures else "; figures: run ffnlab-report", sweep_dir)
    return out


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
        raise ReportError(f"--out {args.out} is a file; name a folder (e.g. results/<study>)")
    result = report(args.sweep_dirs, args.out, n_boot=args.bootstrap)
    labels = collect.setting_labels(result["runs"])
    for label, s in result["summary"].groupby("setting", sort=False):
        setting = result["runs"][labels == label] if label else None
        command = seeds.more_seeds_command(result["runs"], s.set_index("ffn"), setting=setting)
        if command:
            print(f"{label + ': ' if label else ''}to resolve every Δ vs ReLU (table.md), add seeds:"
                  f"\n  {command}")
    written = [f for f in json.loads((args.out / folder.MANIFEST).read_text()) if "/" not in f]  # its top level
    print(f"wrote {args.out}/: {' '.join(written)} figures/ "
          + ("(rebuilt from its records/)" if result["rebuilt"] else f"{folder.RECORDS}/ (the raw run records)"))


if __name__ == "__main__":
    main()
