"""`ffnlab-bench --mode study`: study throughput, processes × threads, alone and beside a CPU-bound co-runner.

A study's unit is a run (process start, data, Lightning set-up, training, evaluations), so this times whole
sweeps through `ffnlab-train -m`, as a study runs them, in each arrangement:
  1x2   one run at a time, 2 intra-op threads (the basic launcher)
  2x1   two runs side by side, 1 thread each (launcher=joblib)
  2x1c  2x1 with perf.compile=true, timed twice alone: with an empty compile cache (cold) and again with the cache
        the first sweep filled (warm), so the compile's cost per run and its payback show
each alone and with one CPU-bound process beside it (a single-thread matmul loop, like any other job on the
machine). Runs per hour = finished runs / the sweep's wall time. "Fair share" compares a sweep beside the
co-runner with the same sweep alone: with T threads of its own against the co-runner's one, a fair scheduler
gives it T/(T+1) of the machine, so retention = (runs/h beside) / (runs/h alone) / (T/(T+1)).
Writes study_throughput.csv and .md (with the command and the machine) to --out.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from ffnlab.errors import BenchError, FfnlabError
from ffnlab.runs.record import read_record

ARRANGEMENTS = {  # name → (concurrent runs, threads per run, extra overrides)
    "1x2": (1, 2, ["launcher=basic"]),
    "2x1": (2, 1, ["launcher=joblib", "hydra.launcher.n_jobs=2"]),
    "2x1c": (2, 1, ["launcher=joblib", "hydra.launcher.n_jobs=2", "perf.compile=true"]),
}
# experiment=shazeer's plan (conf/experiment/shazeer.yaml: 9 variants × 5 seeds, trainer.max_steps; a test holds
# these to the composed study): each arrangement's sweep is extrapolated to it
SHAZEER_RUNS, SHAZEER_STEPS = 45, 800
CORUNNER = ("import torch\ntorch.set_num_threads(1)\na = torch.randn(384, 384)\n"
            "while True:\n    a = (a @ a).tanh()\n")


def _sweep(arrangement: str, overrides: list[str], out: Path, name: str,
           compile_cache: Path | None = None) -> tuple[float, list[dict]]:
    parallel, threads, extra = ARRANGEMENTS[arrangement]
    cmd = [sys.executable, "-m", "ffnlab.cli.train", "-m", *overrides, *extra, f"trainer.threads={threads}",
           "trainer.progress_bar=false", "report_at_end=false", "reuse_runs=false", f"sweep_name={name}"]
    env = dict(os.environ, FFNLAB_OUTPUT=str(out), OMP_NUM_THREADS=str(threads))
    if compile_cache is not None:  # the compile cache this sweep starts from (empty: cold)
        env["TORCHINDUCTOR_CACHE_DIR"] = str(compile_cache)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise BenchError(f"sweep {name} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    recs = [json.loads(p.read_text()) for p in (out / "multirun" / name).rglob("metrics.json")]
    return wall, recs


def measure(overrides: list[str], arrangements: list[str], loads: list[str], log=print,
            on_row=None) -> pd.DataFrame:
    """Every arrangement × load, one sweep each; `on_row(df)` after each sweep (so a stopped bench keeps what it
    measured)."""
    rows = []
    steps = next(int(o.split("=", 1)[1]) for o in overrides if o.startswith("trainer.max_steps="))
    with tempfile.TemporaryDirectory(prefix="ffnlab-study-bench-") as tmp:
        for arrangement in arrangements:
            compiled = "perf.compile=true" in ARRANGEMENTS[arrangement][2]
            for load in (["cold cache", "warm cache"] if compiled else loads):
                corunner = subprocess.Popen([sys.executable, "-c", CORUNNER], env=dict(os.environ,
                                            OMP_NUM_THREADS="1")) if load == "corunner" else None
                cache = Path(tmp) / "inductor" if compiled else None
                try:
                    wall, recs = _sweep(arrangement, overrides, Path(tmp), f"{arrangement}-{load.split()[0]}",
                                        compile_cache=cache)
                finally:
                    if corunner is not None:
                        corunner.kill()
                        corunner.wait()
                ok = [r for r in recs if r["status"] == "ok"]
                parallel, threads, _ = ARRANGEMENTS[arrangement]
                row = {"arrangement": arrangement, "concurrent_runs": parallel, "threads_per_run": threads,
                       "load": load, "steps_per_run": steps, "runs": len(ok), "sweep_wall_s": round(wall, 1),
                       "runs_per_hour": round(3600 * len(ok) / wall, 2),
                       "median_run_wall_s": round(statistics.median(r["wall_s"] for r in ok), 1),
                       "median_train_s": round(statistics.median(r["train_s"] for r in ok), 1),
                       "median_tokens_per_s": round(statistics.median(r["tokens_per_s"] for r in ok)),
                       "median_eval_s": round(statistics.median(r.get("eval_s") or 0 for r in ok), 1),
                       "median_setup_s": round(statistics.median(r.get("setup_s") or 0 for r in ok), 1)}
                log(f"{arrangement} {load}: {row['runs']} runs in {wall:.0f} s = {row['runs_per_hour']} runs/h")
                rows.append(row)
                if on_row is not None:
                    on_row(derive(pd.DataFrame(rows)))
    return derive(pd.DataFrame(rows))


def derive(df: pd.DataFrame, steps_per_run: int | None = None) -> pd.DataFrame:
    """The ratios: runs/h against 1x2 alone, and the fair share a sweep keeps beside the co-runner; and each sweep
    extrapolated to experiment=shazeer (`shazeer_h`): its measured wall per run, with the training part scaled
    from the sweep's steps per run to the study's, times the study's runs (`steps_per_run` fills the column for
    tables measured before it was recorded)."""
    if "steps_per_run" not in df and steps_per_run:
        df.insert(df.columns.get_loc("load") + 1, "steps_per_run", steps_per_run)
    if {"steps_per_run", "median_run_wall_s", "median_train_s"} <= set(df):
        run_wall = df["median_run_wall_s"] + df["median_train_s"] * (SHAZEER_STEPS / df["steps_per_run"] - 1)
        df["shazeer_h"] = (df["sweep_wall_s"] / df["runs"] * SHAZEER_RUNS * run_wall / df["median_run_wall_s"]
                           / 3600).round(2)
    alone = df[df["load"] == "alone"].set_index("arrangement")["runs_per_hour"]
    base = alone.get("1x2")
    df["vs_1x2_alone"] = (df["runs_per_hour"] / base).round(3) if base else None
    share = df["threads_per_run"] * df["concurrent_runs"]
    df["fair_share_kept"] = [
        round(r / alone[a] / (s / (s + 1)), 3) if ld == "corunner" and a in alone else None
        for a, ld, r, s in zip(df["arrangement"], df["load"], df["runs_per_hour"], share, strict=True)]
    return df


def markdown(df: pd.DataFrame, command: str, machine: dict) -> str:
    cols = ["arrangement", "load", "runs", "sweep_wall_s", "runs_per_hour", "vs_1x2_alone", "fair_share_kept",
            "median_run_wall_s", "median_train_s", "median_eval_s", "median_setup_s", "median_tokens_per_s",
            "shazeer_h"]
    cols = [c for c in cols if c in df]
    lines = ["# Study throughput: processes × threads", "",
             f"Command: `{command}`", "",
             f"Machine: {machine.get('cpu')}, {machine.get('logical_cpus')} logical CPUs, "
             f"torch {machine.get('versions', {}).get('torch')}.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join("–" if pd.isna(r[c]) else str(r[c]) for c in cols) + " |")
    lines += ["", "1x2: one run at a time with 2 threads; 2x1: two runs side by side with 1 thread each "
              "(launcher=joblib); 2x1c: 2x1 compiled (perf.compile=true), first with an empty compile cache (cold), "
              "then with the cache the cold sweep filled (warm). eval_s: inside validation and test loops; "
              "setup_s: from the job's start to its first "
              "step. corunner: one CPU-bound single-thread process beside the sweep. fair_share_kept: "
              "runs/h beside the co-runner over runs/h alone, divided by the share a fair scheduler gives the "
              "sweep's threads (T/(T+1)); 1.0 keeps its whole fair share.", ""]
    if "shazeer_h" in df:
        lines += [f"shazeer_h: `experiment=shazeer` ({SHAZEER_RUNS} runs of {SHAZEER_STEPS} steps) extrapolated from "
                  f"the sweep (an extrapolation, not a measurement of the study): the sweep's wall per run, with its "
                  f"median run's training time scaled from {int(df['steps_per_run'].iloc[0])} steps to "
                  f"{SHAZEER_STEPS} and its evaluations and set-up kept (a run evaluates as often at any budget), "
                  f"times {SHAZEER_RUNS} runs. The issue's target is 1 h.", ""]
    if machine.get("gpu"):
        lines += [f"GPU: {machine['gpu']} (the arrangements above are CPU sweeps).", ""]
    else:
        lines += ["GPU: none on this machine. Several runs per GPU (`launcher=gpu_pack`) against one at a time is "
                  "not measured yet; the preset is tested on CPU only.", ""]
    return "\n".join(lines)


def projection(records: list[dict], planned: int, concurrency: int, target_s: float = 3600.0) -> dict:
    """A whole study's wall time extrapolated from the measured runs of (part of) it: `planned` runs at the
    measured mean run wall, `concurrency` at a time, and the share of a run spent in set-up, training and
    evaluation. Only finished runs count."""
    ok = [r for r in records if r.get("status") == "ok"]
    if not ok:
        raise BenchError("no finished run records to extrapolate from")
    wall = [float(r["wall_s"]) for r in ok]
    mean_wall = statistics.fmean(wall)
    parts = {k: (statistics.fmean(float(r[k]) / float(r["wall_s"]) for r in ok) if all(r.get(k) is not None for r in ok)
                 else float("nan")) for k in ("setup_s", "train_s", "eval_s")}  # nan: older records lack the field
    return {"measured_runs": len(ok), "variants": len({r.get("ffn") for r in ok}),
            "seeds": len({r.get("seed") for r in ok}),
            "threads_per_run": sorted({r.get("threads") for r in ok} - {None}),
            "concurrency": concurrency, "mean_run_wall_s": round(mean_wall, 1),
            "median_run_wall_s": round(statistics.median(wall), 1), "min_run_wall_s": round(min(wall), 1),
            "share_setup": round(parts["setup_s"], 4), "share_train": round(parts["train_s"], 4),
            "share_eval": round(parts["eval_s"], 4), "planned_runs": planned,
            "projected_study_wall_h": round(planned * mean_wall / concurrency / 3600, 2),
            "target_h": round(target_s / 3600, 2),
            "mean_run_wall_for_target_s": round(target_s * concurrency / planned, 1)}


def _pct(x: float) -> str:
    return "not recorded" if x != x else f"{x:.1%}"


def main_project(args, argv: list[str], log=print) -> dict:
    """`--mode project`: extrapolate a study's wall time from the records of a real (partial) run of it."""
    src = Path(args.project_from)
    recs = [r.to_dict() for r in (read_record(p) for p in sorted(src.rglob("metrics.json"))) if r is not None]
    if not recs:
        raise FfnlabError(f"no run records under {src}; pass --project-from a study's folder of finished runs")
    pr = projection(recs, args.project_runs, args.project_concurrency)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "ffnlab-bench " + " ".join(map(shlex.quote, argv))
    lines = ["# Study wall time, extrapolated from measured runs", "", f"Command: `{command}`", "",
             f"From {pr['measured_runs']} finished runs ({pr['variants']} variants × {pr['seeds']} seeds, "
             f"threads per run: {', '.join(map(str, pr['threads_per_run'])) or 'not recorded'}; "
             f"{pr['concurrency']} at a time) under `{src}`: "
             f"a run takes {pr['mean_run_wall_s']} s on average (median {pr['median_run_wall_s']} s, fastest "
             f"{pr['min_run_wall_s']} s), of which "
             f"set-up {_pct(pr['share_setup'])}, training {_pct(pr['share_train'])}, "
             f"evaluation {_pct(pr['share_eval'])}.",
             "", f"**{pr['planned_runs']} runs → {pr['projected_study_wall_h']} h** of wall time "
             f"(runs × mean run wall ÷ runs at a time). A {pr['target_h']} h target needs a mean run wall of "
             f"{pr['mean_run_wall_for_target_s']} s at this concurrency.", ""]
    (out / "study_projection.md").write_text("\n".join(lines))
    pd.DataFrame([{k: (str(v) if isinstance(v, list) else v) for k, v in pr.items()}]).to_csv(
        out / "study_projection.csv", index=False)
    log(f"wrote {out}/study_projection.md: {pr['planned_runs']} runs → {pr['projected_study_wall_h']} h")
    return pr


