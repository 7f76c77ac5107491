"""File IO without torch: the one atomic write, and where ffnlab's folders are (cache, corpora, outputs).

Records, checkpoints, tokenizers and token files are all written through `atomic_write_bytes` or
`atomic_path`: a reader sees the old file or the whole new one, never a torn write.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from ffnlab.errors import FolderBusyError, UnwritableError

ENV_CACHE = "FFNLAB_CACHE"
ENV_CORPORA = "FFNLAB_CORPORA"
ENV_OUTPUT = "FFNLAB_OUTPUT"
# Where the shared corpora sit relative to the repository root (the checkout this file lives in).
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CORPORA_DIR = REPO_ROOT.parent / "shared" / "corpora"


def _first(configured: str | os.PathLike | None, env: str) -> Path | None:
    for candidate in (configured, os.environ.get(env)):
        if candidate:
            return Path(candidate).expanduser().resolve()
    return None


def cache_dir(configured: str | os.PathLike | None = None) -> Path:
    """Tokenizers and token files: the configured path, else $FFNLAB_CACHE, else ~/.cache/ffnlab."""
    return _first(configured, ENV_CACHE) or Path.home() / ".cache" / "ffnlab"


def corpora_dir(configured: str | os.PathLike | None = None) -> Path:
    """The shared corpora folder: the configured path, else $FFNLAB_CORPORA, else ../shared/corpora."""
    return _first(configured, ENV_CORPORA) or DEFAULT_CORPORA_DIR


def output_dir(configured: str | os.PathLike | None = None) -> Path:
    """Where runs/ and multirun/ go: the configured path, else $FFNLAB_OUTPUT, else the current folder."""
    return _first(configured, ENV_OUTPUT) or Path.cwd().resolve()



def _unwritable(folder: Path, e: OSError) -> UnwritableError:
    return UnwritableError(
        f"cannot write to {folder} ({e.strerror}); point the setting that chose it at a writable folder: "
        f"data.cache_dir or ${ENV_CACHE} for tokenizer caches, paths.output or ${ENV_OUTPUT} for runs")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed onto `path` when the block ends without error."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:  # not writable, read-only, or a file where a folder should be
        raise _unwritable(path.parent, e) from e
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def cache_lock(cache: str | os.PathLike, name: str) -> Iterator[None]:
    """Hold an exclusive lock on `<cache>/locks/<name>.lock` (filelock; released if the process dies), so that
    concurrent runs of a sweep build a corpus's tokenizer and token files once: the first builds, the others
    wait and then read what it built."""
    path = Path(cache) / "locks" / f"{name}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path))
        lock.acquire()
    except OSError as e:  # not writable, read-only, or a file where a folder should be
        raise _unwritable(path.parent, e) from e
    try:
        yield
    finally:
        lock.release()



RUN_LOCK = ".ffnlab.lock"


@contextmanager
def run_folder_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Own a run folder for a run's whole life (a lock file in it, released if the process dies): a second
    ffnlab-train that would write the same folder at the same time is refused, so no folder mixes two runs."""
    lock = FileLock(str(Path(folder) / RUN_LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout as e:
        raise FolderBusyError(f"{folder} is being written by another ffnlab-train (it holds the folder's lock); "
                              "wait for that run to end, or give this one another folder (hydra.run.dir, or "
                              "sweep_name for a sweep)") from e
    try:
        yield
    finally:
        lock.release()


def ensure_writable(folder: str | os.PathLike, setting: str) -> Path:
    """Create `folder` if needed and check that files can be written in it; UnwritableError names `setting`."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UnwritableError(f"cannot write to {folder} ({e.strerror}); set {setting} to a writable folder") from e
    return folder


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (temporary file beside it, fsync, rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def threads_per_job(n_jobs) -> int:
    """Intra-op threads for each of `n_jobs` concurrent runs: the cores this process may use ÷ n_jobs, at least 1,
    so that side-by-side runs never oversubscribe the machine (conf/launcher/joblib.yaml)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, int(n_jobs)))
