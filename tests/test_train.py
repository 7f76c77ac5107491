"""`ffnlab-train` end to end: complete records, clear errors, skip, resume, divergence, launchers, DDP."""

import json
import math
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir

from conftest import TINY, ffnlab_train, records
from ffnlab.ffn import VARIANTS, get_variant
from ffnlab.train import CONF_DIR

REQUIRED = ["status", "ffn", "seed", "gated", "d_model", "d_ff", "params", "flops_per_token", "steps", "tokens",
            "early", "final", "history", "tokens_per_s", "wall_s", "peak_rss_mb", "peak_gpu_mb", "data", "config",
            "config_hash", "git_sha", "versions", "error"]


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


def _files(folder: Path) -> dict[str, bytes]:
    """Every file of a run folder but the two an invocation always touches: outcome.json (what it did, for the
    tally) and Hydra's job log train.log (which gains the line that says so)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in ("outcome.json", "train.log")}


def test_changed_config_never_overwrites_a_finished_run(env, tmp_path):
    base = [*TINY, "trainer.max_steps=8", "sweep_name=c", "hydra.sweep.subdir=fixed"]
    ffnlab_train("-m", *base, env=env, cwd=tmp_path)
    folder = tmp_path / "multirun" / "c" / "fixed"
    rec, before = records(tmp_path / "multirun" / "c")["fixed"], _files(folder)
    assert ".hydra/config.yaml" in before
    out = ffnlab_train("-m", *base, "optim.lr=1e-3", env=env, cwd=tmp_path, check=False)
    assert out.returncode == 1  # a sweep that did not compute what it was asked to is not a success
    assert "1 refused" in out.stdout + out.stderr and "optim.lr: 0.002 → 0.001" in out.stdout + out.stderr
    assert _files(folder) == before  # the record, .hydra/ and the logs are untouched
    single = ffnlab_train(*base, "optim.lr=1e-3", f"hydra.run.dir={folder}", env=env, cwd=tmp_path, check=False)
    assert single.returncode == 2 and "ffnlab-train: error:" in single.stderr and _files(folder) == before
    # The same config from code that computes differently (an older results revision) is not "done" either.
    path = tmp_path / "multirun" / "c" / "fixed" / "metrics.json"
    path.write_text(json.dumps({**rec, "results_revision": rec["results_revision"] - 1}))
    out = ffnlab_train("-m", *base, env=env, cwd=tmp_path, check=False)
    assert out.returncode == 1 and "1 refused" in out.stdout + out.stderr
    assert "results revision" in out.stdout + out.stderr


def test_a_study_continued_with_another_launcher_or_thread_count_skips_every_finished_run(env, tmp_path,
                                                                                           small_sweep):
    """Threads, launchers and progress bars are how, not what (ffnlab.keys): continuing a study with them changed
    must skip every finished run, and a report over the study counts each seed once."""
    shutil.copytree(small_sweep, tmp_path / "multirun" / "small")  # 9 runs, made with trainer.threads=1
    before = records(tmp_path / "multirun" / "small")
    args = ["-m", "ffn=relu,gelu,swiglu", "seed=0,1,2", *TINY, "trainer.max_steps=16", "sweep_name=small"]
    for extra in (["launcher=joblib", "trainer.progress_bar=true"],  # another launcher, its own threads
                  ["trainer.threads=2", "data.eval_batch_size=7"]):  # another thread count, another eval batch
        out = ffnlab_train(*args, *extra, env=env, cwd=tmp_path)
        assert "0 ok, 0 failed, 0 diverged, 9 skipped, 0 reused, 0 refused" in out.stdout + out.stderr, extra
    assert records(tmp_path / "multirun" / "small") == before  # every record as it was, byte for byte
    assert all("seed=" in k and "ffn=" in k for k in before)
    from ffnlab.report.cli import main as report_main

    report_main([str(tmp_path / "multirun" / "small"), "--out", str(tmp_path / "report"), "--bootstrap", "20"])
    import pandas as pd

    assert pd.read_csv(tmp_path / "report" / "summary.csv")["n_seeds"].tolist() == [3, 3, 3]


def test_a_changed_corpus_file_is_a_new_experiment_never_a_reuse(env, tmp_path):
    from ffnlab.corpora import embedded_text

    text = tmp_path / "corpus.txt"
    text.write_text(embedded_text()[:300_000])
    args = ["-m", "data=text", f"data.path={text}", *TINY, "trainer.max_steps=8"]
    ffnlab_train(*args, "sweep_name=a", env=env, cwd=tmp_path)
    (before,) = records(tmp_path / "multirun" / "a").values()
    text.write_text(text.read_text() + "An edited line.\n")
    again = ffnlab_train(*args, "sweep_name=a", env=env, cwd=tmp_path, check=False)
    assert again.returncode == 1 and "1 refused" in again.stdout + again.stderr
    assert "other data" in again.stdout + again.stderr
    elsewhere = ffnlab_train(*args, "sweep_name=b", env=env, cwd=tmp_path)
    assert "1 ok, 0 failed, 0 diverged, 0 skipped, 0 reused" in elsewhere.stdout + elsewhere.stderr
    (after,) = records(tmp_path / "multirun" / "b").values()
    assert after["data"]["sha256"] != before["data"]["sha256"] and after["reused_from"] is None


def test_an_unknown_key_fails_in_one_line_before_any_run(env, tmp_path):
    proc = ffnlab_train("-m", "ffn=relu,gelu", "trainer.max_step=10", *TINY, env=env, cwd=tmp_path, check=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ffnlab-train: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Key 'max_step' not in 'TrainerSection'" in errors[0]
    assert "Traceback" not in proc.stderr and not (tmp_path / "multirun").exists()  # nothing ran


def test_a_run_finished_in_another_sweep_is_reused_not_retrained(env, tmp_path, small_sweep):
    shutil.copytree(small_sweep, tmp_path / "multirun" / "a")  # the donor study: relu, gelu, swiglu × 3 seeds
    donor_dir = next((tmp_path / "multirun" / "a").glob("*ffn=relu,*seed=0*"))
    donor = json.loads((donor_dir / "metrics.json").read_text())
    base = ["-m", *TINY, "trainer.max_steps=16"]
    out = ffnlab_train(*base, "ffn=relu,relu2", "sweep_name=b", "perf.ffn_impl=fused", env=env, cwd=tmp_path)
    assert "1 ok, 0 failed, 0 diverged, 0 skipped, 1 reused" in out.stdout + out.stderr
    recs = {r["ffn"]: r for r in records(tmp_path / "multirun" / "b").values()}
    relu, donors = recs["relu"], {"relu": donor}
    assert relu["reused_from"] == str(donor_dir) and recs["relu2"]["reused_from"] is None
    assert relu["final"] == donors["relu"]["final"] and relu["history"] == donors["relu"]["history"]
    assert relu["config"]["sweep_name"] == "b" and "/multirun/b/" in relu["run_dir"]
    assert not (Path(relu["run_dir"]) / "checkpoints").exists()  # nothing was trained
    # A different experiment (another learning rate) or reuse_runs=false trains afresh.
    base = ["-m", *TINY, "trainer.max_steps=8"]  # shorter: only whether they train matters here
    ffnlab_train(*base, "ffn=relu", "optim.lr=1e-3", "sweep_name=c", env=env, cwd=tmp_path)
    ffnlab_train(*base, "ffn=relu", "sweep_name=d", "reuse_runs=false", env=env, cwd=tmp_path)
    for name in ("c", "d"):
        (r,) = records(tmp_path / "multirun" / name).values()
        assert r["status"] == "ok" and r["reused_from"] is None


def test_killed_sweep_resumes_to_identical_results(env, tmp_path):
    args = ["-m", "ffn=gelu", *TINY, "trainer.max_steps=240", "data.batch_size=16", "reuse_runs=false"]
    ffnlab_train(*args, "sweep_name=full", env=env, cwd=tmp_path)
    cmd = [sys.executable, "-m", "ffnlab.train", *args, "sweep_name=killed"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "multirun" / "killed"
    deadline = time.time() + 120
    while not list(ckpt.rglob("last.ckpt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list(ckpt.rglob("metrics.json")), "run finished before it could be killed"
    proc = ffnlab_train(*args, "sweep_name=killed", env=env, cwd=tmp_path)
    assert "not resumable" not in proc.stderr  # the train loader tells Lightning it resumes (data.StepLoader)
    (full,) = records(tmp_path / "multirun" / "full").values()
    (resumed,) = records(tmp_path / "multirun" / "killed").values()
    assert resumed["resumed_from_step"] is not None
    assert resumed["final"] == full["final"]
    assert [r["val_loss"] for r in resumed["history"]] == [r["val_loss"] for r in full["history"]]
    assert [r["train_loss"] for r in resumed["history"]] == [r["train_loss"] for r in full["history"]]
    assert resumed["diagnostics"]["points"] == full["diagnostics"]["points"]  # those before the kill: from the ckpt


@pytest.mark.parametrize("launcher", ["basic", pytest.param("joblib", marks=pytest.mark.slow)])
def test_sigterm_stops_a_sweep_keeps_finished_runs_and_the_rerun_resumes(env, tmp_path, launcher):
    args = ["-m", "ffn=relu,gelu", *TINY, "trainer.max_steps=160", "sweep_name=t", f"launcher={launcher}"]
    cmd = [sys.executable, "-m", "ffnlab.train", *args]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sweep = tmp_path / "multirun" / "t"
    deadline = time.time() + 180
    while not list(sweep.glob("*gelu*/checkpoints/last.ckpt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out[-2000:]
    assert "interrupted" in out and "litlogger" not in out and "LeafSpec" not in out
    gelu = next(sweep.glob("*gelu*"))
    assert json.loads((gelu / "outcome.json").read_text())["outcome"] == "interrupted"
    assert not (gelu / "metrics.json").exists()
    finished = records(sweep)
    rerun = ffnlab_train(*args, env=env, cwd=tmp_path)
    assert "1 skipped" in rerun.stdout + rerun.stderr or not finished  # relu: finished before the signal
    after = records(sweep)
    assert all(after[k] == v for k, v in finished.items())  # finished records untouched
    assert after[gelu.name]["status"] == "ok" and after[gelu.name]["resumed_from_step"]


def test_diverging_run_is_recorded_and_the_sweep_goes_on(env, tmp_path):
    out = ffnlab_train("-m", "optim.lr=2e-3,1e30", *TINY, "trainer.max_steps=16", "sweep_name=d",
                       env=env, cwd=tmp_path)
    recs = {r["config"]["optim"]["lr"]: r for r in records(tmp_path / "multirun" / "d").values()}
    assert recs[1e30]["status"] == "diverged" and "non-finite" in recs[1e30]["error"]
    assert recs[2e-3]["status"] == "ok"
    assert "1 ok, 0 failed, 1 diverged" in out.stdout + out.stderr


@pytest.mark.parametrize("launcher", ["joblib", pytest.param("gpu_pack", marks=pytest.mark.slow),
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

    from ffnlab.build import validate_model
    from ffnlab.config import compose

    cfg = compose([f"experiment={name}"], hydra=True)
    assert cfg.sweep_name == name
    params = cfg.hydra.sweeper.params
    job = compose([f"experiment={name}"])
    from ffnlab.config import CONF_DIR

    for key, values in params.items():  # every value of every swept setting fits the typed config and can run
        for value in str(values).split(","):
            if (CONF_DIR / key).is_dir():  # a config group (family=gpt2): compose its choice
                one = compose([f"experiment={name}", f"{key}={value}"])
            else:
                one = job.copy()
                OmegaConf.update(one, key, yaml.safe_load(value))  # the schema checks the type on assignment
            get_variant(one.ffn)
            validate_model(one)



@pytest.mark.parametrize("name", [n for n in _experiments() if n != "shazeer_gpu"])
def test_every_cpu_study_runs_two_one_thread_runs_side_by_side(name):
    """The studies' default arrangement (#16, results/benchmarks/study_throughput.md): two concurrent runs, each
    with cores ÷ 2 threads (trainer.threads unset), never one 2-thread run that collapses beside a co-runner."""
    from ffnlab.config import compose

    cfg = compose([f"experiment={name}"], hydra=True)
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher") and cfg.hydra.launcher.n_jobs == 2
    assert cfg.trainer.threads is None

# Studies whose first job takes a code path of its own (Adafactor, compile settings); the other studies' jobs
# differ from shazeer's only in values, which the composition test above checks.
@pytest.mark.parametrize("name", ["shazeer", "shazeer_gpu"])
def test_a_job_of_each_distinct_study_runs(env, tmp_path, name):
    ffnlab_train(f"experiment={name}", "trainer=cpu", *TINY, "data=embedded", "data.vocab_size=384",
                 "trainer.max_steps=8", "perf.compile=false", env=env, cwd=tmp_path)
    (r,) = records(tmp_path / "runs").values()
    assert r["status"] == "ok", json.dumps(r)[:2000]


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


def test_bf16_mixed_precision_and_perf_options_run_on_cpu(env, tmp_path):
    """The speed options through the real CLI: bf16 autocast on the CPU, the recomputing FFN; the record keeps
    the precision (a setting) and the perf block (not part of the config hash)."""
    ffnlab_train("ffn=swiglu", *TINY, "trainer.max_steps=8", "trainer.precision=bf16-mixed",
                 "perf.ffn_impl=recompute", env=env, cwd=tmp_path)
    (r,) = records(tmp_path / "runs").values()
    assert r["status"] == "ok" and math.isfinite(r["final"]["val_loss"])
    assert r["config"]["trainer"]["precision"] == "bf16-mixed" and r["config"]["perf"]["ffn_impl"] == "recompute"
