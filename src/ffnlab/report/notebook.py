"""What a notebook reads: a report folder's CSVs, the diagnostics of its records, and a selection of runs."""


from __future__ import annotations

from pathlib import Path

import pandas as pd

from ffnlab.report import collect
from ffnlab.report import diagnostics as diag


def load_results(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The CSVs that `ffnlab-report` wrote to `folder`: runs, curves, summary."""
    folder = Path(folder)
    missing = [n for n in ("runs", "curves", "summary") if not (folder / f"{n}.csv").is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks {', '.join(m + '.csv' for m in missing)}; run ffnlab-report first")
    return {n: pd.read_csv(folder / f"{n}.csv") for n in ("runs", "curves", "summary")}


def load_diagnostics(folder: str | Path) -> pd.DataFrame:
    """Every diagnostics value of the runs in a report folder's records/ (one row per run, evaluation, layer or
    weight matrix and statistic; ffnlab.report.diagnostics.read), with the report's run names. Empty when the
    records carry none."""
    records = Path(folder) / "records"
    roots = sorted(p for p in records.iterdir() if p.is_dir()) if records.is_dir() else []
    if not roots:
        raise FileNotFoundError(f"{folder} has no records/ folder; run ffnlab-report (it copies the records there)")
    runs, _ = collect.load(roots)
    return diag.read(runs[~collect.duplicates(runs)])[0]


def select(df: pd.DataFrame, variants=None, seeds=None, run_dirs=None) -> pd.DataFrame:
    """Rows of runs.csv or curves.csv restricted to some variants, seeds and/or run folders (one setting's)."""
    mask = pd.Series(True, index=df.index)
    if run_dirs is not None:
        mask &= df["run_dir"].isin(list(run_dirs))
    if variants is not None:
        mask &= df["ffn"].isin(list(variants))
    if seeds is not None:
        mask &= df["seed"].isin(list(seeds))
    return df[mask]
