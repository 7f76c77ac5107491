"""The life of a sweep through `ffnlab-train -m`: its plan at the start, its progress after each run, its tally and
the report it writes and prints when two or more variants finished; and what it does with the runs a folder
already holds — skip, resume, reuse, refuse — end to end (the decision itself: tests/test_plan.py)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY, ffnlab_train, records


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_a_sweep_plans_reports_progress_and_ends_with_its_report(env, tmp_path):
    base = [*TINY, "trainer.max_steps=8"]
    ffnlab_train("-m", "ffn=relu", "seed=0,1", *base, "report_at_end=true", "sweep_name=a", env=env, cwd=tmp_path)
    assert not (tmp_path / "multirun" / "a" / "report").exists()  # one finished variant: nothing to compare
    ffnlab_train("-m", "ffn=gelu", "seed=0", *base, "sweep_name=b", env=env, cwd=tmp_path)
    args = ["-m", "ffn=relu,gelu", "seed=0,1", *base, "report_at_end=true", "sweep_name=b"]
    out = ffnlab_train(*args, env=env, cwd=tmp_path)
    log = out.stdout + out.stderr
    assert "4 runs planned: 1 finished here already (skipped), 2 reusable from other sweeps, 1 to train" in log
    assert "4/4 runs done (1 ok, 2 reused, 1 skipped)" in log
    report = tmp_path / "multirun" / "b" / "report"
    headline = (report / "headline.md").read_text()
    row = next(line for line in headline.splitlines() if line.startswith("| gelu |"))
    assert row in out.stdout and "**Verdict.**" in out.stdout  # the table and the verdict, printed
    assert (report / "figures" / "final_loss.png").is_file() and not (report / "records").exists()
    written = (report / "figures" / "final_loss.png").stat().st_mtime_ns
    again = ffnlab_train(*args, env=env, cwd=tmp_path)
    assert "4 skipped" in again.stdout + again.stderr  # the report folder is never taken for runs
    assert (report / "headline.md").read_text() == headline and row in again.stdout
    assert "is up to date" in again.stdout + again.stderr  # the same records: the report is not rewritten
    assert (report / "figures" / "final_loss.png").stat().st_mtime_ns == written


def test_the_eta_is_the_rate_of_the_runs_trained_so_far(tmp_path):
    from ffnlab.runs import progress
    from ffnlab.runs.record import write_outcome

    (tmp_path / progress.PLAN_NAME).write_text(json.dumps({"total": 10, "finished": 2, "reusable": 0,
                                                           "to_train": 8, "since": 0.0, "parallel": 2}))
    for i, outcome in enumerate(["skipped", "skipped", "ok", "ok"]):
        write_outcome(tmp_path / f"run{i}", outcome)
    now = json.loads((tmp_path / "run3" / "outcome.json").read_text())["at"]
    assert progress.line(tmp_path, now=now).endswith(f"ETA {progress._duration(now / 2 * 6)} for 6 still to train")
    assert progress.line(tmp_path, now=now).startswith("4/10 runs done (2 ok, 2 skipped)")
    for i in range(4, 10):  # every planned run done: the line says so, with no ETA
        write_outcome(tmp_path / f"run{i}", "ok")
    assert progress.line(tmp_path, now=now) == "10/10 runs done (8 ok, 2 skipped)"


def test_a_run_resumed_part_way_counts_for_the_share_of_it_trained_in_the_eta(tmp_path):
    from ffnlab.runs import progress
    from ffnlab.runs.keys import identity_hash
    from ffnlab.runs.record import Final, RunRecord, write_outcome, write_record

    (tmp_path / progress.PLAN_NAME).write_text(json.dumps({"total": 4, "finished": 0, "reusable": 0,
                                                           "to_train": 4, "since": 0.0, "parallel": 1}))
    for name, resumed in (("whole", None), ("resumed", 600)):
        write_record(tmp_path / name, RunRecord(status="ok", ffn="relu", seed=0, config={"ffn": "relu"},
                                                config_hash=identity_hash({"ffn": "relu"}, None), results_revision=2,
                                                run_dir=str(tmp_path / name),
                                                steps=800, resumed_from_step=resumed,
                                                final=Final(800, 4.0, 54.6, None, None, None)))
        write_outcome(tmp_path / name, "ok")
    now = json.loads((tmp_path / "resumed" / "outcome.json").read_text())["at"]
    # 1 + 1/4 runs' worth of training in `now` seconds, 2 runs to go: now / 1.25 * 2, not now / 2 * 2
    assert progress.line(tmp_path, now=now).endswith(f"ETA {progress._duration(now / 1.25 * 2)} for 2 still to train")


def _files(folder: Path) -> dict[str, bytes]:
    """Every file of a run folder but the two an invocation always touches: outcome.json (what it did, for the
    tally) and Hydra's job log train.log (which gains the line that says so)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in ("outcome.json", "train.log")}


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
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


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_a_study_continued_with_another_launcher_or_thread_count_skips_every_finished_run(env, tmp_path,
                                                                                           small_sweep):
    """Threads, launchers and progress bars are how, not what (ffnlab.runs.keys): continuing a study with them changed
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
    from ffnlab.cli.report import main as report_main

    report_main([str(tmp_path / "multirun" / "small"), "--out", str(tmp_path / "report"), "--bootstrap", "20"])
    import pandas as pd

    assert pd.read_csv(tmp_path / "report" / "summary.csv")["n_seeds"].tolist() == [3, 3, 3]


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_a_changed_corpus_file_is_a_new_experiment_never_a_reuse(env, tmp_path):
    from ffnlab.data.corpora import embedded_text

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


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
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


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_the_plan_counts_a_record_from_before_a_key_existed_as_reusable_as_the_sweep_then_does(env, tmp_path):
    base = [*TINY, "trainer.max_steps=4", "seed=0"]
    ffnlab_train("-m", "ffn=relu", *base, "sweep_name=a", env=env, cwd=tmp_path)
    (path,) = (tmp_path / "multirun" / "a").rglob("metrics.json")
    old = json.loads(path.read_text())
    del old["config"]["model"]["norm_eps"]  # as written before model.norm_eps existed (the run used its default)
    old["schema"] = 5  # by an ffnlab of that time, whose hashes followed older rules
    path.write_text(json.dumps(old))
    out = ffnlab_train("-m", "ffn=relu", *base, "sweep_name=b", env=env, cwd=tmp_path)
    log = out.stdout + out.stderr
    assert "1 runs planned: 0 finished here already (skipped), 1 reusable from other sweeps, 0 to train" in log
    assert "0 ok, 0 failed, 0 diverged, 0 skipped, 1 reused" in log


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_a_study_continues_on_another_machine_from_its_published_records(env, tmp_path, small_sweep):
    """A report's records/ (what git keeps: metrics.json only, no checkpoints, no .hydra/) copied into a fresh
    output root's multirun/ is a finished study there: the same sweep skips every run and trains nothing."""
    from ffnlab.cli.report import report

    report([str(small_sweep)], tmp_path / "published", n_boot=10, figures=False)
    published = tmp_path / "published" / "records"
    assert {p.name for p in published.rglob("*") if p.is_file()} == {"metrics.json"}
    shutil.copytree(published, tmp_path / "fresh" / "multirun")
    out = ffnlab_train("-m", "ffn=relu,gelu,swiglu", "seed=0,1,2", *TINY, "trainer.max_steps=16", "sweep_name=small",
                       env={**env, "FFNLAB_OUTPUT": str(tmp_path / "fresh")}, cwd=tmp_path / "fresh")
    assert "0 ok, 0 failed, 0 diverged, 9 skipped, 0 reused, 0 refused" in out.stdout + out.stderr
    assert not list((tmp_path / "fresh").rglob("*.ckpt"))


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_killed_sweep_resumes_to_identical_results(env, tmp_path):
    args = ["-m", "ffn=gelu", *TINY, "trainer.max_steps=240", "data.batch_size=16", "reuse_runs=false"]
    ffnlab_train(*args, "sweep_name=full", env=env, cwd=tmp_path)
    cmd = [sys.executable, "-m", "ffnlab.cli.train", *args, "sweep_name=killed"]
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


