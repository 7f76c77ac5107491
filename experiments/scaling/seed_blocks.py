"""Train the scaling ladder's seed blocks at m, in the background, two 1-thread runs side by side; resumable.

A seed block is all seven ladder variants of one seed, all four budgets, on one machine kind (the pre-registered
analysis in experiments/scaling/README.md). This script works out what is missing from the committed records
(results/scaling/records/scaling, results/scaling/pending/scaling and results/scaling/machine_intel/records/scaling),
queues it as sweeps of two runs (two variants of one seed, or one variant of two seeds), trains each 16M-token
pair, then its cool-down branches, and copies every finished record into results/scaling/pending/scaling/ (the
report's records folder takes a block only when it is whole: `--promote`). A seed whose committed runs were
trained on another machine kind than this one is left for that kind.

    python experiments/scaling/seed_blocks.py --blocks 8            # train (FFNLAB_OUTPUT: where runs live)
    python experiments/scaling/seed_blocks.py --blocks 8 --dry-run  # print the queue
    python experiments/scaling/seed_blocks.py --promote             # move whole blocks into records/
    python experiments/scaling/seed_blocks.py --blocks 8 --retrain-earlier   # also retrain scaling_intel's runs
    python experiments/scaling/seed_blocks.py --reproduction results/scaling/reproduction.md
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VARIANTS = ("relu", "gelu", "swish", "glu", "reglu", "geglu", "swiglu")
BUDGETS = (8000, 4000, 2000, 1000)
# ffnlab-train's module in the code tree the blocks run (PYTHONPATH: a frozen clone, which may predate the
# package layout of ffnlab.cli)
TRAIN = "ffnlab.cli.train" if importlib.util.find_spec("ffnlab.cli") else "ffnlab.train"
RECORDS = REPO / "results/scaling/records/scaling"
PENDING = REPO / "results/scaling/pending/scaling"
EARLIER = REPO / "results/scaling/machine_intel/records/scaling"  # seed 2's first m runs (Intel)


def folder(ffn: str, seed: int, steps: int) -> str:
    return f"ffn={ffn},scale=m,seed={seed},trainer.max_steps={steps}"


def machine() -> str:
    import torch

    return torch.backends.cpu.get_cpu_capability()


def done(ffn: str, seed: int, earlier: bool = True) -> dict[int, str]:
    """Budget → the machine kind (cpu_capability) of each committed finished run of (ffn, seed) at m; `earlier`:
    count results/scaling/machine_intel's runs too (False: they are to be retrained, for BLiMP and the reproduction)."""
    out = {}
    for root in (RECORDS, PENDING, EARLIER) if earlier else (RECORDS, PENDING):
        for steps in BUDGETS:
            path = root / folder(ffn, seed, steps) / "metrics.json"
            if path.is_file():
                rec = json.loads(path.read_text())
                if rec.get("status") == "ok":
                    out[steps] = rec.get("versions", {}).get("cpu_capability", "?")
    return out


def queue(blocks: int, here: str, retrain_earlier: bool = False) -> list[tuple[list[int], list[str]]]:
    """Sweeps of two runs each (same seed, or same variant), in seed order; seeds of another machine skipped.
    `retrain_earlier`: the earlier runs (results/scaling/machine_intel) are trained again, on this machine kind only."""
    jobs = []
    for seed in range(blocks):
        kinds = {k for v in VARIANTS for k in done(v, seed).values()}
        if kinds - {here}:
            print(f"seed {seed}: its runs were trained on {sorted(kinds)}, not {here}: left for that machine")
            continue
        jobs += [(seed, v) for v in VARIANTS if len(done(v, seed)) < len(BUDGETS)]
        if retrain_earlier:
            jobs += [(seed, v) for v in VARIANTS if len(done(v, seed)) == len(BUDGETS)
                     and len(done(v, seed, earlier=False)) < len(BUDGETS)]
    sweeps = []
    while jobs:
        a = jobs.pop(0)
        partner = next((j for j in jobs if j[0] == a[0]), None) or next((j for j in jobs if j[1] == a[1]), None)
        if partner is not None:
            jobs.remove(partner)
            b = partner
            sweeps.append(([a[0]], [a[1], b[1]]) if a[0] == b[0] else ([a[0], b[0]], [a[1]]))
        else:
            sweeps.append(([a[0]], [a[1]]))
    return sweeps


