"""The sweep that would resolve a report's open comparisons: the seeds (or seed blocks) its forecast asks for, as
one ffnlab-train command that carries the study's own overrides (finished runs are skipped when it runs)."""

from __future__ import annotations

import pandas as pd

from ffnlab.io import REPO_ROOT
from ffnlab.report.paper import BASELINE


def _shared_overrides(runs: pd.DataFrame) -> str | None:
    """The sweep overrides other than ffn and seed that every run shares, read from the run folders' names
    (Hydra's override_dirname, `ffn=gelu,scale=s,seed=0,trainer.max_steps=8000` → `scale=s
    trainer.max_steps=8000`); None where a folder's name is no such list."""
    shared = None
    for name in runs.get("run_dir", pd.Series([], dtype=object)):
        pairs = [part.split("=", 1) for part in str(name).rsplit("/", 1)[-1].split(",")]
        if not all(len(pair) == 2 and pair[0] for pair in pairs):
            return None
        own = {(k, v) for k, v in pairs if k not in ("ffn", "seed")}
        shared = own if shared is None else shared & own
    return " ".join(f"{k}={v}" for k, v in sorted(shared or ()))


def more_seeds_command(runs: pd.DataFrame, s: pd.DataFrame, cap: int = 50,
                       setting: pd.DataFrame | None = None) -> str | None:
    """The sweep that adds the seeds which would resolve every unresolved Δ (table.md's "seeds to resolve"), for
    a study run from an experiment file; finished runs are skipped when it runs. None if nothing is missing.
    `setting`: where the study spans several settings (sizes, budgets, learning rates), the runs of the one `s`
    summarizes, whose shared overrides narrow the sweep to it (else it would add the seeds to every setting)."""
    if "seeds_needed" not in s:
        return None
    # the primary test's forecast: the seed blocks that would resolve a Δ (seed-blocked), else Welch's seeds
    need = "blocks_needed" if "test" in s and (s["test"] == "seed-blocked").any() else "seeds_needed"
    open_ = s[~s["significant"].fillna(False).astype(bool) & s[need].notna()]
    open_ = open_[open_[need] > open_["n_seeds"]]
    if open_.empty:
        return None
    seeds = int(min(open_[need].max(), cap))
    names = ",".join([BASELINE, *[n for n in open_.index if n != BASELINE]])
    study = runs.get("cfg.sweep_name", pd.Series(dtype=object)).dropna().unique()
    known = len(study) == 1 and (REPO_ROOT / "conf" / "experiment" / f"{study[0]}.yaml").is_file()
    sweep = f"experiment={study[0]}" if known else (f"sweep_name={study[0]}" if len(study) == 1 else
                                                     "<the sweep's overrides>")
    # the overrides every run's folder name carries (model=tiny, a budget, a size): without them the command
    # would plan runs of another configuration into the same study folder
    narrow = _shared_overrides(setting if setting is not None else runs)
    if narrow:
        sweep += f" {narrow}"
    elif narrow is None:
        sweep += " <the sweep's own overrides>"
    return f"ffnlab-train -m {sweep} ffn={names} seed={','.join(map(str, range(seeds)))}" + \
        (f"  (capped at {cap} seeds)" if open_[need].max() > cap else "")
