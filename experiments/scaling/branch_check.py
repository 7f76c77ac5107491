"""Does a cool-down branch give what training to its budget from scratch gives, in the real study?

The scaling ladder's shorter budgets branch from the 16M-token run's stable-phase checkpoints (ffnlab.runs.branch);
the learning-rate sweep trained relu and swiglu to 2,000 steps from scratch at every size and rate, seed 0. Where
the sweep's run has the ladder's size, rate, budget and seed, the two are the same training (the ladder only
evaluates more often), so their final losses should agree: bit for bit if the branch is exact and both ran on
the same machine (CPU kernels can differ between machines), within noise otherwise. This script pairs them
and writes the comparison, with the machine each ran on (RunRecord.machine: the CPU model and the
vector instructions torch used, or the platform string of older records) and the ladder's seed spread at the
same cell beside it. A branch may have several twins (one per SCRATCH_ROOT): each pair is a row.

    python experiments/scaling/branch_check.py SCRATCH_ROOT [SCRATCH_ROOT ...] LADDER_ROOT \
        --out results/scaling/branch_check.md

SCRATCH_ROOT / LADDER_ROOT: folders of run folders holding metrics.json (a sweep's multirun folder, or a
report's records/<study>). Torch-free.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ffnlab.runs.record import try_read_record

KEY = ["d_model", "lr", "steps", "ffn", "seed"]
COLUMNS = [*KEY, "final_val_loss", "branched", "run", "sweep", "machine"]


def runs(root: Path) -> pd.DataFrame:
    """One row per finished run under root: the pairing key, the final loss, whether it branched, the sweep
    (root's folder name) and the machine that trained it."""
    rows = []
    for path in sorted(Path(root).glob("*/metrics.json")):
        rec = try_read_record(path)
        if rec is None or rec.status != "ok" or rec.final is None or rec.reused_from:
            continue
        rows.append({"d_model": rec.d_model, "lr": float(rec.config["optim"]["lr"]), "steps": rec.steps,
                     "ffn": rec.ffn, "seed": rec.seed, "final_val_loss": rec.final.val_loss,
                     "branched": bool(rec.branched_from), "run": path.parent.name, "sweep": Path(root).name,
                     "machine": rec.machine})
    return pd.DataFrame(rows, columns=COLUMNS)


def pair(scratch: pd.DataFrame, ladder: pd.DataFrame) -> pd.DataFrame:
    """Each branched ladder run beside the from-scratch run of the same key, and the ladder's seed std there."""
    spread = ladder.groupby(["d_model", "lr", "steps", "ffn"])["final_val_loss"].std(ddof=1).rename("seed_std")
    both = ladder[ladder["branched"]].drop(columns="sweep").merge(scratch.drop(columns=["branched", "run"]),
                                                                  on=KEY, suffixes=("_branch", "_scratch"))
    both["same_machine"] = both["machine_branch"] == both["machine_scratch"]
    both = both.join(spread, on=["d_model", "lr", "steps", "ffn"])
    both["diff"] = both["final_val_loss_branch"] - both["final_val_loss_scratch"]
    return both.sort_values([*KEY, "sweep"]).reset_index(drop=True)


def markdown(both: pd.DataFrame) -> str:
    names = sorted({str(m) for m in (*both["machine_branch"], *both["machine_scratch"])}) if len(both) else []
    letter = {m: chr(ord("A") + i) for i, m in enumerate(names)}
    lines = ["| d_model | lr | steps | FFN | seed | from-scratch sweep | machines (branch, scratch) | same machine | "
             "from scratch | branched | branch − scratch | ladder seed std |",
             "|---:|---:|---:|---|---:|---|---|---|---:|---:|---:|---:|"]
    for r in both.itertuples():
        std = f"{r.seed_std:.4f}" if pd.notna(r.seed_std) else "–"
        lines.append(f"| {r.d_model} | {r.lr:g} | {r.steps} | {r.ffn} | {r.seed} | {r.sweep} | "
                     f"{letter[str(r.machine_branch)]}, {letter[str(r.machine_scratch)]} | "
                     f"{'yes' if r.same_machine else 'no'} | {r.final_val_loss_scratch:.6f} | "
                     f"{r.final_val_loss_branch:.6f} | {r.diff:+.6f} | {std} |")
    if len(both):
        same = int((both["diff"] == 0).sum())
        within = int((both["diff"].abs() <= both["seed_std"]).sum())
        local = both[both["same_machine"]]
        lines += ["", f"{len(both)} pairs of a branched run and a from-scratch run of the same size, rate, budget "
                      f"and seed: {same} bit-identical, largest |branch − scratch| {both['diff'].abs().max():.6f} "
                      f"nats, {within} within the ladder's seed std at that cell. On the same machine: "
                      f"{int((local['diff'] == 0).sum())} of {len(local)} bit-identical.", "",
                  "Machines (as the records name them): " + "; ".join(f"{letter[m]} = {m}" for m in names) + "."]
    else:
        lines += ["", "No branched run has a from-scratch twin yet (the ladder's branches of seed 0 at a swept "
                      "rate pair with the learning-rate sweep's runs)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scratch", type=Path, nargs="+")
    ap.add_argument("ladder", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    for root in (*a.scratch, a.ladder):
        if not root.is_dir():
            ap.error(f"{root} is not a folder of run folders (a sweep's multirun/<name> or a report's records/<study>)")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    scratch = pd.concat([runs(root) for root in a.scratch], ignore_index=True)
    a.out.write_text(markdown(pair(scratch, runs(a.ladder))))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