def train(seeds: list[int], ffns: list[str], output: Path) -> None:
    base = [sys.executable, "-m", TRAIN, "-m", "experiment=scaling", "scale=m",
            f"seed={','.join(map(str, seeds))}", f"ffn={','.join(ffns)}", "report_at_end=false"]
    env = {**os.environ, "FFNLAB_OUTPUT": str(output), "OMP_NUM_THREADS": "1"}
    for extra in (["trainer.max_steps=8000"], []):  # the 16M runs side by side, then their branches
        print("+", " ".join(base[2:] + extra), flush=True)
        subprocess.run(base + extra, env=env, check=False)
        collect(seeds, ffns, output)


def collect(seeds: list[int], ffns: list[str], output: Path) -> None:
    """Copy each finished record of these runs into pending/ (a record already there is never replaced)."""
    for seed in seeds:
        for ffn in ffns:
            for steps in BUDGETS:
                src = output / "multirun/scaling" / folder(ffn, seed, steps) / "metrics.json"
                dst = PENDING / folder(ffn, seed, steps) / "metrics.json"
                if src.is_file() and not dst.exists() and json.loads(src.read_text()).get("status") == "ok":
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)
                    print(f"pending: {dst.parent.name}", flush=True)


def reproduction() -> str:
    """Markdown: each retrained earlier run (pending/) beside the committed one it repeats (scaling_intel), on the
    same machine kind: their final losses must be equal to the last digit."""
    rows = []
    for src in sorted(PENDING.glob("*/metrics.json")):
        twin = EARLIER / src.parent.name / "metrics.json"
        if twin.is_file():
            a, b = json.loads(twin.read_text()), json.loads(src.read_text())
            same = a["final"]["val_loss"] == b["final"]["val_loss"]
            rows.append(f"| {src.parent.name} | {a['versions'].get('cpu_capability')} | {a['git_sha'][:8]} | "
                        f"{a['final']['val_loss']!r} | {b['versions'].get('cpu_capability')} | {b['git_sha'][:8]} | "
                        f"{b['final']['val_loss']!r} | {'yes' if same else 'NO'} |")
    head = ["# Reproduction: earlier runs trained again", "",
            "Each run of `results/scaling/machine_intel/` trained again from scratch by "
            "`experiments/scaling/seed_blocks.py --retrain-earlier` on the same machine kind, with the code of its "
            "time beside today's (BLiMP added at the run's end, never inside training): the final validation loss "
            "must be the same to the last digit.",
            "", "| run | machine (then) | code (then) | final loss (then) | machine (now) | code (now) "
            "| final loss (now) | equal |", "|---|---|---|---:|---|---|---:|---|"]
    return "\n".join(head + rows) + "\n"


def promote() -> None:
    """Move every seed whose seven variants have all four budgets in pending/ (and earlier/) into records/."""
    for seed in sorted({int(p.name.split("seed=")[1].split(",")[0]) for p in PENDING.glob("*")}):
        if any(len(done(v, seed)) < len(BUDGETS) for v in VARIANTS):
            print(f"seed {seed}: incomplete, stays pending")
            continue
        for v in VARIANTS:
            for steps in BUDGETS:
                name = folder(v, seed, steps)
                src = PENDING / name if (PENDING / name).is_dir() else EARLIER / name
                if not (RECORDS / name).exists():
                    shutil.copytree(src, RECORDS / name)
                    if src.parent == PENDING:
                        shutil.rmtree(src)
        print(f"seed {seed}: promoted into {RECORDS.relative_to(REPO)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, default=8, help="seeds 0 .. N-1 (the pre-registered cap is 8)")
    p.add_argument("--output", type=Path, default=Path(os.environ.get("FFNLAB_OUTPUT", "/work/runs")))
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--promote", action="store_true")
    p.add_argument("--retrain-earlier", action="store_true",
                   help="train results/scaling/machine_intel's runs again too (BLiMP for their block; a reproduction "
                        "check)")
    p.add_argument("--reproduction", type=Path, default=None, metavar="OUT.md",
                   help="write the reproduction table of the earlier runs trained again")
    args = p.parse_args()
    if args.promote:
        promote()
        return
    if args.reproduction:
        args.reproduction.write_text(reproduction())
        return
    sweeps = queue(args.blocks, machine(), args.retrain_earlier)
    for seeds, ffns in sweeps:
        print(f"seed={','.join(map(str, seeds))} ffn={','.join(ffns)}", flush=True)
        if not args.dry_run:
            train(seeds, ffns, args.output)


if __name__ == "__main__":
    main()
