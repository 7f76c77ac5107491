"""Every notebook runs top to bottom against a small real results folder (so a broken notebook fails CI)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from ffnlab.report.cli import main as report_main

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, small_sweep, tmp_path, monkeypatch):
    results = tmp_path / "results"
    report_main([str(small_sweep), "--out", str(results), "--bootstrap", "50"])
    monkeypatch.setenv("FFNLAB_RESULTS", str(results))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_there_is_a_notebook():
    assert NOTEBOOKS