def main_study(args, machine: dict, argv: list[str], log=print) -> pd.DataFrame:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    overrides = args.study_overrides
    command = "ffnlab-bench " + " ".join(map(shlex.quote, argv))

    def write(df: pd.DataFrame) -> None:
        df.to_csv(out / "study_throughput.csv", index=False)
        (out / "study_throughput.md").write_text(markdown(df, command, machine))

    if args.rerender:  # the table of a finished measurement, rendered by this code (its command is kept)
        csv, md = out / "study_throughput.csv", out / "study_throughput.md"
        if not csv.is_file():
            raise FfnlabError(f"{csv} does not exist; --rerender re-renders a measured table: measure it first "
                              f"(ffnlab-bench --mode study --out {out})")
        measured = re.search(r"Command: `([^`]*)`", md.read_text()) if md.is_file() else None
        command = (measured.group(1) if measured else "not recorded") + f"`; table rendered by `{command}"
        try:
            table = derive(pd.read_csv(csv), args.study_steps)
        except (KeyError, ValueError, pd.errors.ParserError) as e:
            raise FfnlabError(f"{csv} is not a study_throughput table ffnlab-bench wrote ({type(e).__name__}: {e}); "
                              "--rerender re-renders ffnlab-bench's own measurement: point --out at its folder, or "
                              "measure first") from e
        write(table)
        log(f"re-rendered {out}/study_throughput.md and .csv")
        return pd.read_csv(csv)
    df = measure(overrides, args.arrangements, args.loads, log=log, on_row=write)
    log(f"wrote {out}/study_throughput.md and .csv")
    return df
