"""Whether two runs are the same experiment: the skip check's rule, and a finished twin anywhere under a root.

A finished run whose config lacks only keys added to ffnlab since (settings that did not exist then, left at
their default) still counts as the same experiment, so a newer ffnlab does not recompute an unchanged study.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from omegaconf import OmegaConf

from ffnlab.runs.config import TrainConfig
from ffnlab.runs.keys import identity_config, leaf_keys
from ffnlab.runs.record import RECORD_NAME, RunRecord, try_read_record


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


def differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Human-readable differences between two identity configs ("optim.lr: 0.002 → 0.001")."""
    out = []
    for key in sorted(set(old) | set(new)):
        name, a, b = f"{prefix}{key}", old.get(key, "(absent)"), new.get(key, "(absent)")
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, name + ".")
        elif a != b:
            out.append(f"{name}: {a} → {b}")
    return out


def same_experiment(old: RunRecord | dict, new_config: dict, new_data_sha256: str | None = None) -> list[str] | None:
    """None if the two differ in what they compute, else the keys only the new config has (added since).

    `old` is a record (its config and data hash are compared) or a bare config (then only configs are).
    """
    old_config = old.config if isinstance(old, RunRecord) else old
    if isinstance(old, RunRecord) and new_data_sha256 is not None and old.data_sha256 not in (None,
                                                                                             new_data_sha256):
        return None
    a = identity_config(json.loads(json.dumps(old_config, default=str)))
    b = identity_config(json.loads(json.dumps(new_config, default=str)))
    added = added_keys(a, b)
    if added is None:
        return None
    # A key the old run lacks is "added since" only if its config never had it (a null there was a setting: unset)
    # and the new run leaves it at the schema's default, what ffnlab did before the key existed. Otherwise the new
    # run computes something else (e.g. LLaMA's model.multiple_of=32 against a swiglu run with multiple_of null).
    defaults = _schema_defaults()
    for key in added:
        value = _lookup(b, key)
        leaves = [f"{key}.{leaf}" for leaf in leaf_keys(value)] if isinstance(value, dict) else [key]
        if any(_lookup(old_config, k, _ABSENT) is not _ABSENT or _lookup(defaults, k) != _lookup(b, k)
               for k in leaves):
            return None
    return added


_ABSENT = object()


def _lookup(config: dict, dotted: str, absent=None):
    """config["a"]["b"] for "a.b"; `absent` where a part is missing (for the identity, absent and null agree)."""
    for part in dotted.split("."):
        if not isinstance(config, dict) or part not in config:
            return absent
        config = config[part]
    return config


@functools.lru_cache(maxsize=1)
def _schema_defaults() -> dict:
    """The identity part of the typed config's defaults (ffnlab.runs.config): what an unset key means today."""
    defaults = OmegaConf.to_container(OmegaConf.structured(TrainConfig), throw_on_missing=False)
    return identity_config(json.loads(json.dumps(defaults, default=str)))


def is_finished(rec: RunRecord | None, revision: int) -> bool:
    """A finished run of this results revision with its final loss and data hash: what a sweep may reuse."""
    return (rec is not None and rec.status == "ok" and rec.final is not None and rec.results_revision == revision
            and rec.data_sha256 is not None)


def finished_runs(root: Path, revision: int, exclude: Path | None = None) -> list[tuple[Path, RunRecord]]:
    """(folder, record) of every finished run of `revision` under `root` (is_finished), unreadable ones passed
    over: what a sweep may skip or reuse. The one walk both the decision and the sweep plan use."""
    exclude = Path(exclude).resolve() if exclude else None
    found = []
    for path in sorted(Path(root).rglob(RECORD_NAME)):
        if exclude is not None and path.parent.resolve() == exclude:
            continue
        rec = try_read_record(path)
        if is_finished(rec, revision):
            found.append((path.parent, rec))
    return found


def find_finished(root: Path, config: dict, data_sha256: str | None, revision: int,
                  exclude: Path | None = None, machine: str | None = None) -> Path | None:
    """A run folder under `root` (the output root's multirun/) holding a finished run of the same experiment, for
    reuse. "Same" means what the skip check means: status ok, this results revision, the same variant and seed,
    the same identity config (ffnlab.runs.keys) and the same data hash; and, where `machine` is given, trained on
    that machine (RunRecord.machine): a seed block stays on one machine kind. Unreadable records are passed over.
    """
    for folder, rec in finished_runs(root, revision, exclude):
        if rec.ffn == config.get("ffn") and rec.seed == config.get("seed") \
                and same_experiment(rec, config, data_sha256) is not None \
                and (machine is None or rec.machine == machine):
            return folder
    return None
