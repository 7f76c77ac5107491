"""Is bf16 autocast worth it on this CPU? fp32 vs bf16 training steps of the studies' model, interleaved.

    python experiments/bf16_agreement/step_ratio.py results/bf16_agreement

`model=small` (the shazeer configuration's size), swiglu, naive FFN, batch 16 × 128 tokens, AdamW, one thread;
2 warm-up steps per precision, then 4 interleaved rounds of 3 steps each; medians. Writes step_ratio.md with the
command, the CPU's flags that matter (avx512_bf16, amx_bf16) and the ratio. A ratio below 1 means bf16 is
emulated here and no study should choose trainer=cpu_bf16 on this machine.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

from ffnlab.bench.models import SIZES, build_ffnlab


def _flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    have = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return ", ".join(have) or "none of avx2/avx512f/avx512_bf16/amx_bf16"


def main(out: Path) -> None:
    torch.set_num_threads(1)
    size = SIZES["small"]
    built = build_ffnlab(size, "swiglu", ffn_impl="naive")
    opt = torch.optim.AdamW(built.module.parameters(), 1e-3)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 4096, (16, 128), generator=gen)

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = built.loss(x, x)
        loss.backward()
        opt.step()
        opt.zero_grad()

    times: dict[bool, list[float]] = {False: [], True: []}
    for bf16 in (False, True):
        step(bf16), step(bf16)
    for _ in range(4):
        for bf16 in (False, True):
            t0 = time.perf_counter()
            for _ in range(3):
                step(bf16)
            times[bf16].append((time.perf_counter() - t0) / 3)
    fp32, bf16 = statistics.median(times[False]), statistics.median(times[True])
    out.mkdir(parents=True, exist_ok=True)
    (out / "step_ratio.md").write_text(
        "# bf16 autocast vs fp32 training steps on this CPU\n\n"
        f"Command: `python experiments/bf16_agreement/step_ratio.py {out}`\n\n"
        f"CPU flags: {_flags()}; torch {torch.__version__}, 1 thread.\n\n"
        "| precision | ms per step (median) | speed vs fp32 |\n|---|---:|---:|\n"
        f"| fp32 | {fp32 * 1e3:.0f} | 1.00× |\n| bf16-mixed | {bf16 * 1e3:.0f} | {fp32 / bf16:.2f}× |\n\n"
        "model=small, swiglu, naive FFN, batch 16 × 128 tokens, AdamW; 4 interleaved rounds of 3 steps.\n")
    print((out / "step_ratio.md").read_text())


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "results/bf16_agreement"))
