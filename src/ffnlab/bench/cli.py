"""ffnlab-bench: training throughput, MFU, activation memory, Lightning overhead and bf16 agreement, side by side
with real peer implementations; writes a results folder (Markdown, CSVs, a plot, the command, the machine).

    ffnlab-bench --out results/benchmarks                # the published run (about 40 minutes on 2 cores)
    ffnlab-bench --quick --out /tmp/bench                # seconds: the tiny size, one round (for tests)
    ffnlab-bench --mode study --out results/benchmarks   # study throughput: processes × threads, with a co-runner
    ffnlab-bench --mode moe --out results/benchmarks     # routed FFNs against the dense one
    ffnlab-bench --mode head --out results/benchmarks    # full against adaptive softmax at 33,278 words
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pandas as pd
import torch

from ffnlab.bench import measure, overhead, tables
from ffnlab.bench.head import main_head
from ffnlab.bench.models import PEERS, SIZES, Built, build_ffnlab, peer_available
from ffnlab.bench.moe import main_moe
from ffnlab.bench.study import main_project, main_study
from ffnlab.bench.write import write_readme
from ffnlab.data.corpora import load_corpus
from ffnlab.errors import CorpusError, cli_errors
from ffnlab.model.ffn import IMPLS, FeedForward, get_variant
from ffnlab.quiet import quiet_third_party
from ffnlab.runs.build import datamodule

SHAZEER = ["relu", "gelu", "swish", "glu", "bilinear", "reglu", "geglu", "swiglu", "mishglu"]


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def machine() -> dict:
    cpu = platform.processor()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        cpu = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), cpu)
    except (OSError, subprocess.CalledProcessError):
        pass
    versions = {}
    for pkg in ("torch", "lightning", "transformers", "x-transformers", "numpy"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "python": platform.python_version(),
            "versions": versions, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def native_bf16() -> bool:
    """Whether bf16 matrix products run in hardware here (a CUDA GPU, or a CPU with AVX512-BF16 or AMX). Without
    it torch emulates bf16 and its GEMM "peak" is no peak, so bf16 MFU is not computed."""
    if torch.cuda.is_available():
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


def default_ffn_impl() -> str:
    return overhead.train_config([]).perf.ffn_impl


def ffn_bytes_per_token(size, ffn: str, impl: str, precision: str) -> float:
    """Saved-for-backward bytes of one FFN block per token (its input included)."""
    cfg = size.model_config(ffn)
    block = FeedForward(cfg.d_model, cfg.d_ff, get_variant(ffn), impl=impl)
    x = torch.randn(size.batch_size, size.seq_len, cfg.d_model, requires_grad=True)
    built = Built(impl, block, lambda a, b: block(x).sum(), 0)
    return measure.saved_activation_bytes(built, torch.zeros(1, 2, dtype=torch.long), precision) / x[..., 0].numel()


def run_size(args, size, variants: list[str], default_impl: str, peers: dict[str, str | None]):
    """Each variant's group (its ffnlab implementations and the peers) in a fresh process, one after another.

    A group's models are timed side by side; the process then exits, so memory (optimizer states, compiled
    graphs, the allocator's cache) cannot pile up from one group to the next.
    """
    rows, memory, flops = [], [], []
    ctx = multiprocessing.get_context("spawn")
    for ffn in variants:
        with ctx.Pool(1) as pool:
            r, m, f = pool.apply(run_group, (args, size, ffn, default_impl, peers))
        rows, memory, flops = rows + r, memory + m, flops + f
    return rows, memory, flops


def run_group(args, size, ffn: str, default_impl: str, peers: dict[str, str | None]):
    """Time every implementation of one variant side by side (interleaved rounds); measure activation memory."""
    torch.use_deterministic_algorithms(True)
    torch._dynamo.config.recompile_limit = 64
    batch = torch.randint(0, size.vocab_size, (size.batch_size, size.seq_len + 1),
                          generator=torch.Generator().manual_seed(0))
    builders = {(f"ffnlab-{impl}", "fp32"): (lambda i=impl: build_ffnlab(size, ffn, i)) for impl in args.impls}
    builders[(f"ffnlab-{default_impl}", "bf16")] = lambda: build_ffnlab(size, ffn, default_impl)
    if args.compile:
        builders[(f"ffnlab-{default_impl}+compile", "fp32")] = lambda: build_ffnlab(size, ffn, default_impl,
                                                                                     compile=True)
    for peer, why_not in peers.items():
        if why_not is None:
            builders[(peer, "fp32")] = lambda p=peer: PEERS[p](size, ffn)
    timers, memory = {}, []
    for (impl, precision), build in builders.items():
        built = build()
        if built is None:
            continue
        timers[f"{impl}|{precision}"] = measure.StepTimer(built, batch, precision)
        if "+compile" not in impl:
            ffn_impl = impl.split("-", 1)[1] if impl.startswith("ffnlab-") else None
            memory.append({
                "size": size.name, "ffn": ffn, "impl": impl, "precision": precision,
                "d_ff": size.model_config(ffn).d_ff, "ffn_params": built.ffn_params,
                "activation_mb": measure.saved_activation_bytes(built, batch, precision) / 2**20,
                "ffn_bytes_per_token": ffn_bytes_per_token(size, ffn, ffn_impl, precision) if ffn_impl else None,
                "note": built.note,
            })
    fpt = build_ffnlab(size, ffn).module.flops_per_token()["train"]
    flops = [{"size": size.name, "ffn": ffn, "flops_per_token": fpt}]
    _log(f"{size.name} {ffn}: {len(timers)} configurations")
    rows = []
    for row in measure.interleaved(timers, args.rounds, args.steps, args.warmup, progress=_log):
        impl, precision = row.pop("key").split("|")
        rows.append({"size": size.name, "ffn": ffn, "impl": impl, "precision": precision, **row})
    return rows, memory, flops


def bf16_agreement(args, default_impl: str) -> pd.DataFrame:
    """fp32 and bf16 training curves of relu and swiglu on real batches from the same init."""
    cfg = overhead.train_config(args.overhead_overrides + [f"trainer.max_steps={args.bf16_steps}"])
    d = cfg.data
    dm = datamodule(cfg, max_steps=args.bf16_steps)  # the batches of data_seed (0 unless overridden)
    info = dm.load()
    size = SIZES[args.sizes[0]]
    size = type(size)(**{**size.__dict__, "vocab_size": info.vocab_size, "seq_len": cfg.model.seq_len,
                         "batch_size": d.batch_size})
    batches = list(dm.train_dataloader())
    builders = {f: (lambda f=f: build_ffnlab(size, f, default_impl)) for f in ("relu", "swiglu")}
    curves = measure.loss_curves(builders, batches)
    rows = [{"ffn": f, "precision": p, "step": i, "loss": v} for (f, p), c in curves.items() for i, v in enumerate(c)]
    return pd.DataFrame(rows)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="ffnlab-bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="results/benchmarks", help="folder for the results (created)")
    ap.add_argument("--sizes", default="small,medium", help=f"comma list of {', '.join(SIZES)}")
    ap.add_argument("--variants", default=",".join(SHAZEER))
    ap.add_argument("--impls", default=",".join(IMPLS), help="ffnlab FFN implementations to time (fp32, eager)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians are over rounds)")
    ap.add_argument("--steps", type=int, default=4, help="training steps per configuration per round")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per configuration (compiles here)")
    ap.add_argument("--no-compile", dest="compile", action="store_false", help="skip the torch.compile rows")
    ap.add_argument("--no-peers", dest="peers", action="store_false", help="skip Hugging Face and x-transformers")
    ap.add_argument("--overhead-rounds", type=int, default=4)
    ap.add_argument("--overhead-steps", type=int, default=60)
    ap.add_argument("--bf16-steps", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="tiny size and short runs: checks the pipeline only")
    ap.add_argument("--mode", choices=("steps", "study", "project", "moe", "head"), default="steps",
                    help="steps: the step benchmark (default); study: whole sweeps per arrangement "
                         "(ffnlab.bench.study); project: a study's wall time from the records of a real run of it; "
                         "moe: routed FFNs (conf/moe presets) against the dense one (ffnlab.bench.moe); head: full "
                         "against adaptive softmax at WikiText-2's 33,278 words (ffnlab.bench.head)")
    ap.add_argument("--moe-variants", default="swiglu", help="moe mode: comma list of the experts' FFN variants")
    ap.add_argument("--study-steps", type=int, default=200, help="study mode: trainer.max_steps of each run")
    ap.add_argument("--rerender", action="store_true",
                    help="study mode: re-render study_throughput.md and .csv in --out from the measured .csv "
                         "(new derived columns) without measuring again")
    ap.add_argument("--arrangements", default="1x2,2x1", help="study mode: comma list of 1x2, 2x1")
    ap.add_argument("--loads", default="alone,corunner", help="study mode: comma list of alone, corunner")
    ap.add_argument("--project-from", help="project mode: a folder of a study's finished run records")
    ap.add_argument("--project-runs", type=int, default=45, help="project mode: the study's planned runs")
    ap.add_argument("--project-concurrency", type=int, default=2, help="project mode: runs at a time")
    args = ap.parse_args(argv)
    args.arrangements, args.loads = args.arrangements.split(","), args.loads.split(",")
    if args.mode == "project" and not args.project_from:
        ap.error("--mode project needs --project-from DIR (a folder of a study's finished run records)")
    if args.quick:
        args.sizes, args.rounds, args.steps, args.warmup = "tiny", 2, 1, 1
        args.overhead_rounds, args.overhead_steps, args.bf16_steps = 1, 6, 4
    args.sizes = args.sizes.split(",")
    args.variants = args.variants.split(",")
    args.moe_variants = args.moe_variants.split(",")
    args.impls = args.impls.split(",")
    for s in args.sizes:
        if s not in SIZES:
            ap.error(f"unknown size {s!r}; choose from {', '.join(SIZES)}")
    for v in args.variants + args.moe_variants:
        get_variant(v)
    data = "data=wikitext2" if _wikitext_available() and not args.quick else "data=embedded"
    model = "model=tiny" if args.quick else "model=small"
    args.overhead_overrides = [data, model, "ffn=swiglu", "trainer.progress_bar=false"]
    # study mode: the studies' runs (the shazeer configuration) with a short budget, 4 runs per sweep (quick: 2)
    steps = 16 if args.quick else args.study_steps
    args.study_overrides = [data, model, "ffn=relu,swiglu", "seed=0" if args.quick else "seed=0,1",
                            f"trainer.max_steps={steps}",
                            "perf.ffn_impl=naive", "trainer.curve_val_batches=20"] + \
        (["data.vocab_size=384", "data.batch_size=8"] if args.quick else [])
    return args


def _wikitext_available() -> bool:
    try:
        load_corpus("wikitext2")
        return True
    except CorpusError:
        return False


@cli_errors("ffnlab-bench")
def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    quiet_third_party()
    if args.mode == "project":
        main_project(args, argv if argv is not None else sys.argv[1:], log=_log)
        return
    if args.mode == "moe":
        main_moe(args, machine(), log=_log)
        return
    if args.mode == "head":
        main_head(args, machine(), log=_log)
        return
    if args.mode == "study":
        main_study(args, machine(), argv if argv is not None else sys.argv[1:], log=_log)
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)  # ffnlab-train runs deterministic; every implementation does here
    info = {**machine(), "native_bf16": native_bf16()}
    _log(f"machine: {info['cpu']}, {info['logical_cpus']} CPUs, torch threads {info['torch_threads']}")
    peers = {p: peer_available(p) if args.peers else "--no-peers" for p in PEERS}
    default_impl = default_ffn_impl()

    gemm = []
    for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        for n in (512,) if args.quick else (1024, 2048):
            gemm += [{"precision": name, "n": n, "gflops": g} for g in measure.gemm_gflops(dtype, n)]
    gemm = pd.DataFrame(gemm)
    peak = gemm.groupby(["precision", "n"])["gflops"].median().groupby("precision").max().to_dict()
    _log(f"GEMM peak GFLOP/s: {peak}")
    mfu_peak = peak if info["native_bf16"] else {k: v for k, v in peak.items() if k != "bf16"}

    steps, memory, flops = [], [], []
    for name in args.sizes:
        r, m, f = run_size(args, SIZES[name], args.variants, default_impl, peers)
        steps, memory, flops = steps + r, memory + m, flops + f
    steps, memory, flops = pd.DataFrame(steps), pd.DataFrame(memory), pd.DataFrame(flops)
    summary = tables.summarize(steps, SIZES, flops, mfu_peak, memory)

    ovh = pd.DataFrame(overhead.lightning_vs_bare(args.overhead_overrides + [
        f"trainer.max_steps={args.overhead_steps + 5}", f"perf.ffn_impl={default_impl}"], args.overhead_rounds,
        warmup=5, progress=_log))
    curves = bf16_agreement(args, default_impl)

    for name, df in (("steps", steps), ("summary", summary), ("memory", memory), ("gemm", gemm),
                     ("overhead", ovh), ("bf16_curves", curves)):
        df.to_csv(out / f"{name}.csv", index=False)
    (out / "machine.json").write_text(json.dumps({**info, "gemm_peak_gflops": peak, "peers": peers}, indent=2))
    (out / "COMMAND.txt").write_text("ffnlab-bench " + " ".join(map(shlex.quote, argv or sys.argv[1:])) + "\n")
    impls = [f"ffnlab-{i}" for i in args.impls] + ([f"ffnlab-{default_impl}+compile"] if args.compile else [])
    impls += [p for p, why in peers.items() if why is None]
    fig = tables.plot_throughput(summary, args.variants, impls)
    fig.savefig(out / "throughput.png", dpi=120)
    write_readme(out, summary, memory, ovh, curves, peak, info, peers, args, default_impl, impls)
    _log(f"wrote {out}/")


if __name__ == "__main__":
    main()
