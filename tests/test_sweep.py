"""The life of a sweep: its plan at the start, its progress after each run, its tally, and the report it writes
and prints when two or more variants finished."""

from __future__ import annotations

import json

from conftest import TINY, ffnlab_train


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
    again = ffnlab_train(*args, env=env, cwd=tmp_path)
    assert "4 skipped" in again.stdout + again.stderr  # the report folder is never taken for runs
    assert (report / "headline.md").read_text() == headline


def test_the_eta_is_the_rate_of_the_runs_trained_so_far(tmp_path):
    from ffnlab import progress
    from ffnlab.record import write_outcome

    (tmp_path / progress.PLAN_NAME).write_text(json.dumps({"total": 10, "finished": 2, "reusable": 0,
                                                           "to_train": 8, "since": 0.0, "parallel": 2}))
    for i, outcome in enumerate(["skipped", "skipped", "ok", "ok"]):
        write_outcome(tmp_path / f"run{i}", outcome)
    now = json.loads((tmp_path / "run3" / "outcome.json").read_text())["at"]
    assert progress.line(tmp_path, now=now).endswith(f"ETA {progress._duration(now / 2 * 6)} for 6 still to train")
    assert progress.line(tmp_path, now=now).startswith("4/10 runs done (2 ok, 2 skipped)")