@pytest.mark.parametrize("launcher", [pytest.param("basic", marks=pytest.mark.slow),
                                      pytest.param("joblib", marks=pytest.mark.slow)])
def test_sigterm_stops_a_sweep_keeps_finished_runs_and_the_rerun_resumes(env, tmp_path, launcher):
    args = ["-m", "ffn=relu,gelu", *TINY, "trainer.max_steps=160", "sweep_name=t", f"launcher={launcher}"]
    cmd = [sys.executable, "-m", "ffnlab.cli.train", *args]
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


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_llamas_ffn_is_never_reused_from_a_swiglu_run_that_differs_only_by_its_rounding(env, tmp_path):
    base = [*TINY, "model.d_model=40", "trainer.max_steps=4", "seed=0"]
    ffnlab_train("-m", "ffn=swiglu", *base, "sweep_name=a", env=env, cwd=tmp_path)
    out = ffnlab_train("-m", "family=llama", *base, "sweep_name=b", env=env, cwd=tmp_path)
    assert "1 ok, 0 failed, 0 diverged, 0 skipped, 0 reused" in out.stdout + out.stderr
    (swiglu,) = records(tmp_path / "multirun" / "a").values()
    (llama,) = records(tmp_path / "multirun" / "b").values()
    assert (swiglu["d_ff"], llama["d_ff"]) == (107, 128) and llama["reused_from"] is None


