"""`ffnlab-train` end to end: complete records for every variant, experiments, launchers, DDP, precision (the life
of a sweep — skip, resume, reuse, refuse — is in tests/test_sweep.py)."""

import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir

from conftest import TINY, ffnlab_train, records
from ffnlab.cli.train import CONF_DIR
from ffnlab.model.ffn import VARIANTS, get_variant

REQUIRED = ["status", "ffn", "seed", "gated", "d_model", "d_ff", "params", "flops_per_token", "steps", "tokens",
            "early", "final", "history", "tokens_per_s", "wall_s", "peak_rss_mb", "peak_gpu_mb", "data", "config",
            "config_hash", "git_sha", "versions", "error"]


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_every_variant_trains_and_writes_a_complete_record(env, tmp_path):
    ffnlab_train("-m", "ffn=" + ",".join(VARIANTS), *TINY, "trainer.max_steps=8", "trainer.curve_val_batches=1",
                 "sweep_name=all",
                 env=env, cwd=tmp_path)
    recs = {r["ffn"]: r for r in records(tmp_path / "multirun" / "all").values()}
    assert set(recs) == set(VARIANTS)
    relu_ffn = recs["relu"]["params"]["ffn"]
    for name, r in recs.items():
        assert [k for k in REQUIRED if k not in r] == [], name
        assert r["status"] == "ok" and r["error"] is None
        assert r["gated"] == get_variant(name).gated
        assert set(r["params"]) == {"total", "ffn", "non_embedding"}
        assert abs(r["params"]["ffn"] - relu_ffn) / relu_ffn < 0.01  # parity, as recorded
        assert r["early"]["step"] == 1 and r["final"]["step"] == 8 and len(r["history"]) == 8
        assert {"val_loss", "val_ppl", "val_bpb", "test_loss"} <= set(r["final"])
        assert {"corpus", "tokenizer", "vocab_size", "train_tokens"} <= set(r["data"])
        assert r["data"]["corpus"] == "embedded" and r["tokens"] == 8 * 8 * 32
        assert (r["peak_gpu_mb"] is None) == (not torch.cuda.is_available())
        assert 0 < r["train_s"] < r["wall_s"] and 0 < r["eval_s"] < r["wall_s"] and r["setup_s"] > 0
        assert r["diagnostics"]["points"][-1]["step"] == 8  # every variant, bounded or not, is measured
    # Same data, same non-FFN init: every variant's record names the same corpus hash and token counts.
    assert len({(r["data"]["sha256"], r["data"]["train_tokens"]) for r in recs.values()}) == 1


@pytest.mark.parametrize("launcher", [pytest.param("joblib", marks=pytest.mark.slow),
                                      pytest.param("gpu_pack", marks=pytest.mark.slow),
                                      pytest.param("submitit_local", marks=pytest.mark.slow)])
