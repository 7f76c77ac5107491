"""The run record: one `metrics.json` per run, written atomically; its schema, hash and readers."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from ffnlab.data import atomic_write_bytes

RECORD_NAME = "metrics.json"
STATUSES = ("ok", "failed", "diverged")
SCHEMA_VERSION = 1
# Config keys that say where things live, how they are shown or how fast they are computed, not what is
# computed: left out of the hash. (`perf` options are tested to reproduce the reference within tolerance.)
HASH_EXCLUDE = ("paths", "sweep_name", "data.corpora_dir", "data.cache_dir", "trainer.progress_bar", "perf",
                "reuse_runs")


def _drop(cfg: dict, dotted: str) -> None:
    head, _, rest = dotted.partition(".")
    if head in cfg:
        if rest and isinstance(cfg[head], dict):
            _drop(cfg[head], rest)
        elif not rest:
            del cfg[head]


def _science(resolved: dict) -> dict:
    cfg = json.loads(json.dumps(resolved, default=str))
    for key in HASH_EXCLUDE:
        _drop(cfg, key)
    return cfg


def config_hash(resolved: dict) -> str:
    """sha256 of the resolved config (without paths and display settings), as canonical JSON."""
    return hashlib.sha256(json.dumps(_science(resolved), sort_keys=True).encode()).hexdigest()[:16]


def added_keys(old: dict, new: dict, prefix: str = "") -> list[str] | None:
    """Keys `new` adds to `old` when they agree on every key they share; None if any shared key differs.

    A finished run whose config lacks only keys added to ffnlab since (settings that did not exist then)
    still counts as the same experiment, so a newer ffnlab does not recompute an unchanged study.
    """
    added: list[str] = []
    for key, value in new.items():
        name = f"{prefix}{key}"
        if key not in old:
            added.append(name)
        elif isinstance(value, dict) and isinstance(old[key], dict):
            sub = added_keys(old[key], value, name + ".")
            if sub is None:
                return None
            added += sub
        elif old[key] != value:
            return None
    return None if set(old) - set(new) else added


def same_experiment(old_resolved: dict, new_resolved: dict) -> list[str] | None:
    """None if the configs differ in substance, else the list of keys only the new one has."""
    return added_keys(_science(old_resolved), _science(new_resolved))


def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        sha = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return (sha + ("-dirty" if dirty else "")) if out.returncode == 0 and sha else None
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("ffnlab", "torch", "lightning", "hydra-core", "tokenizers", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def write_record(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write metrics.json atomically. A record with status 'ok' is never replaced by anything else."""
    path = Path(run_dir) / RECORD_NAME
    existing = read_record(path)
    if existing is not None and existing.get("status") == "ok" and record.get("status") != "ok":
        status = record.get("status")
        raise FileExistsError(f"{path} holds a finished run; refusing to overwrite it with a {status} one")
    record = {"schema": SCHEMA_VERSION, **record}
    atomic_write_bytes(path, (json.dumps(record, indent=2, default=str) + "\n").encode())
    return path


def read_record(path: Path) -> dict[str, Any] | None:
    """The record at `path`, or None if missing; a corrupt file reads as None (the caller decides)."""
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_NAME
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def find_finished(root: Path, resolved: dict, revision: int, exclude: Path | None = None) -> Path | None:
    """A run folder under `root` (e.g. multirun/) holding a finished run of the same experiment, or None.

    "Same" means what the skip check means: status ok, this results revision, and a config that agrees on
    every key but those left out of the hash (a different sweep_name, paths or perf options).
    """
    exclude = Path(exclude).resolve() if exclude else None
    for path in sorted(Path(root).rglob(RECORD_NAME)):
        if exclude is not None and path.parent.resolve() == exclude:
            continue
        rec = read_record(path)
        if (rec is None or rec.get("status") != "ok" or rec.get("results_revision") != revision
                or rec.get("ffn") != resolved.get("ffn") or rec.get("seed") != resolved.get("seed")):
            continue
        if same_experiment(rec.get("config") or {}, resolved) is not None:
            return path.parent
    return None
