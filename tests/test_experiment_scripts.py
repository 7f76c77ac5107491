"""The studies' own analysis scripts (experiments/*/*.py), on tables whose answers are known."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def script(rel: str):
    spec = importlib.util.spec_from_file_location(Path(rel).stem, ROOT / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_init_effect_pairs_each_seed_with_itself_and_skips_duplicates():
    ie = script("experiments/init_sensitivity/init_effect.py")
    rows = [("relu", 0, "fan_in", 4.40, 5.5), ("relu", 1, "fan_in", 4.30, 5.4),
            ("relu", 0, "gpt2", 4.41, 5.3), ("relu", 1, "gpt2", 4.50, 5.0),
            ("gelu", 0, "fan_in", 4.38, 5.6), ("gelu", 0, "gpt2", 4.48, 5.5)]
    runs = pd.DataFrame(rows, columns=["ffn", "seed", "cfg.model.init", "final_val_loss", "early_val_loss"])
    runs["status"], runs["duplicate"] = "ok", False
    dup = runs.iloc[[0]].assign(final_val_loss=9.0, duplicate=True)  # a second copy of a seed never counts
    e = ie.effect(pd.concat([runs, dup])).set_index(["ffn", "seed"])
    assert e.loc[("relu", 0), "final"] == pytest.approx(0.01) and e.loc[("relu", 1), "final"] == pytest.approx(0.20)
    assert e.loc[("relu", 1), "early"] == pytest.approx(-0.4)
    md = ie.markdown(e.reset_index(), ["relu", "gelu"])
    assert "| relu | 4.350 ± 0.071 | 4.455 ± 0.064 | +0.010, +0.200 | -0.200, -0.400 |" in md
    assert "| gelu | 4.380 | 4.480 | +0.100 | -0.100 |" in md


def test_the_branch_check_pairs_each_branch_with_its_from_scratch_twin_and_its_seed_spread():
    bc = script("experiments/scaling/branch_check.py")
    scratch = pd.DataFrame([(64, 8e-3, 2000, "relu", 0, 4.50, False, "a", "lr", "here"),
                            (64, 4e-3, 2000, "relu", 0, 4.60, False, "b", "lr", "there"),  # another rate: no twin
                            (64, 8e-3, 2000, "swiglu", 0, 4.40, False, "c", "lr", "there"),
                            (64, 8e-3, 2000, "swiglu", 0, 4.43, False, "c", "twin", "here")], columns=bc.COLUMNS)
    ladder = pd.DataFrame([(64, 8e-3, 2000, "relu", 0, 4.50, True, "d", "ladder", "here"),
                           (64, 8e-3, 2000, "relu", 1, 4.52, True, "e", "ladder", "here"),  # in the spread, no twin
                           (64, 8e-3, 2000, "swiglu", 0, 4.43, True, "f", "ladder", "here"),
                           (64, 8e-3, 2000, "swiglu", 1, 4.41, True, "g", "ladder", "here"),
                           (64, 8e-3, 8000, "relu", 0, 4.20, False, "h", "ladder", "here")],  # the long run
                          columns=bc.COLUMNS)
    both = bc.pair(scratch, ladder).set_index(["ffn", "seed", "sweep"])
    assert list(both.index) == [("relu", 0, "lr"), ("swiglu", 0, "lr"), ("swiglu", 0, "twin")]  # one row per twin
    assert both.loc[("relu", 0, "lr"), "diff"] == 0.0
    assert both.loc[("swiglu", 0, "lr"), "diff"] == pytest.approx(0.03) and both.loc[("swiglu", 0, "twin"), "diff"] == 0
    assert both.loc[("relu", 0, "lr"), "seed_std"] == pytest.approx(0.02 / 2 ** 0.5)
    assert list(both["same_machine"]) == [True, False, True]
    md = bc.markdown(both.reset_index())
    assert "3 pairs of a branched run" in md and "2 bit-identical" in md and "2 within the ladder's seed std" in md
    assert "On the same machine: 2 of 2 bit-identical" in md
    assert "Machines (as the records name them): A = here; B = there." in md
    assert "| 64 | 0.008 | 2000 | swiglu | 0 | lr | A, B | no |" in md


def test_the_machine_check_pairs_the_same_run_on_two_machines_and_the_shift_of_a_delta():
    mc, columns = script("experiments/scaling/machine_check.py"), script("experiments/scaling/branch_check.py").COLUMNS
    row = lambda steps, ffn, seed, loss, where: (64, 8e-3, steps, ffn, seed, loss, False, "r", "s", where)  # noqa: E731
    first = pd.DataFrame([row(2000, "relu", 0, 4.50, "old"), row(2000, "relu", 1, 4.52, "old"),
                          row(2000, "gelu", 0, 4.40, "old"), row(2000, "gelu", 1, 4.44, "old"),
                          row(4000, "gelu", 0, 4.30, "old")], columns=columns)
    second = first.assign(machine="new")
    second.loc[0, "final_val_loss"] = 4.51  # relu seed 0 moves by +0.01 on the new machine
    second.loc[3, "final_val_loss"] = 4.42  # gelu seed 1 by −0.02
    second = second.iloc[:4]  # the 4000-step gelu run has no twin
    both = mc.pair(first, second).set_index(["ffn", "seed"])
    assert len(both) == 4 and both.loc[("relu", 0), "diff"] == pytest.approx(0.01)
    assert both.loc[("gelu", 0), "diff"] == 0 and both.loc[("gelu", 1), "diff"] == pytest.approx(-0.02)
    assert both.loc[("relu", 0), "seed_std"] == pytest.approx(0.01 / 2 ** 0.5)  # the second machine's spread
    shift = mc.delta_shift(both.reset_index()).set_index("seed")["shift"]
    assert shift[0] == pytest.approx(-0.01) and shift[1] == pytest.approx(-0.02)  # gelu's Δ vs relu moved
    md = mc.markdown(both.reset_index(), shift.reset_index().assign(ffn="gelu"))
    assert "4 pairs of the same run on two machines: 2 bit-identical" in md
    assert "| gelu | 2 | -0.0150 ± 0.0071 | 0.0200 |" in md
    assert md.index("## Summary") < md.index("| gelu | 2 |") < md.index("## Every pair")
    for block in md.split("\n\n"):  # every row of a table has its header's columns
        rows = [r for r in block.splitlines() if r.startswith("|")]
        assert len({r.count("|") for r in rows}) <= 1, block
    assert "first = old; second = new." in md