def test_a_worker_processes_interrupted_tally_counts_only_what_this_sweep_did(tmp_path, monkeypatch):
    """A launcher's worker never saw the sweep start: its tally reads the start from the sweep's plan, so the
    outcomes an earlier invocation left in the folder (here 'ok' from yesterday) are not counted as this one's."""
    from ffnlab.runs import sweep
    from ffnlab.runs.progress import PLAN_NAME

    monkeypatch.setattr(sweep.SweepSummary, "running", None)  # a worker process: no sweep started here
    old, now = time.time() - 86400, time.time()
    for name, outcome, at in [("a", "ok", old), ("b", "ok", old), ("c", "skipped", now), ("d", "interrupted", now)]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "outcome.json").write_text(json.dumps({"outcome": outcome, "at": at, "detail": ""}))
    assert "2 ok" in sweep.interrupted_tally(tmp_path)  # no plan, no multirun.yaml: everything ever written
    (tmp_path / PLAN_NAME).write_text(json.dumps({"since": now - 60}))
    line = sweep.interrupted_tally(tmp_path)
    assert "0 ok" in line and "1 skipped" in line and "1 interrupted" in line
    (tmp_path / PLAN_NAME).unlink()
    (tmp_path / "multirun.yaml").write_text("hydra: {}\n")  # Hydra writes it as the sweep starts
    assert "0 ok" in sweep.interrupted_tally(tmp_path)


def test_a_sweep_without_a_plan_leaves_no_earlier_plan_behind(tmp_path):
    """A plan is a courtesy (other sweepers get none); an earlier invocation's would give the workers its start
    time and counts, so a sweep that makes none removes it."""
    from omegaconf import OmegaConf

    from ffnlab.runs import progress

    (tmp_path / progress.PLAN_NAME).write_text(json.dumps({"since": 0.0, "total": 9}))
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}, "sweeper": {"_target_": "optuna"}}})
    progress.start(config, time.time())
    assert not (tmp_path / progress.PLAN_NAME).exists() and progress.line(tmp_path) is None


def test_the_eta_of_a_ladder_counts_a_cool_down_branch_as_the_steps_it_trains():
    """A warmup-stable-decay sweep whose shorter budgets branch from its longer runs' stable checkpoints plans
    only their cool-downs, and its ETA goes by steps: a branch is a fifth of a run, not a whole one."""
    from ffnlab.runs import progress

    def cfg(steps: int, seed: int = 0, reuse: bool = True) -> dict:
        return {"ffn": "relu", "seed": seed, "reuse_runs": reuse,
                "trainer": {"max_steps": steps, "branch_budgets": [400, 800]},
                "optim": {"name": "adamw", "schedule": "wsd", "warmup_steps": 10, "cooldown_frac": 0.2}}

    kept = progress._kept_points([(cfg(800), "sha"), (cfg(400), "sha"), (cfg(400, seed=1), "sha")])
    assert progress._steps_to_train(cfg(800), "sha", kept) == 800
    assert progress._steps_to_train(cfg(400), "sha", kept) == 80  # branches at 320 from the 800-step run
    assert progress._steps_to_train(cfg(400, seed=1), "sha", kept) == 400  # another seed: no longer sibling
    no_reuse = progress._kept_points([(cfg(800, reuse=False), "sha")])
    assert progress._steps_to_train(cfg(400, reuse=False), "sha", no_reuse) == 400
    assert progress._steps_to_train(cfg(400), "other data", kept) == 400


def test_the_eta_goes_by_steps_when_the_plan_has_them(tmp_path):
    from ffnlab.runs import progress
    from ffnlab.runs.keys import identity_hash
    from ffnlab.runs.record import Final, RunRecord, write_outcome, write_record

    (tmp_path / progress.PLAN_NAME).write_text(json.dumps({"total": 4, "finished": 0, "reusable": 0, "to_train": 4,
                                                           "to_train_steps": 1760, "since": 0.0, "parallel": 1}))
    for name, steps, start in (("trunk", 800, None), ("branch", 400, 320)):
        write_record(tmp_path / name, RunRecord(status="ok", ffn="relu", seed=0, config={"ffn": "relu"},
                                                config_hash=identity_hash({"ffn": "relu"}, None), results_revision=2,
                                                run_dir=str(tmp_path / name),
                                                steps=steps, resumed_from_step=start,
                                                final=Final(steps, 4.0, 54.6, None, None, None)))
        write_outcome(tmp_path / name, "ok")
    now = json.loads((tmp_path / "branch" / "outcome.json").read_text())["at"]
    # 880 steps trained in `now` seconds, 880 to go: now, where counting runs (1.2 of 4) would say now / 1.2 * 2
    assert progress.line(tmp_path, now=now).endswith(f"ETA {progress._duration(now)} for 2 still to train")
