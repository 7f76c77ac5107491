"""Compare a re-run of the shazeer study with the published per-run losses of the original study
(results/shazeer_rerun/original_runs.csv, its report's runs.csv before results/shazeer was rebuilt from the re-run).

    python experiments/shazeer/compare_rerun.py RERUN_FOLDER OUT_FOLDER

Reads the re-run's records (any folder of run folders, e.g. /work/runs/multirun/shazeer or a committed
records/ copy), matches each run to the published one by variant and seed, and writes OUT_FOLDER/replication.csv
(one row per run) and replication.md (the same as a table, with the largest differences). Torch-free.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from ffnlab.report import collect

PUBLISHED = Path(__file__).resolve().parents[2] / "results" / "shazeer_rerun" / "original_runs.csv"  # the lost study's


def compare(rerun: Path, published: Path = PUBLISHED) -> pd.DataFrame:
    runs, _ = collect.load([rerun])
    new = runs[runs["status"] == "ok"][["ffn", "seed", "early_val_loss", "final_val_loss", "git_sha"]]
    old = pd.read_csv(published)
    old = old[old["status"] == "ok"][["ffn", "seed", "early_val_loss", "final_val_loss"]]
    both = new.merge(old, on=["ffn", "seed"], suffixes=("_rerun", "_published"))
    for h in ("early", "final"):
        both[f"{h}_diff"] = both[f"{h}_val_loss_rerun"] - both[f"{h}_val_loss_published"]
    return both.sort_values(["seed", "ffn"]).reset_index(drop=True)


def markdown(both: pd.DataFrame) -> str:
    same = (both["final_val_loss_rerun"] == both["final_val_loss_published"]) & (
        both["early_val_loss_rerun"] == both["early_val_loss_published"])
    lines = ["| FFN | seed | final, published | final, re-run | Δ final | Δ early (1/8) | bit-identical |",
             "|---|---|---|---|---|---|---|"]
    for r, s in zip(both.itertuples(), same, strict=True):
        lines.append(f"| {r.ffn} | {r.seed} | {r.final_val_loss_published:.6f} | {r.final_val_loss_rerun:.6f} | "
                     f"{r.final_diff:+.6f} | {r.early_diff:+.6f} | {'yes' if s else 'no'} |")
    differ = sorted(both.loc[~same, "ffn"].unique())
    lines += ["", f"{len(both)} of 45 runs re-run so far; {int(same.sum())} are bit-identical to the published run "
                  f"(early and final loss equal as floats). Variants with a run that differs: "
                  f"{', '.join(differ) or 'none'}. Largest |Δ final| {both['final_diff'].abs().max():.6f} nats, "
                  f"largest |Δ early| {both['early_diff'].abs().max():.6f}."]
    return "# Re-run against the published runs\n\n" + "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        sys.exit(__doc__)
    both = compare(Path(argv[0]))
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    both.to_csv(out / "replication.csv", index=False)
    (out / "replication.md").write_text(markdown(both))
    print(f"wrote {out}/replication.csv and replication.md ({len(both)} runs)")


if __name__ == "__main__":
    main(sys.argv[1:])
