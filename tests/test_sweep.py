"""The end of a sweep: its tally, and the report it writes and prints when two or more variants finished."""

from __future__ import annotations

from conftest import TINY, ffnlab_train


def test_a_sweep_ends_with_its_report_printed_and_a_rerun_skips_every_run(env, tmp_path):
    args = ["-m", "ffn=relu,swiglu", "seed=0,1", *TINY, "report_at_end=true", "trainer.max_steps=16", "sweep_name=r"]
    first = ffnlab_train(*args, env=env, cwd=tmp_path)
    report = tmp_path / "multirun" / "r" / "report"
    headline = (report / "headline.md").read_text()
    row = next(line for line in headline.splitlines() if line.startswith("| swiglu |"))
    assert row in first.stdout and "**Verdict.**" in first.stdout  # the table and the verdict, printed
    assert (report / "figures" / "final_loss.png").is_file() and not (report / "records").exists()
    again = ffnlab_train(*args, env=env, cwd=tmp_path)
    assert "4 skipped" in again.stdout + again.stderr  # the report folder is not taken for runs
    assert (report / "headline.md").read_text() == headline


def test_a_sweep_with_one_finished_variant_writes_no_report(env, tmp_path):
    ffnlab_train("-m", "ffn=relu", "seed=0,1", *TINY, "report_at_end=true", "trainer.max_steps=8", "sweep_name=one",
                 env=env, cwd=tmp_path)
    assert not (tmp_path / "multirun" / "one" / "report").exists()
