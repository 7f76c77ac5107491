"""The table of config keys by role, and everything derived from it: identity, settings, folder names."""

import pytest

from ffnlab.runs import keys
from ffnlab.runs.config import compose
from ffnlab.runs.keys import COMPARED, HOW, SOURCE, WHAT, WHERE, folder_exclude_keys, leaf_keys, role


@pytest.fixture(scope="module")
def composed():
    from omegaconf import OmegaConf

    cfg = compose(["data=c4"], hydra=True)  # a hub corpus: the config with the most keys
    return cfg, OmegaConf.to_container(cfg, resolve=False)


@pytest.mark.parametrize("key,expected", [
    ("ffn", COMPARED), ("seed", COMPARED), ("model.d_model", WHAT), ("optim.lr", WHAT), ("data.corpus", WHAT),
    ("trainer.precision", WHAT), ("trainer.max_steps", WHAT), ("trainer.devices", WHAT),
    ("trainer.threads", HOW), ("trainer.progress_bar", HOW), ("perf.compile", HOW), ("perf.anything", HOW),
    ("reuse_runs", HOW), ("paths.output", WHERE), ("data.cache_dir", WHERE), ("sweep_name", WHERE),
    ("data.path", SOURCE), ("data.hub.path", SOURCE), ("data.hub.dataset", WHAT),
])
def test_roles(key, expected):
    assert role(key) is expected


def test_every_role_is_consistent():
    """A setting is identity, and a key that is not identity never names a folder unless it locates the data."""
    for name, r in keys.ROLES.items():
        assert not r.setting or r.identity, name
        assert r.identity or not r.folder or r is SOURCE, name


def test_hydra_folder_exclusions_are_derived_from_the_table(composed):
    cfg, plain = composed
    excluded = list(cfg.hydra.job.config.override_dirname.exclude_keys)
    assert excluded == folder_exclude_keys(plain)
    for key in leaf_keys({k: v for k, v in plain.items() if k != "hydra"}):
        assert (key in excluded) == (not role(key).folder), key
    assert {"trainer.threads", "perf.compile", "data.cache_dir", "launcher", "experiment"} <= set(excluded)
    assert not {"ffn", "seed", "optim.lr", "data.path"} & set(excluded)


def test_identity_config_keeps_exactly_the_identity_keys(composed):
    _, plain = composed
    science = keys.identity_config({k: v for k, v in plain.items() if k != "hydra"})
    kept = set(leaf_keys(science))
    assert kept and all(role(k).identity for k in kept)
    assert "trainer.threads" not in kept and "optim.lr" in kept and "ffn" in kept
