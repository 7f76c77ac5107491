"""The run record: atomic writes, no overwriting of finished runs, a hash that ignores where files live."""

import json

import pytest

from ffnlab.record import config_hash, read_record, same_experiment, write_record


def test_write_then_read(tmp_path):
    write_record(tmp_path, {"status": "ok", "x": 1})
    assert read_record(tmp_path)["x"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_finished_record_is_never_overwritten_by_a_failure(tmp_path):
    write_record(tmp_path, {"status": "ok", "x": 1})
    with pytest.raises(FileExistsError):
        write_record(tmp_path, {"status": "failed", "error": "boom"})
    assert read_record(tmp_path)["x"] == 1


def test_corrupt_record_reads_as_none(tmp_path):
    (tmp_path / "metrics.json").write_text('{"status": "ok", "trunc')
    assert read_record(tmp_path) is None
    (tmp_path / "metrics.json").write_text(json.dumps([1, 2]))
    assert read_record(tmp_path) is None


def test_hash_ignores_paths_but_not_science():
    a = {"ffn": "relu", "seed": 0, "paths": {"output": "/a"}, "data": {"corpus": "x", "cache_dir": "/c"}}
    b = {"ffn": "relu", "seed": 0, "paths": {"output": "/b"}, "data": {"corpus": "x", "cache_dir": "/d"}}
    c = {**a, "seed": 1}
    assert config_hash(a) == config_hash(b) != config_hash(c)


def test_same_experiment_tolerates_only_added_keys():
    old = {"ffn": "relu", "trainer": {"max_steps": 10}}
    assert same_experiment(old, {"ffn": "relu", "trainer": {"max_steps": 10, "compile": False}}) == [
        "trainer.compile"
    ]
    assert same_experiment(old, {"ffn": "relu", "trainer": {"max_steps": 11}}) is None
    assert same_experiment(old, {"ffn": "relu"}) is None  # a removed key is a different experiment
    assert same_experiment(old, old) == []


def test_perf_options_do_not_change_the_hash():
    cfg = {"ffn": "relu", "seed": 0, "model": {"d_model": 8}, "perf": {"ffn_impl": "naive", "compile": False}}
    faster = {**cfg, "perf": {"ffn_impl": "recompute", "compile": True}}
    without = {k: v for k, v in cfg.items() if k != "perf"}  # a record written before perf options existed
    assert config_hash(cfg) == config_hash(faster) == config_hash(without)
