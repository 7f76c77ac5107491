"""Where and with what a run was computed: the code's git revision, the CPU, the package versions."""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from ffnlab.runs.record import machine_label


def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        sha = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return (sha + ("-dirty" if dirty else "")) if out.returncode == 0 and sha else None
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str | None:
    """The CPU's model name (Linux: /proc/cpuinfo), else what `platform` knows; None if neither says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def versions() -> dict[str, str]:
    """The software and the machine a run used. The CPU and the vector instructions torch's kernels use are part
    of it: the same training can end slightly differently on another machine (ffnlab.runs.record.machine_label)."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    cpu = cpu_model()
    if cpu:
        out["cpu"] = cpu
    torch = sys.modules.get("torch")  # the training process has it; the record module never imports it
    if torch is not None:
        out["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        if torch.cuda.is_available():
            out["gpu"] = torch.cuda.get_device_name()
    for pkg in ("ffnlab", "torch", "lightning", "hydra-core", "tokenizers", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


@functools.lru_cache(maxsize=4)
def this_machine(accelerator: str = "cpu") -> str | None:
    """This process's machine as a record of a run here would name it (ffnlab.runs.record.machine_label): a run
    reused from another machine kind would put that machine's floating-point differences inside a seed block."""
    import torch  # the machine's vector instructions are torch's to say (a third-party import, not ffnlab's)

    on_gpu = accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available()
    return machine_label(versions(), on_gpu)
