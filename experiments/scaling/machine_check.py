"""Does the same run end the same on another machine, and how far does that move a Δ between variants?

The scaling ladder's first 16 runs (xs relu and gelu: 2 seeds × 4 budgets) were trained on one machine and, after
the project machine was replaced, trained again with the same configs on the next one. The two sets pair run for
run (size, rate, budget, variant, seed): each difference is what changing the machine alone does to a final
loss (torch picks other CPU kernels, which round differently, and training amplifies that as another seed
would). Beside it, the ladder's seed spread at the same cell, and what the machine does to the quantity the
study reports: a variant's Δ vs ReLU at the same seed and budget, on each machine.

    python experiments/scaling/machine_check.py FIRST_ROOT SECOND_ROOT \
        --out results/scaling/machine_amd/machine_check.md

FIRST_ROOT / SECOND_ROOT: folders of run folders holding metrics.json (a sweep's multirun folder, or a report's
records/<study>); SECOND_ROOT is the ladder the study reports (its seed spread is the yardstick). Torch-free.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from branch_check import KEY, runs  # noqa: E402  (the same reading of a folder of runs)

BASELINE = "relu"


def pair(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Each run of `first` beside the run of `second` with the same key; diff = second − first, and the seed std
    of `second` at that (size, rate, budget, variant)."""
    cell = ["d_model", "lr", "steps", "ffn"]
    spread = second.groupby(cell)["final_val_loss"].std(ddof=1).rename("seed_std")
    both = first.merge(second, on=KEY, suffixes=("_first", "_second")).join(spread, on=cell)
    both["diff"] = both["final_val_loss_second"] - both["final_val_loss_first"]
    return both.sort_values(["ffn", "steps", "seed"]).reset_index(drop=True)


def delta_shift(both: pd.DataFrame) -> pd.DataFrame:
    """Per variant other than ReLU, seed and budget: its Δ vs ReLU on each machine and how much the machine
    moved it (the difference of the two runs' machine differences)."""
    wide = both.pivot_table(index=["d_model", "lr", "steps", "seed"], columns="ffn", values="diff")
    if BASELINE not in wide:
        return pd.DataFrame(columns=["d_model", "lr", "steps", "seed", "ffn", "shift"])
    rest = [c for c in wide.columns if c != BASELINE]
    shift = wide[rest].sub(wide[BASELINE], axis=0).stack().rename("shift").reset_index()
    return shift.dropna().sort_values(["ffn", "steps", "seed"]).reset_index(drop=True)


def markdown(both: pd.DataFrame, shift: pd.DataFrame) -> str:
    """machine_check.md: the summary and the shift of Δ vs ReLU first (section "Summary"), then every pair."""
    if both.empty:
        return "No run of the first folder has a twin (same size, rate, budget, variant and seed) in the second.\n"
    d, std = both["diff"], both["seed_std"].dropna()
    lines = ["# The same runs on two machines", "", "## Summary", "",
             f"{len(both)} pairs of the same run on two machines: {int((d == 0).sum())} bit-identical; second − "
             f"first {d.mean():+.4f} ± {d.std(ddof=1):.4f} nats (mean ± std over pairs), largest |difference| "
             f"{d.abs().max():.4f}; the ladder's seed std at these cells: median {std.median():.4f}. "
             f"{int((d.abs() <= both['seed_std']).sum())} of {len(both)} differences lie within the seed std at "
             "their cell."]
    if len(shift):
        lines += ["", "| FFN | pairs | shift of its Δ vs ReLU (mean ± std) | largest absolute shift |",
                  "|---|---:|---:|---:|"]
        for ffn, g in shift.groupby("ffn"):
            lines.append(f"| {ffn} | {len(g)} | {g['shift'].mean():+.4f} ± {g['shift'].std(ddof=1):.4f} | "
                         f"{g['shift'].abs().max():.4f} |")
        lines += ["", "Shift: what the machine does to a Δ vs ReLU at the same seed and budget (the variant's "
                      "second − first minus ReLU's). A Δ between variants trained on different machines carries a "
                      f"shift of this size ({shift['shift'].abs().mean():.4f} nats on average here); one between "
                      "variants trained on the same machine does not."]
    lines += ["", "## Every pair", "", "| d_model | lr | steps | FFN | seed | first machine | second machine | "
              "second − first | ladder seed std |", "|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in both.itertuples():
        sd = f"{r.seed_std:.4f}" if pd.notna(r.seed_std) else "–"
        lines.append(f"| {r.d_model} | {r.lr:g} | {r.steps} | {r.ffn} | {r.seed} | {r.final_val_loss_first:.6f} | "
                     f"{r.final_val_loss_second:.6f} | {r.diff:+.6f} | {sd} |")
    first = sorted(both["machine_first"].astype(str).unique())
    second = sorted(both["machine_second"].astype(str).unique())
    lines += ["", f"Machines (as the records name them): first = {'; '.join(first)}; second = {'; '.join(second)}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("first", type=Path)
    ap.add_argument("second", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    for root in (a.first, a.second):
        if not root.is_dir():
            ap.error(f"{root} is not a folder of run folders (a sweep's multirun/<name> or a report's records/<study>)")
    both = pair(runs(a.first), runs(a.second))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(markdown(both, delta_shift(both)))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