def test_launchers_complete_a_two_run_sweep(env, tmp_path, launcher):
    from ffnlab.io import threads_per_job

    ffnlab_train("-m", f"launcher={launcher}", "ffn=relu,swiglu", *TINY, "trainer.max_steps=8", "trainer.threads=null",
                 f"sweep_name={launcher}", env=env, cwd=tmp_path)
    recs = records(tmp_path / "multirun" / launcher)
    assert sorted(r["ffn"] for r in recs.values()) == ["relu", "swiglu"]
    assert all(r["status"] == "ok" for r in recs.values())
    if launcher != "submitit_local":  # n_jobs runs side by side: each takes cores ÷ n_jobs threads, never more
        n_jobs = {"joblib": 2, "gpu_pack": 4}[launcher]
        assert {r["threads"] for r in recs.values()} == {threads_per_job(n_jobs)}


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_ddp_on_two_cpu_processes_is_the_single_run_with_twice_the_batch(env, tmp_path):
    ffnlab_train("trainer=ddp_cpu", *TINY, "trainer.max_steps=8", "hydra.run.dir=runs/ddp", env=env, cwd=tmp_path)
    ffnlab_train(*TINY, "data.batch_size=16", "trainer.max_steps=8", "hydra.run.dir=runs/one", env=env, cwd=tmp_path)
    recs = records(tmp_path / "runs")
    assert len(recs) == 2  # rank 0 alone writes the DDP run's record
    ddp, one = recs["ddp"], recs["one"]
    assert ddp["status"] == "ok" and ddp["tokens"] == one["tokens"] == 2 * 8 * 8 * 32
    # Same chunks per step, same init: equal up to the order of float sums (the gradient all-reduce).
    for a, b in zip(ddp["history"], one["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-4)
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-4)


def _experiments() -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", _experiments())
def test_every_experiment_composes_and_names_valid_variants_and_settings(name):
    from omegaconf import OmegaConf

    from ffnlab.runs.build import validate_model
    from ffnlab.runs.config import compose, settings

    cfg = compose([f"experiment={name}"], hydra=True)
    assert cfg.sweep_name == name
    params = cfg.hydra.sweeper.params
    job = compose([f"experiment={name}"])
    from ffnlab.runs.config import CONF_DIR

    for key, values in params.items():  # every value of every swept setting fits the typed config and can run
        for value in str(values).split(","):
            if (CONF_DIR / key).is_dir():  # a config group (family=gpt2): compose its choice
                one = compose([f"experiment={name}", f"{key}={value}"])
            else:
                one = job.copy()
                OmegaConf.update(one, key, yaml.safe_load(value))  # the schema checks the type on assignment
            get_variant(one.ffn)
            validate_model(settings(one))  # the rules and the model's shape, as a job checks them



@pytest.mark.parametrize("name", [n for n in _experiments() if n != "shazeer_gpu"])
def test_every_cpu_study_runs_two_one_thread_runs_side_by_side(name):
    """The studies' default arrangement (#16, results/benchmarks/study_throughput.md): two concurrent runs, each
    with cores ÷ 2 threads (trainer.threads unset), never one 2-thread run that collapses beside a co-runner."""
    from ffnlab.runs.config import compose

    cfg = compose([f"experiment={name}"], hydra=True)
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher") and cfg.hydra.launcher.n_jobs == 2
    assert cfg.trainer.threads is None

# Studies whose first job takes a code path of its own (Adafactor, compile settings); the other studies' jobs
# differ from shazeer's only in values, which the composition test above checks.
@pytest.mark.parametrize("name", [pytest.param("shazeer", marks=pytest.mark.slow),
                                  pytest.param("shazeer_gpu", marks=pytest.mark.slow)])
def test_a_job_of_each_distinct_study_runs(env, tmp_path, name):
    ffnlab_train(f"experiment={name}", "trainer=cpu", *TINY, "data=embedded", "data.vocab_size=384",
                 "trainer.max_steps=8", "perf.compile=false", env=env, cwd=tmp_path)
    (r,) = records(tmp_path / "runs").values()
    assert r["status"] == "ok", json.dumps(r)[:2000]


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_optuna_preset_tunes_the_learning_rate(env, tmp_path):
    out = ffnlab_train("-m", "hparams_search=lr_optuna", "ffn=swiglu", "hydra.sweeper.n_trials=2", *TINY,
                       "trainer.max_steps=8", env=env, cwd=tmp_path)
    recs = records(tmp_path / "multirun" / "lr_optuna_swiglu")
    lrs = sorted(r["config"]["optim"]["lr"] for r in recs.values())
    assert len(lrs) == 2 and lrs[0] != lrs[1] and all(3e-4 <= lr <= 1e-2 for lr in lrs)
    best = yaml.safe_load((tmp_path / "multirun" / "lr_optuna_swiglu" / "optimization_results.yaml").read_text())
    assert best["best_value"] == min(r["final"]["val_loss"] for r in recs.values())
    assert "2 ok" in out.stdout + out.stderr


def test_two_sweeps_started_in_the_same_second_get_different_folders():
    names = []
    for _ in range(2):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("train", return_hydra_config=True)
        names.append(str(cfg.sweep_name))
    assert names[0] != names[1] and names[0][:10] == names[1][:10]  # same date, different unique suffix


def test_ddp_inside_a_sweep_is_refused_with_a_reason_and_the_sweep_fails(env, tmp_path):
    proc = ffnlab_train("-m", "trainer=ddp_cpu", *TINY, "trainer.max_steps=8", "sweep_name=ddp", env=env,
                        cwd=tmp_path, check=False)
    (r,) = records(tmp_path / "multirun" / "ddp").values()
    assert r["status"] == "failed" and "single run" in r["error"]
    said = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "1 failed" in said and "Traceback" not in said  # said in one line, and named:
    assert "failed data.batch_size=8,data.vocab_size=384,model=tiny,trainer.max_steps=8,trainer=ddp_cpu:" in said


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_bf16_mixed_precision_and_perf_options_run_on_cpu(env, tmp_path):
    """The speed options through the real CLI: bf16 autocast on the CPU, the recomputing FFN; the record keeps
    the precision (a setting) and the perf block (not part of the config hash)."""
    ffnlab_train("ffn=swiglu", *TINY, "trainer.max_steps=8", "trainer.precision=bf16-mixed",
                 "perf.ffn_impl=recompute", env=env, cwd=tmp_path)
    (r,) = records(tmp_path / "runs").values()
    assert r["status"] == "ok" and math.isfinite(r["final"]["val_loss"])
    assert r["config"]["trainer"]["precision"] == "bf16-mixed" and r["config"]["perf"]["ffn_impl"] == "recompute"


def test_settings_is_the_typed_config_whether_or_not_hydras_own_node_was_composed_in():
    """runs.config.settings: every rule checked, then the dataclasses a run is built from (not a dict), with or
    without the `hydra` node (notebooks and tests compose it in); a bad value is a ConfigError naming the key."""
    from ffnlab.errors import ConfigError
    from ffnlab.runs.config import ModelSection, TrainConfig, compose, settings

    for hydra in (False, True):
        s = settings(compose(["experiment=shazeer"], hydra=hydra))
        assert isinstance(s, TrainConfig) and isinstance(s.model, ModelSection) and s.trainer.max_steps == 800
    assert settings(s) is s  # already typed: passed through
    with pytest.raises(ConfigError, match="trainer.eval_every=3 does not divide"):
        settings(compose(["trainer.max_steps=80", "trainer.eval_every=3"]))
