"""ffnlab-bench: peers are built at ffnlab's dimensions, and the quick run writes every promised file."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from ffnlab.bench.models import PEERS, SIZES, build_ffnlab, peer_available


@pytest.mark.parametrize("peer", sorted(PEERS))
@pytest.mark.parametrize("ffn", ["relu", "gelu", "swiglu", "bilinear"])
def test_peers_have_ffnlabs_parameter_count(peer, ffn):
    why = peer_available(peer)
    if why:
        pytest.skip(why)
    size = SIZES["small"]
    ours = build_ffnlab(size, ffn)
    theirs = PEERS[peer](size, ffn)
    if theirs is None:
        assert peer == "hf-llama" and ffn in ("relu", "gelu")  # Llama's MLP is always gated
        return
    total = lambda b: sum(p.numel() for p in b.module.parameters())
    bias = 2 * ours.module.cfg.d_ff * size.n_layers if peer == "x-transformers" and ours.module.cfg.gated else 0
    assert total(theirs) == total(ours) + bias
    assert theirs.ffn_params == ours.ffn_params + bias


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_quick_bench_writes_the_results_folder(tmp_path):
    out = tmp_path / "bench"
    cmd = [sys.executable, "-m", "ffnlab.bench.cli", "--quick", "--variants", "relu,swiglu", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("README.md", "summary.csv", "steps.csv", "memory.csv", "gemm.csv", "overhead.csv",
                 "bf16_curves.csv", "machine.json", "COMMAND.txt", "throughput.png"):
        assert (out / name).is_file(), name
    summary = pd.read_csv(out / "summary.csv")
    ours = summary[summary["impl"] == "ffnlab-naive"]
    assert set(ours["ffn"]) == {"relu", "swiglu"} and (ours["tokens_per_s"] > 0).all()
    fp32 = ours[ours["precision"] == "fp32"]
    assert fp32["mfu"].notna().all() and (fp32["mfu"] > 0).all() and (fp32["mfu"] < 1.5).all()
    native = json.loads((out / "machine.json").read_text())["native_bf16"]
    bf16 = ours[ours["precision"] == "bf16"]["mfu"]
    assert ((bf16 > 0) & (bf16 < 1.5)).all() if native else bf16.isna().all()  # no bf16 MFU against an emulation
    readme = (out / "README.md").read_text()
    assert "Lightning overhead" in readme and "MFU" in readme and "bf16" in readme
    for peer in PEERS:
        assert (peer in set(summary["impl"])) == (peer_available(peer) is None)
    overhead = pd.read_csv(out / "overhead.csv")
    assert set(overhead["loop"]) == {"lightning", "bare"}


@pytest.mark.slow  # the quick bench above covers the same path with peers
def test_bench_without_peers_says_they_were_skipped(tmp_path):
    out = tmp_path / "bench"
    cmd = [sys.executable, "-m", "ffnlab.bench.cli", "--quick", "--variants", "relu", "--no-peers", "--no-compile",
           "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["impl"]) <= {"ffnlab-naive", "ffnlab-fused", "ffnlab-recompute"}
    assert summary["best_peer_tokens_per_s"].isna().all()
    readme = (out / "README.md").read_text()
    assert "Peers not run: " + ", ".join(f"{p} (--no-peers)" for p in PEERS) + "." in readme


def test_summary_keeps_sizes_in_the_order_they_were_measured():
    from ffnlab.bench.tables import summarize

    rows = [{"size": size, "ffn": ffn, "impl": impl, "precision": "fp32", "round": r, "s_per_step": 0.1 + r / 100}
            for size in ("small", "medium") for ffn in ("swiglu", "relu") for impl in ("ffnlab-naive", "hf-llama")
            for r in range(3)]
    steps = pd.DataFrame(rows)
    flops = steps[["size", "ffn"]].drop_duplicates().assign(flops_per_token=1e6)
    memory = steps[["size", "ffn", "impl", "precision"]].drop_duplicates().assign(activation_mb=1.0)
    out = summarize(steps, SIZES, flops, {"fp32": 1e3}, memory)
    assert list(dict.fromkeys(out["size"])) == ["small", "medium"]  # not groupby's alphabetical order
    assert len(out) == 8 and out["vs_hf-llama"].notna().all()


def test_fair_share_is_the_runs_kept_beside_a_corunner_over_the_threads_share():
    from ffnlab.bench.study import derive

    df = derive(pd.DataFrame({"arrangement": ["1x2", "1x2", "2x1", "2x1"], "concurrent_runs": [1, 1, 2, 2],
                              "threads_per_run": [2, 2, 1, 1], "load": ["alone", "corunner"] * 2,
                              "runs_per_hour": [10.0, 4.0, 17.0, 12.0]}))
    assert list(df["vs_1x2_alone"]) == [1.0, 0.4, 1.7, 1.2]
    assert df.loc[1, "fair_share_kept"] == pytest.approx(0.4 / (2 / 3), abs=1e-3)
    assert df.loc[3, "fair_share_kept"] == pytest.approx(12 / 17 / (2 / 3), abs=1e-3)
    assert pd.isna(df.loc[0, "fair_share_kept"])


def test_each_sweep_is_extrapolated_to_the_shazeer_study_with_its_training_time_scaled_to_the_study_budget():
    from ffnlab.bench.study import SHAZEER_RUNS, SHAZEER_STEPS, derive
    from ffnlab.runs.config import compose

    cfg = compose(["experiment=shazeer"], hydra=True)  # the plan the extrapolation is for
    params = cfg.hydra.sweeper.params
    assert SHAZEER_RUNS == len(str(params.ffn).split(",")) * len(str(params.seed).split(","))
    assert SHAZEER_STEPS == cfg.trainer.max_steps
    df = derive(pd.DataFrame({"arrangement": ["2x1"], "concurrent_runs": [2], "threads_per_run": [1],
                              "load": ["alone"], "runs": [4], "sweep_wall_s": [220.0], "runs_per_hour": [65.5],
                              "median_run_wall_s": [100.0], "median_train_s": [40.0]}), steps_per_run=200)
    # per run 220/4 = 55 s of sweep wall for 100 s of run wall; at 800 steps a run takes 100 + 40·3 = 220 s
    assert df.loc[0, "steps_per_run"] == 200
    assert df.loc[0, "shazeer_h"] == round(55 * SHAZEER_RUNS * 220 / 100 / 3600, 2)


def test_study_rerender_adds_derived_columns_to_a_measured_table_and_keeps_its_command(tmp_path):
    from ffnlab.bench.cli import main

    pd.DataFrame({"arrangement": ["1x2"], "concurrent_runs": [1], "threads_per_run": [2], "load": ["alone"],
                  "runs": [4], "sweep_wall_s": [400.0], "runs_per_hour": [36.0], "median_run_wall_s": [100.0],
                  "median_train_s": [40.0]}).to_csv(tmp_path / "study_throughput.csv", index=False)
    (tmp_path / "study_throughput.md").write_text("# t\n\nCommand: `ffnlab-bench --mode study --out x`\n")
    main(["--mode", "study", "--rerender", "--study-steps", "200", "--out", str(tmp_path)])
    df = pd.read_csv(tmp_path / "study_throughput.csv")
    assert df.loc[0, "shazeer_h"] == round(100 * 45 * 220 / 100 / 3600, 2) and df.loc[0, "steps_per_run"] == 200
    md = (tmp_path / "study_throughput.md").read_text()
    assert "Command: `ffnlab-bench --mode study --out x`; table rendered by `ffnlab-bench --mode study --rerender" in md


def test_study_table_says_the_gpu_figure_is_not_measured_only_where_there_is_no_gpu():
    from ffnlab.bench.study import derive, markdown

    df = derive(pd.DataFrame({"arrangement": ["2x1"], "concurrent_runs": [2], "threads_per_run": [1],
                              "load": ["alone"], "runs_per_hour": [17.0]}))
    assert "gpu_pack`) against one at a time is not measured yet" in markdown(df, "cmd", {"gpu": None})
    on_gpu = markdown(df, "cmd", {"gpu": "NVIDIA H100"})
    assert "not measured" not in on_gpu and "GPU: NVIDIA H100" in on_gpu


@pytest.mark.slow  # two real sweeps with a co-runner (about a minute); the arithmetic is tested above
def test_study_mode_times_whole_sweeps_per_arrangement_alone_and_beside_a_corunner(tmp_path):
    from ffnlab.bench.cli import main

    main(["--mode", "study", "--quick", "--arrangements", "2x1", "--loads", "alone,corunner", "--out", str(tmp_path)])
    df = pd.read_csv(tmp_path / "study_throughput.csv")
    assert list(df["load"]) == ["alone", "corunner"] and (df["runs"] == 2).all()
    assert list(df["runs_per_hour"]) == pytest.approx(list(3600 * df["runs"] / df["sweep_wall_s"]), rel=5e-3)
    kept = df.loc[1, "runs_per_hour"] / df.loc[0, "runs_per_hour"] / (2 / 3)
    assert df.loc[1, "fair_share_kept"] == pytest.approx(kept, abs=2e-3) and pd.isna(df.loc[0, "fair_share_kept"])
    assert "--mode study" in (tmp_path / "study_throughput.md").read_text()
    assert (df["median_eval_s"] > 0).all() and (df["median_setup_s"] > 0).all()  # the cost around the step


def test_projection_extrapolates_a_study_from_its_measured_runs():
    from ffnlab.bench.study import projection

    recs = [{"status": "ok", "ffn": f, "seed": s, "threads": 1, "wall_s": w, "train_s": 0.8 * w, "eval_s": 0.1 * w,
             "setup_s": 0.05 * w} for f, s, w in [("relu", 0, 100.0), ("swiglu", 0, 300.0), ("glu", 1, 200.0)]]
    recs.append({"status": "failed", "ffn": "gelu", "seed": 0, "wall_s": 5000.0})  # a failed run does not count
    pr = projection(recs, planned=45, concurrency=2)
    assert pr["measured_runs"] == 3 and pr["variants"] == 3 and pr["seeds"] == 2
    assert pr["mean_run_wall_s"] == 200.0
    assert pr["projected_study_wall_h"] == round(45 * 200 / 2 / 3600, 2)
    assert pr["share_train"] == 0.8 and pr["mean_run_wall_for_target_s"] == 160.0


def test_project_mode_without_records_says_what_to_pass(tmp_path, capsys):
    from ffnlab.bench.cli import main

    with pytest.raises(SystemExit) as e:
        main(["--mode", "project", "--project-from", str(tmp_path), "--out", str(tmp_path / "o")])
    assert e.value.code == 2 and "--project-from" in capsys.readouterr().err


@pytest.mark.slow
def test_study_mode_times_a_compiled_sweep_cold_then_warm(tmp_path):
    from ffnlab.bench.cli import main

    main(["--mode", "study", "--quick", "--arrangements", "2x1c", "--out", str(tmp_path)])
    df = pd.read_csv(tmp_path / "study_throughput.csv").set_index("load")
    assert list(df.index) == ["cold cache", "warm cache"] and (df["runs"] == 2).all()
    # the warm sweep loads the kernels the cold one compiled, so its runs' training (which holds the compile) is shorter
    assert df.loc["warm cache", "median_train_s"] < df.loc["cold cache", "median_train_s"]


def test_the_moe_benchmark_times_each_preset_beside_its_dense_model():
    from ffnlab.bench import moe
    from ffnlab.bench.models import Size

    t = moe.run(Size("t", 32, 1, 2, 16, 2, vocab_size=64), ["swiglu", "relu2"], rounds=1, steps=1, warmup=0,
                log=lambda _: None)
    assert set(t["arm"]) == {"dense", *moe.PRESETS} and len(t) == 2 * (1 + len(moe.PRESETS))
    dense, routed = t[t["arm"] == "dense"], t[t["arm"] != "dense"]
    assert (dense["speed_vs_dense"] == 1).all() and (dense["experts"] == 0).all()
    assert (routed["experts"] == routed["arm"].map(lambda a: moe.preset(a)["moe_experts"])).all()  # the presets' own
    active = routed[routed["match"] == "active"]
    assert ((active["flops_vs_dense"] - 1).abs() < 0.1).all()  # matched active: the dense FFN's FLOPs, plus a router
    total = routed[routed["arm"] == "top2_total"]
    assert ((total["params_ffn"] / total["ffn"].map(dense.set_index("ffn")["params_ffn"]) - 1).abs() < 0.1).all()
    assert (t["activation_mb"] > 0).all() and (t["tokens_per_s"] > 0).all()


def test_the_head_benchmark_times_both_heads_in_the_model_and_alone_with_ratios_to_the_full_head():
    from ffnlab.bench import head
    from ffnlab.bench.models import Size

    size = Size("t", 32, 1, 2, 16, 2, vocab_size=head.WORDS)
    t, source = head.run(size, ["relu"], rounds=1, steps=1, warmup=0, log=lambda *_: None)
    assert set(zip(t["part"], t["head"], strict=True)) == {("model", "full"), ("model", "adaptive"),
                                                           ("head", "full"), ("head", "adaptive")}
    full = t[t["head"] == "full"]
    assert (full["speed_vs_full"] == 1.0).all() and (full["head_params"] == 0).all()  # tied: owns nothing
    ada = t[t["head"] == "adaptive"]
    assert (ada["head_params"] > 0).all() and (ada["memory_vs_full"] < 1).all()  # never the V-wide logits
    assert "WikiText-2" in source or "Zipf" in source
    assert "| model | relu | adaptive |" in head.markdown(t, "cpu", source)
