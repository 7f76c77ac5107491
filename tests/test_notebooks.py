"""Every notebook runs top to bottom against a small real results folder (so a broken notebook fails CI)."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from ffnlab.report.cli import main as report_main

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def _execute(path: Path, sweep: Path, tmp_path: Path, monkeypatch) -> nbformat.NotebookNode:
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
    return "".join(o.get("text", "") + "".join(o.get("data", {}).get("text/markdown", "")) for o in cell.outputs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, small_sweep, tmp_path, monkeypatch):
    """Against a report with two settings: the explore notebook must analyse one at a time, never pool them."""
    sweep = tmp_path / "sweep"
    shutil.copytree(small_sweep, sweep)
    clone = sweep / "other-lr"  # relu seed 0 at another learning rate, with a loss that pooling would show
    shutil.copytree(next(sweep.glob("*ffn=relu,*seed=0*")), clone)
    rec = json.loads((clone / "metrics.json").read_text())
    rec["config"]["optim"]["lr"], rec["config_hash"], rec["final"]["val_loss"] = 0.5, "different", 99.0
    (clone / "metrics.json").write_text(json.dumps(rec))
    nb = _execute(path, sweep, tmp_path, monkeypatch)
    if path.name == "explore_results.ipynb":
        setting = next(c for c in nb.cells if c.source.startswith("labels = setting_labels"))
        assert "2 settings" in _text(setting) and "Across settings" in _text(setting)
        table = _text(next(c for c in nb.cells if c.source.startswith("VARIANTS = None")))
        assert "| relu | 3 |" in table and "99.0" not in table  # the other setting is not pooled in


def test_there_is_a_notebook():
    assert NOTEBOOKS
