"""The run record: typed schema, migration of every older record, atomic writes, and the identity rule."""

import dataclasses
import json
from pathlib import Path

import pytest

from ffnlab.runs.identity import same_experiment
from ffnlab.runs.keys import identity_hash
from ffnlab.runs.record import SCHEMA_VERSION, Final, RunRecord, migrate, read_record, try_read_record, write_record

V1 = json.loads((Path(__file__).parent / "data" / "record_schema1.json").read_text())


def _ok(**kw) -> RunRecord:
    return RunRecord(status="ok", ffn="relu", seed=0, config={"ffn": "relu"},
                     config_hash=identity_hash({"ffn": "relu"}, None), results_revision=2,
                     run_dir="r", final=Final(step=8, val_loss=5.0, val_ppl=148.4, val_bpb=1.0, test_loss=None,
                                              test_bpb=None), **kw)


def test_write_then_read_round_trips_every_field(tmp_path):
    rec = migrate(V1)
    rec.config_hash = identity_hash(rec.config, rec.data_sha256)  # a schema-6 record's hash recomputes
    write_record(tmp_path, rec)
    back = read_record(tmp_path)
    assert back == rec and back.schema == SCHEMA_VERSION
    assert json.loads((tmp_path / "metrics.json").read_text())["schema"] == SCHEMA_VERSION
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_schema_1_record_migrates_with_every_value_kept():
    """The record written by ffnlab before the schema existed (8f54cf1): nothing is lost or renamed."""
    assert V1["schema"] == 1
    rec = migrate(V1)
    assert rec.extra == {}  # every field of schema 1 has a place in the dataclass
    out = rec.to_dict()
    for key, value in V1.items():
        if key != "schema":
            assert out[key] == value, key
    assert rec.final.val_loss == V1["final"]["val_loss"] and rec.history[-1].step == V1["history"][-1]["step"]
    assert rec.data_sha256 == V1["data"]["sha256"]


def test_older_records_missing_later_fields_and_carrying_control_flags_migrate():
    old = {k: v for k, v in V1.items() if k not in ("peak_gpu_mb", "n_layers", "train_epochs", "results_revision",
                                                     "flops_per_token_forward", "schema", "data_seed")}
    old["is_global_zero"] = True  # a control flag some schema-1 records carried
    old["history"] = [{k: v for k, v in h.items() if k != "train_s"} for h in old["history"]]
    rec = migrate(old)
    assert rec.peak_gpu_mb is None and rec.results_revision is None and rec.history[0].train_s is None
    assert "is_global_zero" not in rec.to_dict() and rec.extra == {}
    assert migrate({**V1, "new_field": 3}).extra == {"new_field": 3}  # unknown fields are kept, never dropped


@pytest.mark.parametrize("bad", ['{"status": "ok", "trunc', "[1, 2]", '{"ffn": "relu"}',
                                 json.dumps({**V1, "final": None}), json.dumps({**V1, "schema": 99})])
def test_unreadable_records_raise_for_the_report_and_read_as_none_for_the_sweep(tmp_path, bad):
    (tmp_path / "metrics.json").write_text(bad)
    with pytest.raises(ValueError, match="unreadable run record"):
        read_record(tmp_path)
    assert try_read_record(tmp_path) is None


@pytest.mark.parametrize("change", [
    lambda r: r["final"].update(val_loss=0.123),  # contradicts its history's last evaluation
    lambda r: (r["final"].update(val_loss=float("nan")), r["history"][-1].update(val_loss=float("nan"))),
    lambda r: (r["final"].update(val_loss=float("inf")), r["history"][-1].update(val_loss=float("inf"))),
    lambda r: r.update(config_hash="0123456789abcdef"),  # a schema-6 hash that does not recompute
])
def test_a_self_contradicting_ok_record_is_no_finished_run_and_is_never_rewritten(tmp_path, change):
    raw = migrate(V1).to_dict()
    raw["schema"], raw["config_hash"] = SCHEMA_VERSION, identity_hash(raw["config"], raw["data"]["sha256"])
    migrate(json.loads(json.dumps(raw)))  # valid as it is
    change(raw)
    (tmp_path / "metrics.json").write_text(json.dumps(raw))
    assert try_read_record(tmp_path) is None
    with pytest.raises(ValueError, match="unreadable run record"):
        read_record(tmp_path)
    with pytest.raises(FileExistsError, match="cannot vouch"):
        write_record(tmp_path, _ok())
    nan = Final(step=8, val_loss=float("nan"), val_ppl=1, val_bpb=1, test_loss=None, test_bpb=None)
    with pytest.raises(ValueError, match="not writing"):  # what a reader would refuse is never written
        write_record(tmp_path / "new", dataclasses.replace(_ok(), final=nan))


def test_every_committed_record_is_a_valid_finished_run_or_says_why_not():
    root = Path(__file__).parents[1] / "results"
    paths = sorted(root.rglob("metrics.json"))
    assert len(paths) > 600
    for p in paths:
        read_record(p)  # raises on any record the rule refuses


def test_finished_record_is_never_overwritten_by_a_failure(tmp_path):
    write_record(tmp_path, _ok())
    with pytest.raises(FileExistsError):
        write_record(tmp_path, dataclasses.replace(_ok(), status="failed", error="boom", final=None))
    assert read_record(tmp_path).status == "ok"


