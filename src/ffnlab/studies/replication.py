"""A re-run of a study against the per-run table its published report kept (the report's runs.csv), for studies
whose raw records were lost and re-trained to restore them.

    python -m ffnlab.studies.replication PUBLISHED_RUNS_CSV RERUN_FOLDER [RERUN_FOLDER ...] --out OUT_FOLDER

A run is matched by its study and run folder names ("narang/ffn=elu,seed=0"): the last two parts of the
published `run_dir` (an absolute path on the machine that trained it) and of the re-run's. Writes
OUT_FOLDER/replication.csv (one row per matched run) and replication.md (the table, the runs the re-run lacks,
and the largest differences). Torch-free.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ffnlab.errors import FfnlabError
from ffnlab.report import collect

LOSSES = ("early_val_loss", "final_val_loss")


def _key(run_dir: str) -> str:
    return "/".join(Path(str(run_dir)).parts[-2:])


def compare(published: pd.DataFrame, rerun: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Matched runs with both losses and their differences (re-run − published), and the published runs that the
    re-run lacks. Only finished runs count on either side; a duplicate (a reused copy) is not a run of its own."""
    def ok(df: pd.DataFrame) -> pd.DataFrame:
        keep = df["status"] == "ok"
        if "duplicate" in df:
            keep &= ~df["duplicate"].fillna(False).astype(bool)
        return df[keep].assign(run=lambda d: d["run_dir"].map(_key))[["run", "ffn", "seed", *LOSSES]]

    old, new = ok(published), ok(rerun)
    both = new.merge(old.drop(columns=["ffn", "seed"]), on="run", suffixes=("_rerun", "_published"))
    for loss in LOSSES:
        both[loss.replace("_val_loss", "_diff")] = both[f"{loss}_rerun"] - both[f"{loss}_published"]
    missing = sorted(set(old["run"]) - set(both["run"]))
    return both.sort_values("run").reset_index(drop=True), missing


def markdown(both: pd.DataFrame, missing: list[str], published: str) -> str:
    same = (both["final_val_loss_rerun"] == both["final_val_loss_published"]) & (
        both["early_val_loss_rerun"] == both["early_val_loss_published"])
    lines = [f"# Re-run against the published runs ({published})", "",
             "| run | final, published | final, re-run | Δ final | Δ early | bit-identical |",
             "|---|---|---|---|---|---|"]
    for r, s in zip(both.itertuples(), same, strict=True):
        lines.append(f"| {r.run} | {r.final_val_loss_published:.6f} | {r.final_val_loss_rerun:.6f} | "
                     f"{r.final_diff:+.6f} | {r.early_diff:+.6f} | {'yes' if s else 'no'} |")
    worst = (f"largest |Δ final| {both['final_diff'].abs().max():.6f} nats, largest |Δ early| "
             f"{both['early_diff'].abs().max():.6f}" if len(both) else "no run matched")
    lines += ["", f"{len(both)} runs matched, {int(same.sum())} bit-identical (early and final loss equal as "
                  f"floats); {worst}. Published runs not re-run: {', '.join(missing) or 'none'}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m ffnlab.studies.replication", description=__doc__.split("\n\n")[0])
    ap.add_argument("published", help="the published report's runs.csv")
    ap.add_argument("rerun", nargs="+", help="the re-run's sweep folders (or a report's records/)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if not Path(args.published).is_file():
        raise FfnlabError(f"{args.published} is not a file; pass the published report's runs.csv")
    runs, _ = collect.load(args.rerun)
    both, missing = compare(pd.read_csv(args.published), runs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    both.to_csv(out / "replication.csv", index=False)
    (out / "replication.md").write_text(markdown(both, missing, args.published))
    print(f"wrote {out}/replication.csv and replication.md ({len(both)} runs matched, {len(missing)} missing)")


if __name__ == "__main__":
    from ffnlab.errors import cli_errors

    cli_errors("ffnlab-replication")(main)()
