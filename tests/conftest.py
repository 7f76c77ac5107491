"""Shared test helpers: a tiny config, an isolated cache/output folder, and a runner for the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ffnlab.data.corpora import DEFAULT_CORPORA_DIR, corpora_dir

TINY = ["model=tiny", "data.vocab_size=384", "data.batch_size=8", "data.eval_batch_size=64",
        "trainer.progress_bar=false", "trainer.threads=1", "report_at_end=false"]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def env(cache_dir, tmp_path) -> dict[str, str]:
    return dict(os.environ, FFNLAB_CACHE=str(cache_dir), FFNLAB_OUTPUT=str(tmp_path))


def ffnlab_train(*args: str, env: dict, cwd: Path, timeout: int = 300, check: bool = True):
    """Run the installed `ffnlab-train` entry point as a user would."""
    cmd = [sys.executable, "-m", "ffnlab.cli.train", *args]
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nSTDOUT:\n{proc.stdout[-3000:]}\nSTDERR:\n{proc.stderr[-5000:]}")
    return proc


def records(root: Path) -> dict[str, dict]:
    """Every metrics.json under root, keyed by its run folder relative to root."""
    return {str(p.parent.relative_to(root)): json.loads(p.read_text()) for p in sorted(root.rglob("metrics.json"))}


def shared_corpora_available() -> bool:
    return (corpora_dir() / "wikitext-2" / "wiki.train.tokens").is_file()


needs_shared = pytest.mark.skipif(
    not shared_corpora_available(),
    reason=f"shared corpora not found at {DEFAULT_CORPORA_DIR} (set FFNLAB_CORPORA to run these tests)",
)


@pytest.fixture(scope="session")
def small_sweep(tmp_path_factory, cache_dir) -> Path:
    """A real sweep of the tiny model: relu, gelu, swiglu × 3 seeds (shared by the report tests). Built once for
    the whole test session, also when pytest-xdist's workers both ask for it (a file lock; tests only read it)."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # xdist: the workers' common folder
    out = root / "small_sweep"
    with FileLock(str(root / "small_sweep.lock")):
        if not (out / "built").is_file():
            env = dict(os.environ, FFNLAB_CACHE=str(cache_dir), FFNLAB_OUTPUT=str(out))
            out.mkdir(exist_ok=True)
            ffnlab_train("-m", "ffn=relu,gelu,swiglu", "seed=0,1,2", *TINY, "trainer.max_steps=16",
                         "sweep_name=small", env=env, cwd=out)
            (out / "built").touch()
    return out / "multirun" / "small"