def test_an_early_loss_read_from_a_partial_evaluation_is_no_early_loss():
    from ffnlab.runs.record import Evaluation, Horizon

    def rec(partial: bool) -> RunRecord:
        rows = [Evaluation(step=s, tokens=s, train_loss=None, val_loss=6.0 - s / 10, val_partial=partial and s == 2,
                           train_s=s) for s in (2, 4, 8)]
        return _ok(early=Horizon(step=2, val_loss=5.8), history=rows)

    assert rec(partial=False).early_val_loss == 5.8
    assert rec(partial=True).early_val_loss is None  # e.g. a WSD branch written before the rule: its early row
    assert _ok(early=Horizon(step=2, val_loss=5.8)).early_val_loss == 5.8  # no history kept: the record's word


def test_identity_ignores_where_and_how_but_not_what_nor_the_data():
    cfg = {"ffn": "relu", "seed": 0, "model": {"d_model": 8}, "trainer": {"max_steps": 8, "threads": None},
           "paths": {"output": "/a"}, "data": {"corpus": "x", "cache_dir": "/c", "path": "/p/a.txt"},
           "perf": {"ffn_impl": "naive", "compile": False}, "sweep_name": "s"}
    elsewhere = {**cfg, "paths": {"output": "/b"}, "sweep_name": "t", "data": {**cfg["data"], "cache_dir": "/d",
                                                                                 "path": "/q/a.txt"}}
    faster = {**cfg, "perf": {"ffn_impl": "recompute", "compile": True},
              "trainer": {"max_steps": 8, "threads": 1, "progress_bar": False, "log_every_n_steps": 1}}
    older = {k: v for k, v in cfg.items() if k != "perf"}  # written before perf options existed
    h = identity_hash(cfg, "sha")
    assert h == identity_hash(elsewhere, "sha") == identity_hash(faster, "sha") == identity_hash(older, "sha")
    assert h != identity_hash({**cfg, "seed": 1}, "sha")
    assert h != identity_hash({**cfg, "model": {"d_model": 16}}, "sha")
    assert h != identity_hash(cfg, "other data")
    assert identity_hash({**cfg, "model": {"d_model": 8, "multiple_of": None}}, "sha") == h  # null = absent


def test_same_experiment_tolerates_only_added_keys_and_never_other_data():
    old = {"ffn": "relu", "trainer": {"max_steps": 10}}
    assert same_experiment(old, {"ffn": "relu", "trainer": {"max_steps": 10}, "model": {"rope_base": 10000.0}}) == [
        "model"  # a key added since, at its default: what ffnlab did before it existed
    ]
    assert same_experiment(old, {"ffn": "relu", "trainer": {"max_steps": 11}}) is None
    assert same_experiment(old, {"ffn": "relu"}) is None  # a removed key is a different experiment
    assert same_experiment(old, {**old, "trainer": {"max_steps": 10, "threads": 1}}) == []  # threads: how
    rec = migrate(V1)
    assert same_experiment(rec, rec.config, rec.data_sha256) == []
    assert same_experiment(rec, rec.config, "edited corpus") is None


def test_a_key_added_since_counts_as_the_same_experiment_only_at_its_default_and_only_if_the_run_never_had_it():
    swiglu = {"ffn": "swiglu", "model": {"d_model": 128, "multiple_of": None, "round_up": None}}
    llama = {"ffn": "swiglu", "model": {"d_model": 128, "multiple_of": 32, "round_up": True}}
    assert same_experiment(swiglu, llama) is None  # a null was a setting (unset), not a key added since
    assert same_experiment({"ffn": "swiglu", "model": {"d_model": 128}}, llama) is None  # not at its default
    older = {"ffn": "swiglu", "model": {"d_model": 128}}
    assert same_experiment(older, {"ffn": "swiglu", "model": {"d_model": 128, "rope_base": 10000.0}}) == [
        "model.rope_base"]
    assert same_experiment(older, {"ffn": "swiglu", "model": {"d_model": 128, "rope_base": 500.0}}) is None


def test_every_committed_reused_record_computes_what_its_donor_computed():
    """A reused record is a copy: its identity must equal its donor's wherever both are committed (results/)."""
    from ffnlab.io import REPO_ROOT
    from ffnlab.runs.keys import identity_config

    records = {}
    for path in (REPO_ROOT / "results").glob("*/records/*/*/metrics.json"):
        raw = json.loads(path.read_text())
        records.setdefault("/".join(path.parts[-3:-1]), []).append(raw)
    checked = 0
    for copies in records.values():
        for raw in copies:
            if not raw.get("reused_from"):
                continue
            donors = [d for d in records.get("/".join(Path(raw["reused_from"]).parts[-2:]), [])
                      if not d.get("reused_from")]
            for donor in donors[:1]:
                checked += 1
                assert identity_config(raw["config"]) == identity_config(donor["config"]), raw["run_dir"]
                assert raw["final"]["val_loss"] == donor["final"]["val_loss"], raw["run_dir"]
    assert checked >= 10 or not records  # the studies reuse dozens of runs; a fresh layout may hold none
