"""Data: the same batches in the same order for every variant, whole-split evaluation, cached tokenizers."""

import numpy as np
import pytest
import torch

from ffnlab.data.datamodule import EvalChunks, LMDataModule, StepLoader, TrainBatches


def dm(cache_dir, **kw):
    args = dict(corpus="embedded", vocab_size=384, seq_len=32, batch_size=4, max_steps=50, cache_dir=str(cache_dir))
    return LMDataModule(**{**args, **kw})


def test_batches_depend_only_on_step_and_data_seed():
    tokens = np.arange(10_000, dtype=np.uint16)
    a = TrainBatches(tokens, 16, 4, steps=100, seed=0)
    b = TrainBatches(tokens, 16, 4, steps=100, seed=0, start_step=37)
    assert torch.equal(a[37], b[0]) and torch.equal(a[99], b[62])
    c = TrainBatches(tokens, 16, 4, steps=100, seed=1)
    assert not torch.equal(a[0], c[0])
    assert len(b) == 100  # the whole budget, even when resuming (see TrainBatches.__len__)



def test_train_loader_resumes_only_its_own_batch_stream():
    tokens = np.arange(10_000, dtype=np.uint16)
    loader = StepLoader(TrainBatches(tokens, 16, 4, steps=100, seed=0, start_step=37), batch_size=None)
    loader.load_state_dict(StepLoader(TrainBatches(tokens, 16, 4, steps=100, seed=0), batch_size=None).state_dict())
    other = StepLoader(TrainBatches(tokens, 16, 8, steps=100, seed=0), batch_size=None).state_dict()
    with pytest.raises(ValueError, match="batch stream"):
        loader.load_state_dict(other)

def test_one_epoch_visits_every_chunk_once_then_reshuffles():
    tokens = np.arange(16 * 20 + 1, dtype=np.uint16)  # 20 chunks of 16
    ds = TrainBatches(tokens, 16, 4, steps=10, seed=0)
    first_epoch = [c for s in range(5) for c in ds.chunk_ids(s)]
    assert sorted(first_epoch) == list(range(20))
    second = [c for s in range(5, 10) for c in ds.chunk_ids(s)]
    assert sorted(second) == list(range(20)) and second != first_epoch


def test_batch_rows_are_contiguous_windows():
    tokens = np.arange(1000, dtype=np.uint16)
    batch = TrainBatches(tokens, 16, 4, steps=5, seed=0)[3]
    assert batch.shape == (4, 17)
    assert torch.all(batch[:, 1:] - batch[:, :-1] == 1)


def test_eval_chunks_predict_each_token_once():
    tokens = np.arange(100, dtype=np.uint16)
    ds = EvalChunks(tokens, 16)
    targets = torch.cat([ds[i][1:] for i in range(len(ds))])
    assert targets.tolist() == list(range(1, 1 + 16 * len(ds)))


def test_ddp_shards_make_the_single_process_batch_of_their_combined_size():
    # Rank r of 2 at step s holds the r-th half of what one process with batch 2B reads at step s, resumed or not.
    tokens = np.arange(16 * 40 + 1, dtype=np.uint16)
    one = TrainBatches(tokens, 16, 8, steps=12, seed=3)
    for start in (0, 5):
        ranks = [TrainBatches(tokens, 16, 4, steps=12, seed=3, start_step=start, rank=r, world=2) for r in (0, 1)]
        for i in range(12 - start):
            assert torch.equal(torch.cat([ranks[0][i], ranks[1][i]]), one[start + i])


def test_ddp_eval_shards_cover_the_split_once_without_padding():
    tokens = np.arange(16 * 11 + 1, dtype=np.uint16)  # 11 windows: not divisible by 3 processes
    whole = EvalChunks(tokens, 16)
    shards = [EvalChunks(tokens, 16, rank=r, world=3) for r in range(3)]
    assert sum(map(len, shards)) == len(whole) == 11
    got = sorted(int(sh[i][0]) for sh in shards for i in range(len(sh)))
    assert got == [int(whole[i][0]) for i in range(len(whole))]


def test_same_batches_for_every_variant(cache_dir):
    # The DataModule knows nothing of the model: two modules for two variants give identical loaders.
    a, b = dm(cache_dir), dm(cache_dir)
    a.load(), b.load()
    for x, y in zip(a.train_dataloader(), b.train_dataloader(), strict=True):
        assert torch.equal(x, y)
    assert len(a.train_dataloader()) == 50


def test_tokenizer_is_cached_and_reused(cache_dir):
    d1 = dm(cache_dir)
    info = d1.load()
    files = sorted((cache_dir / "tokenizers").iterdir())
    mtimes = [f.stat().st_mtime_ns for f in files]
    d2 = dm(cache_dir)
    assert d2.load().sha256 == info.sha256
    assert [f.stat().st_mtime_ns for f in sorted((cache_dir / "tokenizers").iterdir())] == mtimes
    assert np.array_equal(d1.tokens["val"], d2.tokens["val"])
    assert info.vocab_size <= 384 and info.train_tokens > 100_000


def test_corrupt_token_cache_is_rebuilt(cache_dir):
    d1 = dm(cache_dir)
    d1.load()
    for f in (cache_dir / "tokens").glob("*val.npy"):
        f.write_bytes(b"garbage")
    d2 = dm(cache_dir)
    d2.load()
    assert np.array_equal(d1.tokens["val"], d2.tokens["val"])


def _build(cache, q):
    d = dm(cache, vocab_size=300)
    d.load()
    q.put(d.tokens["train"].sum())


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_concurrent_cache_builds_agree(tmp_path):
    # Two runs of a sweep (joblib, SLURM) may build the same cache at once: both must succeed, and agree.
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_build, args=(tmp_path, q)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert q.get() == q.get()
    assert not list(tmp_path.rglob("*.tmp"))
    assert len(list((tmp_path / "tokenizers").iterdir())) == 1


def test_a_vocabulary_the_corpus_cannot_fill_is_reported_not_hidden(tmp_path, caplog):
    text = tmp_path / "small.txt"
    text.write_text("the quick brown fox jumps over the lazy dog\n" * 400)
    dm = LMDataModule(corpus="text", path=str(text), vocab_size=100_000, seq_len=8, batch_size=2, max_steps=2,
                      cache_dir=str(tmp_path / "cache"))
    with caplog.at_level("WARNING", logger="ffnlab"):
        info = dm.load()
    assert info.vocab_size < 100_000
    assert any("data.vocab_size=100000 asked" in r.message and str(info.vocab_size) in r.message
               for r in caplog.records)
