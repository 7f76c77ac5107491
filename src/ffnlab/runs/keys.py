"""Config keys by role: what a run computes, what a study compares, where files live, and how fast it runs.

This table is the single answer to "does this key change the experiment?". Everything else is derived from it:
the run's identity hash (identity_hash, below), the report's settings (report.collect), and the overrides that
never name a run folder (Hydra's override_dirname.exclude_keys in conf/train.yaml, via the ffnlab_folder_exclude
resolver). A key that is not listed is WHAT: it enters the identity, splits a report into settings and names
the run folder when overridden. A listed key covers its whole subtree (`perf` covers `perf.compile`).

The data's identity is part of WHAT: the record's corpus content hash (data.sha256) enters the identity, so a
run on an edited `data=text` file is another experiment. Its location (data.path, data.hub.path) is SOURCE:
it names the run folder (two files swept side by side get two folders) but not the identity, which the
content hash already carries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    name: str
    identity: bool  # enters the identity hash: a difference means another experiment
    setting: bool  # a difference splits a report into settings (never averaged across)
    folder: bool  # an override of it names the sweep's run folder

    def __str__(self) -> str:
        return self.name


WHAT = Role("what", identity=True, setting=True, folder=True)  # model, optimiser, budget, precision, corpus
COMPARED = Role("compared", identity=True, setting=False, folder=True)  # what a study varies and pools over
SOURCE = Role("source", identity=False, setting=False, folder=True)  # where the data is read (its hash: WHAT)
WHERE = Role("where", identity=False, setting=False, folder=False)  # where outputs and caches live
HOW = Role("how", identity=False, setting=False, folder=False)  # speed, memory, display, placement, reuse
LABEL = Role("label", identity=False, setting=False, folder=False)  # a name for what other keys already say

ROLES: dict[str, Role] = {
    "ffn": COMPARED,
    "seed": COMPARED,
    "data_seed": COMPARED,
    "ffn_family": LABEL,  # conf/family/*: its ffn and model keys are the identity; the label only groups runs
    "data.path": SOURCE,
    "data.hub.path": SOURCE,
    "sweep_name": WHERE,
    "paths": WHERE,
    "data.corpora_dir": WHERE,
    "data.fetch_from": WHERE,  # where a canonical corpus is rebuilt from (verified: the same text, the same hash)
    "data.cache_dir": WHERE,
    "perf": HOW,  # tests hold every perf option to the reference loss curve
    "diagnostics": HOW,  # measured beside training, never inside it (tests hold the loss curve bitwise)
    "blimp": HOW,  # scored after training, never inside it; the record's blimp block says what was scored
    "reuse_runs": HOW,
    "report_at_end": HOW,
    "logger": HOW,  # where Lightning also streams the curves
    "trainer.gpu_memory_share": HOW,  # a cap on one run's GPU memory when several share a device
    "trainer.threads": HOW,  # intra-op threads: speed (1 and 2 gave bit-identical losses here)
    "trainer.progress_bar": HOW,
    "trainer.log_every_n_steps": HOW,  # how often Lightning's CSV log is written
    "trainer.ckpt_every": HOW,  # checkpoints for resuming; a resumed run is bit-identical
    "trainer.branch_budgets": HOW,  # the stable-phase checkpoints a WSD run keeps for shorter runs (runs.branch)
    "trainer.accelerator": HOW,  # placement (the precision, a WHAT, says what arithmetic ran)
    "data.eval_batch_size": HOW,  # every evaluation covers the same tokens whatever the batch
    "hydra": HOW,
}
# Overrides that choose how a sweep runs rather than what (Hydra groups and launcher options, not config keys).
FOLDER_EXCLUDE_OVERRIDES = ("experiment", "launcher", "logger", "hparams_search", "hydra.launcher.n_jobs")


def role(key: str) -> Role:
    """The role of a dotted config key: the longest listed prefix decides; unlisted keys are WHAT."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        found = ROLES.get(".".join(parts[:n]))
        if found is not None:
            return found
    return WHAT


def is_identity(key: str) -> bool:
    return role(key).identity


def is_setting(key: str) -> bool:
    return role(key).setting


def leaf_keys(cfg: dict, prefix: str = "") -> list[str]:
    """Dotted names of every leaf of a nested dict ("trainer.max_steps", ...)."""
    out: list[str] = []
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        out += leaf_keys(value, name + ".") if isinstance(value, dict) and value else [name]
    return out


def identity_config(cfg: dict) -> dict:
    """The config without the keys that are not identity, and without null values (a null setting and an absent
    one mean the same to ffnlab: a key added later with a null default leaves older runs' identity alone)."""

    def keep(node: dict, prefix: str) -> dict:
        out = {}
        for key, value in node.items():
            name = f"{prefix}{key}"
            if value is None or not is_identity(name):
                continue
            out[key] = keep(value, name + ".") if isinstance(value, dict) else value
        return out

    return keep(cfg, "")


def folder_exclude_keys(cfg: dict) -> list[str]:
    """Hydra's override_dirname.exclude_keys: every key of `cfg` whose override must not name the run folder.
    (Hydra's own hydra.* overrides never reach the folder name, so its subtree is not listed key by key.)"""
    leaves = [k for k in leaf_keys({k: v for k, v in cfg.items() if k != "hydra"}) if not role(k).folder]
    return sorted(set(leaves) | set(FOLDER_EXCLUDE_OVERRIDES) | {k for k, r in ROLES.items() if not r.folder})


def identity_hash(config: dict, data_sha256: str | None) -> str:
    """What a run computes, as 16 hex digits: the identity keys of its config (ffnlab.runs.keys) and its data's hash."""
    science = identity_config(json.loads(json.dumps(config, default=str)))
    payload = {"config": science, "data_sha256": data_sha256}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
