"""Records → DataFrames: one row per run (failed, diverged, missing and corrupt ones included), and curves."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd

from ffnlab.record import config_hash

RECORD = "metrics.json"
# Config keys that never define a "setting": the variant and seeds are what a study compares across,
# the rest say where files live, how progress is shown, how fast results are computed (perf) or whether a
# run may be copied from another study (reuse_runs). Every key of ffnlab.record.HASH_EXCLUDE is here (tested).
NOT_SETTINGS = ("ffn", "seed", "data_seed", "sweep_name", "paths", "data.corpora_dir", "data.cache_dir",
                "trainer.progress_bar", "trainer.threads", "hydra", "perf", "reuse_runs")


def run_dirs(roots: list[str | Path]) -> list[Path]:
    """Every run folder under the roots: one holding a record, an outcome or Hydra's .hydra/ folder."""
    found: set[Path] = set()
    for root in map(Path, roots):
        if not root.exists():
            raise FileNotFoundError(f"{root} does not exist; pass a sweep or run folder (e.g. multirun/shazeer)")
        for marker in ("metrics.json", "outcome.json", ".hydra/config.yaml"):
            for p in root.rglob(marker):
                found.add(p.parent.parent if marker.startswith(".hydra") else p.parent)
    return sorted(found)


def _read(run_dir: Path) -> tuple[dict | None, str | None]:
    path = run_dir / RECORD
    if not path.exists():
        return None, "missing"
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or "status" not in data:
            raise ValueError("not a run record")
        return data, None
    except (OSError, ValueError) as e:
        warnings.warn(f"{path}: unreadable run record ({e}); listed with status 'corrupt'", stacklevel=2)
        return None, "corrupt"


def _row(run_dir: Path, rec: dict) -> dict:
    final, early, params = rec.get("final") or {}, rec.get("early") or {}, rec.get("params") or {}
    data = rec.get("data") or {}
    return {
        "run_dir": str(run_dir), "status": rec.get("status"), "ffn": rec.get("ffn"), "seed": rec.get("seed"),
        "gated": rec.get("gated"), "d_model": rec.get("d_model"), "d_ff": rec.get("d_ff"),
        "params_total": params.get("total"), "params_ffn": params.get("ffn"),
        "params_non_embedding": params.get("non_embedding"), "flops_per_token": rec.get("flops_per_token"),
        "steps": rec.get("steps"), "tokens": rec.get("tokens"), "train_epochs": rec.get("train_epochs"),
        "early_step": early.get("step"), "early_val_loss": early.get("val_loss"),
        "final_val_loss": final.get("val_loss"), "final_val_ppl": final.get("val_ppl"),
        "final_val_bpb": final.get("val_bpb"), "final_test_loss": final.get("test_loss"),
        "tokens_per_s": rec.get("tokens_per_s"), "train_s": rec.get("train_s"), "wall_s": rec.get("wall_s"),
        "peak_rss_mb": rec.get("peak_rss_mb"), "peak_gpu_mb": rec.get("peak_gpu_mb"),
        "corpus": data.get("corpus"), "tokenizer": data.get("tokenizer"),
        "vocab_size": data.get("vocab_size"), "config_hash": rec.get("config_hash"), "git_sha": rec.get("git_sha"),
        "error": rec.get("error"), "reused_from": rec.get("reused_from"),
    }


def _config_of(run_dir: Path, rec: dict | None) -> dict:
    if rec and isinstance(rec.get("config"), dict):
        return rec["config"]
    hydra_cfg = run_dir / ".hydra" / "config.yaml"
    if hydra_cfg.exists():  # a run without a record still has the config Hydra wrote for it
        try:
            import yaml

            return yaml.safe_load(hydra_cfg.read_text()) or {}
        except Exception:
            return {}
    return {}


def load(roots: list[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, curves). `runs` has one row per run folder with `cfg.*` columns; `curves` one row per evaluation."""
    rows, curves = [], []
    for d in run_dirs(roots):
        rec, problem = _read(d)
        cfg = _config_of(d, rec)
        row = _row(d, rec) if rec else {"run_dir": str(d), "status": problem, "ffn": cfg.get("ffn"),
                                        "seed": cfg.get("seed")}
        row.update({f"cfg.{k}": v for k, v in pd.json_normalize(cfg, sep=".").iloc[0].items()} if cfg else {})
        # The hash of the stored config by today's rule: records written by older ffnlab versions stored hashes
        # made with other exclusions, so their stored config_hash is not comparable across versions.
        row["experiment_hash"] = config_hash(cfg) if rec and cfg else None
        rows.append(row)
        for h in (rec or {}).get("history") or []:
            curves.append({"run_dir": str(d), "ffn": row["ffn"], "seed": row["seed"], **h})
    runs = pd.DataFrame(rows)
    if runs.empty:
        raise FileNotFoundError(f"no runs found under {', '.join(map(str, roots))}")
    return runs, pd.DataFrame(curves)


def duplicates(runs: pd.DataFrame) -> pd.Series:
    """Finished runs that repeat another finished run of the same experiment (e.g. a study's record reused from
    another study, when both are reported together): True for the copy, so each experiment counts once. A
    reused record is the copy when its donor is present; otherwise the first of equal experiment hashes stays."""
    ok = runs["status"].eq("ok")
    donor = runs.get("reused_from", pd.Series(None, index=runs.index, dtype=object))
    donor_here = donor.notna() & donor.isin(runs.loc[ok, "run_dir"])
    rest = runs[ok & ~donor_here & runs["experiment_hash"].notna()]
    rest = rest.assign(_copy=donor[rest.index].notna()).sort_values("_copy", kind="stable")  # originals first
    same = rest.duplicated("experiment_hash", keep="first")
    return ok & (donor_here | same.reindex(runs.index, fill_value=False))


def setting_columns(runs: pd.DataFrame) -> list[str]:
    """Config columns that vary across finished runs, other than the variant and seeds: the settings."""
    ok = runs[runs["status"] == "ok"]
    cols = [c for c in runs.columns if c.startswith("cfg.") and _is_setting(c[4:])]
    return [c for c in cols if ok[c].astype(str).nunique(dropna=False) > 1]


def setting_labels(runs: pd.DataFrame) -> pd.Series:
    """Each run's setting as a label ("optim.lr=0.004, model.init=gpt2"); "" for all when the runs share one."""
    cols = setting_columns(runs)
    return runs[cols].astype(str).apply(lambda r: _label(cols, r), axis=1) if cols else pd.Series("", runs.index)


def settings(runs: pd.DataFrame) -> list[str]:
    """The finished runs' setting labels in the grid's order: numbers by value (lr 5e-4 before 1e-3), not as text."""
    cols, ok = setting_columns(runs), runs[runs["status"] == "ok"]
    if not cols:
        return [""] if len(ok) else []
    grid = ok[cols].astype(str).drop_duplicates().itertuples(index=False)
    return [_label(cols, r) for r in sorted(grid, key=lambda r: [_as_number(v) for v in r])]


def _label(cols: list[str], values) -> str:
    return ", ".join(f"{c[4:]}={v}" for c, v in zip(cols, values, strict=True))


def _as_number(value: str) -> tuple:
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def _is_setting(key: str) -> bool:
    return not any(key == k or key.startswith(k + ".") for k in NOT_SETTINGS)


def varying_columns(runs: pd.DataFrame) -> list[str]:
    """`cfg.*` columns whose value differs between any two runs (what runs.csv keeps of the config)."""
    return [c for c in runs.columns if c.startswith("cfg.") and runs[c].astype(str).nunique(dropna=False) > 1]
