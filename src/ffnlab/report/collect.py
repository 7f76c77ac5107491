"""Records → DataFrames: one row per run (failed, diverged, missing and corrupt ones included), and curves."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from ffnlab.errors import ReportError
from ffnlab.report.paper import order_key
from ffnlab.runs.keys import identity_hash, is_setting
from ffnlab.runs.record import OUTCOME_NAME, RECORD_NAME, RunRecord, flat, read_record

RECORD = RECORD_NAME
# Which config keys are settings (split a report) is ffnlab.runs.keys' table; the corpus's content hash is one too:
# runs on different text are never pooled, even when their configs agree.
DATA_HASH = "data_sha256"



def run_dirs(roots: list[str | Path]) -> dict[str, Path]:
    """Every run folder under the roots (one holding a record, an outcome or Hydra's .hydra/ folder), keyed by its
    stable name: the root folder's name, then the run's path below it ("shazeer/ffn=relu,seed=0"). A report's
    runs.csv and its records/ use these names, so a report rebuilt from its own records/ names every run alike."""
    found: dict[str, Path] = {}
    names: set[str] = set()
    for root in map(Path, roots):
        if not root.exists():
            raise ReportError(f"{root} does not exist; pass a sweep or run folder (e.g. multirun/shazeer)")
        name = root.resolve().name
        while name in names:  # two roots of the same name (a/shazeer, b/shazeer): shazeer, shazeer-2, ...
            name = f"{root.resolve().name}-{len([n for n in names if n.startswith(root.resolve().name)]) + 1}"
        names.add(name)
        for marker in (RECORD_NAME, OUTCOME_NAME, ".hydra/config.yaml"):
            for p in root.rglob(marker):
                d = p.parent.parent if marker.startswith(".hydra") else p.parent
                rel = d.relative_to(root).as_posix()
                found[name if rel == "." else f"{name}/{rel}"] = d
    return dict(sorted(found.items()))


def _read(run_dir: Path) -> tuple[RunRecord | None, str | None]:
    """(record, None), or (None, 'missing' | 'corrupt'); every schema ffnlab wrote reads (record.migrate)."""
    try:
        rec = read_record(run_dir)
    except ValueError as e:
        warnings.warn(f"{e}; listed with status 'corrupt'", stacklevel=2)
        return None, "corrupt"
    return (rec, None) if rec is not None else (None, "missing")


def machines_markdown(runs: pd.DataFrame) -> str | None:
    """The finished runs per machine and variant, when they come from more than one machine; None otherwise."""
    ok = runs[(runs["status"] == "ok") & runs["machine"].notna()] if "machine" in runs else runs.iloc[:0]
    if ok["machine"].nunique() < 2:
        return None
    t = pd.crosstab(ok["machine"], ok["ffn"]).sort_index(axis=1, key=order_key)  # the papers' variant order
    lines = ["| machine | " + " | ".join(t.columns) + " | runs |", "|---|" + "---:|" * (len(t.columns) + 1)]
    lines += [f"| {m} | " + " | ".join(str(int(n)) for n in row) + f" | {int(row.sum())} |"
              for m, row in t.iterrows()]
    return ("# Machines\n\nThese runs were trained on more than one machine (as the records name it: the CPU model "
            "and the vector instructions torch used, or the platform string of records from before those were "
            "written). Floating-point kernels differ between machines, so the same run can end slightly "
            "differently on each, much as another seed would; a Δ between variants trained on different "
            "machines carries that difference too. Finished runs per machine and variant:\n\n"
            + "\n".join(lines) + "\n")


def _row(run_dir: str, rec: RunRecord) -> dict:
    """A run's row: its stable name, the record's columns (ffnlab.runs.record.flat), and what the report derives
    from them: the step a branch started at, the machine (RunRecord.machine), BLiMP per phenomenon."""
    blimp = (rec.blimp.by_phenomenon or {}) if rec.blimp else {}
    return {"run_dir": run_dir, **flat(rec), "branch_step": rec.resumed_from_step if rec.branched_from else None,
            "machine": rec.machine, **{f"blimp.{term}": acc for term, acc in blimp.items()}}


def _config_of(run_dir: Path, rec: RunRecord | None) -> dict:
    if rec and rec.config:
        return rec.config
    hydra_cfg = run_dir / ".hydra" / "config.yaml"
    if hydra_cfg.exists():  # a run without a record still has the config Hydra wrote for it
        try:
            import yaml

            return yaml.safe_load(hydra_cfg.read_text()) or {}
        except Exception:
            return {}
    return {}


def load(roots: list[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, curves). `runs` has one row per run folder with `cfg.*` columns; `curves` one row per evaluation.

    run_dir is the run's stable name (see run_dirs); `folder` where it was read. A `reused_from` link names the
    donor by the same stable name when the donor is among the runs read (records store where runs were trained).
    """
    rows, curves, stored = [], [], {}
    for name, d in run_dirs(roots).items():
        rec, problem = _read(d)
        cfg = _config_of(d, rec)
        row = _row(name, rec) if rec else {"run_dir": name, "status": problem, "ffn": cfg.get("ffn"),
                                           "seed": cfg.get("seed")}
        if rec and rec.run_dir:
            stored[rec.run_dir] = name
        row.update({f"cfg.{k}": v for k, v in pd.json_normalize(cfg, sep=".").iloc[0].items()} if cfg else {})
        # The identity by today's rule (ffnlab.runs.keys, with the data's hash): records written by older ffnlab
        # versions stored hashes made with other rules, so their stored config_hash is not comparable across versions.
        row.setdefault(DATA_HASH, None)  # a missing or corrupt record: no data hash
        row["experiment_hash"] = identity_hash(cfg, rec.data_sha256) if rec and cfg else None
        row["folder"] = str(d)  # where it was read (not written to runs.csv: it differs between machines)
        rows.append(row)
        for h in rec.history if rec else []:
            curves.append({"run_dir": name, "ffn": row["ffn"], "seed": row["seed"], **vars(h)})
    if not rows:
        raise ReportError(f"no runs found under {', '.join(map(str, roots))}; pass a sweep folder (multirun/<name>) "
                          "or a report's records/ folders")
    runs = pd.DataFrame(rows)
    if "reused_from" in runs:
        runs["reused_from"] = runs["reused_from"].map(lambda p: stored.get(p, p) if isinstance(p, str) else p)
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
    cols = [c for c in runs.columns if c.startswith("cfg.") and is_setting(c[4:])]
    cols += [DATA_HASH] if DATA_HASH in runs else []
    return [c for c in cols if ok[c].astype(str).nunique(dropna=False) > 1]


def setting_labels(runs: pd.DataFrame) -> pd.Series:
    """Each run's setting as a label ("optim.lr=0.004, model.init=gpt2"); "" for all when the runs share one."""
    cols = setting_columns(runs)
    return runs[cols].astype(str).apply(lambda r: label(cols, r), axis=1) if cols else pd.Series("", runs.index)


def settings(runs: pd.DataFrame) -> list[str]:
    """The finished runs' setting labels in the grid's order: numbers by value (lr 5e-4 before 1e-3), not as text."""
    cols, ok = setting_columns(runs), runs[runs["status"] == "ok"]
    if not cols:
        return [""] if len(ok) else []
    grid = ok[cols].astype(str).drop_duplicates().itertuples(index=False)
    return [label(cols, r) for r in sorted(grid, key=lambda r: [_as_number(v) for v in r])]


def label(cols: list[str], values) -> str:
    """"a=1, b=x" for the setting columns `cols` and their `values`; an unset (null) value reads "null", as in the
    config and on the command line, whether it comes as None or as the NaN a CSV gives back."""
    return ", ".join(f"{c.removeprefix('cfg.')}={_shown(v)}" for c, v in zip(cols, values, strict=True))


def _shown(v) -> str:
    return "null" if str(v) in ("nan", "None", "<NA>") else str(v)


def _as_number(value: str) -> tuple:
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


CORPUS_LABELS = {"wikitext2": "WikiText-2", "tinyshakespeare": "TinyShakespeare", "embedded": "embedded Python docs",
                 "text": "local text", "c4": "C4", "wikitext103": "WikiText-103", "tinystories": "TinyStories",
                 "pgbooks": "PG books", "pg19": "PG-19"}
DEVICE_LABELS = {"cpu": "CPU", "gpu": "GPU", "cuda": "GPU", "mps": "MPS", "auto": "auto-placed"}


def describe(runs: pd.DataFrame) -> str:
    """What the finished runs were, for titles: their corpora and device ("WikiText-2, CPU scale")."""
    ok = runs[runs["status"] == "ok"]
    names = sorted(ok["data_corpus"].dropna().unique()) if "data_corpus" in ok else []
    corpora = [CORPUS_LABELS.get(c, c) for c in names]
    col = "cfg.trainer.accelerator"
    devices = [DEVICE_LABELS.get(d, d) for d in sorted(ok[col].dropna().astype(str).unique())] if col in ok else []
    parts = [" + ".join(corpora)] if corpora else []
    parts += [f"{'+'.join(devices)} scale"] if devices else []
    return ", ".join(parts)


def varying_columns(runs: pd.DataFrame) -> list[str]:
    """`cfg.*` columns whose value differs between any two runs (what runs.csv keeps of the config)."""
    return [c for c in runs.columns if c.startswith("cfg.") and runs[c].astype(str).nunique(dropna=False) > 1]
