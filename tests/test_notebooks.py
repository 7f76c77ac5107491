"""Every notebook runs top to bottom against a small real results folder (so a broken notebook fails CI)."""

import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from ffnlab.cli.report import main as report_main
from ffnlab.runs.keys import identity_hash

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SCALING = ROOT / "notebooks" / "explore_scaling.ipynb"  # reads a scaling study: tested on the published one


def _execute(path: Path, sweep: Path | None, tmp_path: Path, monkeypatch, results: Path | None = None
             ) -> nbformat.NotebookNode:
    if results is None:
        results = tmp_path / "results"
        report_main([str(sweep), "--out", str(results), "--bootstrap", "50"])
    monkeypatch.setenv("FFNLAB_RESULTS", str(results))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    return nb


def _text(cell) -> str:
    data = lambda o, kind: "".join(o.get("data", {}).get(kind, ""))  # noqa: E731
    return "".join(o.get("text", "") + data(o, "text/markdown") + data(o, "text/plain") for o in cell.outputs)


GENERAL = [p for p in NOTEBOOKS if p != SCALING]


@pytest.mark.parametrize("path", GENERAL, ids=[p.name for p in GENERAL])
def test_notebook_executes(path, small_sweep, tmp_path, monkeypatch):
    """Against a report with two settings: the explore notebook must analyse one at a time, never pool them."""
    sweep = tmp_path / "sweep"
    shutil.copytree(small_sweep, sweep)
    clone = sweep / "other-lr"  # relu seed 0 at another learning rate, with a loss that pooling would show
    shutil.copytree(next(sweep.glob("*ffn=relu,*seed=0*")), clone)
    rec = json.loads((clone / "metrics.json").read_text())
    rec["config"]["optim"]["lr"] = 0.5
    rec["config_hash"] = identity_hash(rec["config"], rec["data"]["sha256"])  # a valid record of another lr
    rec["final"]["val_loss"] = rec["history"][-1]["val_loss"] = 99.0
    (clone / "metrics.json").write_text(json.dumps(rec))
    nb = _execute(path, sweep, tmp_path, monkeypatch)
    if path.name == "explore_results.ipynb":
        setting = next(c for c in nb.cells if c.source.startswith("labels = setting_labels"))
        assert "2 settings" in _text(setting) and "Across settings" in _text(setting)
        table = _text(next(c for c in nb.cells if c.source.startswith("VARIANTS = None")))
        assert "| relu | 3 |" in table and "99.0" not in table  # the other setting is not pooled in


def test_there_is_a_notebook():
    assert NOTEBOOKS


def test_the_scaling_notebook_runs_on_the_published_ladder_and_recomputes_its_cells(tmp_path, monkeypatch):
    """On results/scaling as committed: every cell runs, the width table quotes scaling_cells.csv, and the
    slice-and-recompute cell (all variants, sizes and seeds) reproduces every cell's loss, Δ and test of
    scaling.md from runs.csv (only the multiplier's bootstrap interval may differ: fewer resamples)."""
    published = ROOT / "results" / "scaling"
    if not (published / "scaling_cells.csv").is_file():
        pytest.skip("results/scaling holds no scaling report")
    nb = _execute(SCALING, None, tmp_path, monkeypatch, results=published)
    cells = pd.read_csv(published / "scaling_cells.csv")
    budget = cells.groupby("size")["tokens"].max().min()
    gelu = cells[(cells["ffn"] == "gelu") & (cells["tokens"] == budget)].iloc[-1]
    width = _text(next(c for c in nb.cells if c.source.startswith("TOKENS = None")))
    assert f"{gelu['delta']:+.3f} [{gelu['delta_lo']:+.3f}, {gelu['delta_hi']:+.3f}]" in width
    recomputed = _text(next(c for c in nb.cells if c.source.startswith("VARIANTS = None")))
    published_rows = [r for r in (published / "scaling.md").read_text().split("## Every size and budget")[1]
                      .split("\n\n")[1].splitlines()[2:]]
    assert len(published_rows) == len(cells)
    for row in published_rows:
        assert row.rsplit("|", 2)[0] in recomputed  # every column before the multiplier, character for character
    ruled = _text(next(c for c in nb.cells if c.source.startswith("from ffnlab.studies import findings")))
    counts = next(p for p in (published / "scaling.md").read_text().split("\n") if p.startswith("**Δ vs ReLU.**"))
    assert counts in ruled  # the study's rules on the whole slice: the report's own count, word for word
