"""A report folder: what a report writes there and nothing else. Figures saved byte-stable, the manifest of the
files the last report wrote (the only ones a new report removes), the run records copied into records/ so that
the folder rebuilds from git alone, and REPORT_COMMAND.txt, whose first line is that rebuild."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd

from ffnlab.errors import ReportError
from ffnlab.runs.record import OUTCOME_NAME, RECORD_NAME


def save(ax, figdir: Path, name: str) -> None:
    """PNG and SVG, byte-stable: no date in the metadata, SVG ids from a fixed salt (re-runs diff cleanly)."""
    fig = ax.figure
    fig.tight_layout()
    with matplotlib.rc_context({"svg.hashsalt": "ffnlab"}):
        fig.savefig(figdir / f"{name}.png", dpi=130, metadata={"Software": None})
        fig.savefig(figdir / f"{name}.svg", dpi=130, metadata={"Date": None})

    plt.close(fig)


def slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in label.replace(", ", "__"))


MANIFEST = ".ffnlab-report.json"  # the files the last report wrote here: the only ones a new report removes
FIGURES = ("final_loss", "curves", "loss_vs_flops", "loss_vs_time", "delta_vs_paper", "delta_by_horizon",
           "throughput_memory", "by_setting", "diagnostics_over_training", "diagnostics_by_layer", "sparsity_vs_loss",
           "families_params", "families_flops", "scaling_loss_vs_flops", "scaling_delta_vs_tokens",
           "scaling_multiplier", "agreement_vs_compute", "blimp_phenomena", "blimp_vs_loss")

def previous_outputs(out: Path) -> list[Path]:
    """What an earlier report wrote to `out`: its manifest's list, or for a report from before manifests
    (REPORT_COMMAND.txt, no manifest) its fixed names. A folder that no report wrote is refused, never cleared."""
    manifest = out / MANIFEST
    if manifest.is_file():
        return [out / rel for rel in json.loads(manifest.read_text())]
    if not out.is_dir() or not any(out.iterdir()):
        return []
    if not (out / "REPORT_COMMAND.txt").is_file():
        raise ReportError(f"--out {out} holds files that no ffnlab report wrote; choose a new or empty "
                                  "folder (a report replaces only what an earlier report wrote there)")
    figures = [f for f in (out / "figures").rglob("*") if f.suffix in (".png", ".svg") and f.stem in FIGURES]
    return [out / "settings.md", *figures]


def clear_previous(out: Path, keep_records: bool) -> None:
    """Remove what the earlier report here wrote and this one might not (settings.md, figures of settings that
    are gone, records of runs no longer read), so the folder never mixes two reports; nothing else is touched.
    `keep_records`: this report reads (some of) its runs from out/records, which therefore stays."""
    emptied: set[Path] = set()
    for f in sorted(previous_outputs(out), reverse=True):
        if f.is_file() and not (keep_records and f.relative_to(out).parts[0] == RECORDS):
            f.unlink()
            emptied.update(p for p in f.parents if out in p.parents)
    for d in sorted(emptied, key=lambda p: len(p.parts), reverse=True):  # the folders it emptied, deepest first
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()


def write_manifest(out: Path, since: float) -> None:
    """List the files this report wrote (and its records/), for the next report to replace exactly those. A
    study's pending/ folder (records waiting for a whole seed block) and its other folders (a rerun, a machine
    check, a sub-study with its own report) are never this report's, whenever written."""
    files = sorted(rel.as_posix() for p in out.rglob("*") if p.is_file() and p.name != MANIFEST
                   and _written_by_reports(rel := p.relative_to(out))
                   and (p.stat().st_mtime >= since or rel.parts[0] == RECORDS))
    (out / MANIFEST).write_text(json.dumps(files, indent=0) + "\n")


RECORDS = "records"
PENDING = "pending"  # results/<study>/pending/: records kept out of the report until their seed block is whole




def _written_by_reports(rel: Path) -> bool:
    """Whether a path inside a report folder is of the kind a report writes: a top-level file, figures/, records/."""
    return len(rel.parts) == 1 or rel.parts[0] in ("figures", RECORDS)


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


def inside_records(runs: pd.DataFrame, out: Path) -> list[bool]:
    """For each run, whether it was read from out/records (a rebuild of this report from git)."""
    dest = (out / RECORDS).resolve()
    return [dest in Path(f).resolve().parents for f in runs["folder"]]


def copy_records(runs: pd.DataFrame, out: Path, inside: list[bool]) -> None:
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
