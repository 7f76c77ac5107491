"""WSD branches: a run to a shorter budget that starts from a longer run's stable-phase checkpoint gives the
numbers a run trained from scratch to that budget gives."""

from __future__ import annotations

import pytest

from conftest import TINY, ffnlab_train, records
from ffnlab.runs import branch
from ffnlab.runs.schedules import cooldown_start, wsd

WSD = ["optim=wsd", "optim.warmup_steps=2", "optim.cooldown_frac=0.25", "trainer.eval_every=2"]


def test_the_wsd_schedule_before_a_cool_down_does_not_depend_on_the_budget():
    short, long = [wsd(s, 10, 100, 0.2) for s in range(100)], [wsd(s, 10, 400, 0.2) for s in range(100)]
    assert cooldown_start(100, 0.2) == 80
    assert short[:80] == long[:80] and short[80:] != long[80:]
    assert short[0] == 0.1 and short[9] == 1.0 and short[79] == 1.0 and short[99] == 1 / 20
    assert all(a > b for a, b in zip(short[80:], short[81:], strict=False))  # the cool-down only decreases


def test_only_the_shorter_budgets_after_warmup_are_kept():
    cfg = {"optim": {"schedule": "wsd", "warmup_steps": 100, "cooldown_frac": 0.2},
           "trainer": {"max_steps": 1000, "branch_budgets": [100, 250, 500, 1000, 2000]}}
    assert branch.points_to_keep(cfg) == {200, 400}  # 100 → 80: still warming up; 1000 and 2000: not shorter
    assert branch.points_to_keep({**cfg, "optim": {"schedule": None}}) == set()


@pytest.mark.slow  # test_scaling's ladder (slow too) checks a branch between evaluations
def test_a_branch_equals_the_run_trained_from_scratch(env, tmp_path):
    """Budget 20 branches at step 15 (between evaluations), budget 16 at step 12 (right after one)."""
    ffnlab_train("-m", "trainer.max_steps=32,20,16", "ffn=swiglu", "seed=0", *TINY, *WSD,
                 "trainer.branch_budgets=[16,20,32]", "sweep_name=ladder", env=env, cwd=tmp_path)
    ladder = {r["steps"]: r for r in records(tmp_path / "multirun").values()}
    kept = {int(p.name.split("-")[1]): p for p in (tmp_path / "multirun").glob("ladder/*/checkpoints/stable-*.ckpt")}
    assert sorted(kept) == [12, 15] and ladder[32]["branched_from"] is None
    assert all(ladder[b]["branched_from"] == str(kept[s]) and ladder[b]["resumed_from_step"] == s
               for b, s in [(20, 15), (16, 12)])

    scratch_env = dict(env, FFNLAB_OUTPUT=str(tmp_path / "scratch"))
    ffnlab_train("-m", "trainer.max_steps=20,16", "ffn=swiglu", "seed=0", *TINY, *WSD, "sweep_name=scratch",
                 env=scratch_env, cwd=tmp_path)
    timeless = lambda rows, s: [{k: v for k, v in r.items() if k != "train_s"} for r in rows if r["step"] >= s]
    for scratch in records(tmp_path / "scratch").values():
        budget, at = scratch["steps"], {20: 15, 16: 12}[scratch["steps"]]
        assert scratch["branched_from"] is None and scratch["config_hash"] == ladder[budget]["config_hash"]
        assert ladder[budget]["final"]["val_loss"] == scratch["final"]["val_loss"]  # bitwise: the same experiment
        assert timeless(ladder[budget]["history"], at) == timeless(scratch["history"], at)
    assert ladder[32]["final"]["val_loss"] != ladder[16]["final"]["val_loss"]


def test_the_scaling_study_trains_each_variants_longest_runs_just_before_their_branches_and_sizes_smallest_first():
    """Branches only save compute if their 16M-token run has kept its checkpoints before they start, and the
    checkpoints (never committed) live only on the machine that trained it: so each variant's two 16M runs come
    first and side by side, its branches right after them (a study continued elsewhere loses at most one variant);
    and a size is reportable when it is complete, so a study stopped part-way publishes whole sizes."""
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    import ffnlab.cli.train  # noqa: F401  (registers the config's resolvers)
    from ffnlab.runs.progress import planned_jobs

    conf = Path(__file__).resolve().parents[1] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        jobs = [dict(o.split("=", 1) for o in job)
                for job in planned_jobs(compose("train", overrides=["experiment=scaling"], return_hydra_config=True))]
    assert len(jobs) == 3 * 4 * 2 * 7
    sizes = [j["scale"] for j in jobs]
    assert sizes == sorted(sizes, key=["xs", "s", "m"].index)
    for i in range(0, len(jobs), 8):  # blocks of 8 jobs: one size and variant, 2 seeds x 4 budgets
        block = jobs[i:i + 8]
        assert len({(j["scale"], j["ffn"]) for j in block}) == 1
        steps = [int(j["trainer.max_steps"]) for j in block]
        assert steps == [8000, 8000, 4000, 4000, 2000, 2000, 1000, 1000]  # two workers: both 16M runs at once
        assert [j["seed"] for j in block] == ["0", "1"] * 4


def test_each_ladder_size_trains_at_the_learning_rate_its_committed_sweep_found_best():
    """conf/scale/*.yaml must say what results/scaling/lr/lr.csv (generated from the committed records) chose:
    a re-run sweep with another optimum, or a hand edit of a size's rate, fails here."""
    from pathlib import Path

    import pandas as pd
    from hydra import compose, initialize_config_dir

    import ffnlab.cli.train  # noqa: F401  (registers the config's resolvers)

    root = Path(__file__).resolve().parents[1]
    lr = pd.read_csv(root / "results/scaling/lr/lr.csv")
    best = lr[lr["best"]].set_index("d_model")["lr"]
    assert not lr[lr["best"]]["edge"].any()  # every chosen rate has a worse one on both sides
    with initialize_config_dir(config_dir=str(root / "conf"), version_base="1.3"):
        for size in ("xs", "s", "m"):
            cfg = compose("train", overrides=["experiment=scaling", f"scale={size}"])
            assert cfg.optim.lr == pytest.approx(best[cfg.model.d_model]), size


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_a_truncated_parent_checkpoint_is_set_aside_and_the_branch_trains_from_scratch(env, tmp_path):
    ffnlab_train("-m", "trainer.max_steps=32", "ffn=relu", "seed=0", *TINY, *WSD, "trainer.branch_budgets=[16,32]",
                 "sweep_name=ladder", env=env, cwd=tmp_path)
    (kept,) = (tmp_path / "multirun").glob("ladder/*/checkpoints/stable-12-*.ckpt")
    kept.write_bytes(kept.read_bytes()[:1000])  # a parent cut off mid-write
    proc = ffnlab_train("-m", "trainer.max_steps=16", "ffn=relu", "seed=0", *TINY, *WSD,
                        "trainer.branch_budgets=[16,32]", "sweep_name=ladder", env=env, cwd=tmp_path)
    short = next(r for r in records(tmp_path / "multirun").values() if r["steps"] == 16)
    assert short["status"] == "ok" and short["branched_from"] is None and short["resumed_from_step"] is None
    assert kept.with_suffix(".ckpt.unreadable").is_file() and "unreadable; set aside" in proc.stderr + proc.stdout
