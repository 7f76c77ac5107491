"""ffnlab.io: the cache lock that makes concurrent runs build a corpus's caches once."""

from __future__ import annotations

import multiprocessing as mp
import time

from ffnlab.io import cache_lock


def _hold(cache: str, log: str, tag: str, hold_s: float, held=None) -> None:
    with cache_lock(cache, "corpus-x"):
        if held is not None:
            held.set()
        with open(log, "a") as f:
            f.write(f"{tag}-in\n")
        time.sleep(hold_s)
        with open(log, "a") as f:
            f.write(f"{tag}-out\n")


def test_a_second_process_waits_for_the_lock_holder_to_finish(tmp_path):
    ctx = mp.get_context("spawn")
    log = tmp_path / "log.txt"
    held = ctx.Event()
    a = ctx.Process(target=_hold, args=(str(tmp_path), str(log), "a", 1.0, held))
    a.start()
    assert held.wait(60)
    b = ctx.Process(target=_hold, args=(str(tmp_path), str(log), "b", 0.0))
    b.start()
    a.join(60)
    b.join(60)
    assert log.read_text().split() == ["a-in", "a-out", "b-in", "b-out"]  # never interleaved


def test_the_lock_is_released_when_the_block_raises(tmp_path):
    try:
        with cache_lock(tmp_path, "corpus-x"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    t0 = time.perf_counter()
    with cache_lock(tmp_path, "corpus-x"):  # would block forever if the first holder had kept it
        pass
    assert time.perf_counter() - t0 < 5


def test_an_unwritable_cache_is_one_error_that_names_the_setting(tmp_path):
    import pytest

    from ffnlab.io import UnwritableError

    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(UnwritableError, match="cannot write to .*data.cache_dir"):
        with cache_lock(tmp_path / "a-file" / "cache", "corpus-x"):
            pass
