"""Hub corpora: the streaming, memory-mapped tokenization path, exercised on a dataset saved locally (no network)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import TINY, ffnlab_train, records
from ffnlab.data.corpora import CorpusError, embedded_text
from ffnlab.data.datamodule import LMDataModule, TrainBatches
from ffnlab.data.hub import HubCorpus

datasets = pytest.importorskip("datasets", reason="the `hub` extra (datasets) is not installed")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A DatasetDict with train/validation/test splits of real text, saved with save_to_disk."""
    paragraphs = [p for p in embedded_text().split("\n\n") if p.strip()]
    n = len(paragraphs)
    parts = {"train": paragraphs[: int(n * 0.8)], "validation": paragraphs[int(n * 0.8): int(n * 0.9)],
             "test": paragraphs[int(n * 0.9):]}
    dd = datasets.DatasetDict({k: datasets.Dataset.from_dict({"text": v, "id": list(range(len(v)))})
                               for k, v in parts.items()})
    path = tmp_path_factory.mktemp("hub") / "saved"
    dd.save_to_disk(str(path))
    return path, parts


def hub_block(path, **kw) -> dict:
    return {"dataset": "local/embedded", "config": None, "text_field": "text", "path": str(path),
            "splits": {"train": "train", "val": "validation", "test": "test"}, "tokenizer_chars": 200_000, **kw}


def module(tmp_path, hub: dict) -> LMDataModule:
    return LMDataModule(corpus="mini", vocab_size=384, seq_len=32, batch_size=4, max_steps=5,
                        cache_dir=str(tmp_path / "cache"), hub=hub)


def test_splits_stream_into_memory_mapped_token_files(tmp_path, saved):
    path, parts = saved
    dm = module(tmp_path, hub_block(path, max_tokens={"train": 20_000}))
    info = dm.load()
    assert isinstance(dm.tokens["train"], np.memmap)
    assert 20_000 <= info.train_tokens < 20_000 + 2_000  # capped after the document that reaches the cap
    files = sorted((tmp_path / "cache" / "tokens").glob("*.bin"))
    assert len(files) == 3 and not list((tmp_path / "cache" / "tokens").glob(".*tmp"))
    meta = json.loads(files[0].with_suffix(".json").read_text())
    assert meta["tokens"] * np.dtype(meta["dtype"]).itemsize == files[0].stat().st_size
    # validation is never capped here, and its bytes per token come from the exact text that was encoded
    val_bytes = sum(len((t if t.endswith("\n") else t + "\n").encode()) for t in parts["validation"])
    assert info.bytes_per_token["val"] == pytest.approx(val_bytes / info.val_tokens)
    batches = TrainBatches(dm.tokens["train"], 32, 4, 5, seed=0)
    assert batches[0].shape == (4, 33) and int(batches[0].max()) < info.vocab_size


def test_cached_files_are_reused_and_half_written_ones_rebuilt(tmp_path, saved):
    path, _ = saved
    dm = module(tmp_path, hub_block(path))
    dm.load()
    reference = {s: np.array(t) for s, t in dm.tokens.items()}
    val = next((tmp_path / "cache" / "tokens").glob("*-val.bin"))
    stamp = val.stat().st_mtime_ns
    again = module(tmp_path, hub_block(path))
    again.load()
    assert val.stat().st_mtime_ns == stamp  # read, not re-tokenized
    with open(val, "r+b") as f:  # a crash mid-write leaves a short file: it must not be trusted
        f.truncate(val.stat().st_size // 2)
    rebuilt = module(tmp_path, hub_block(path))
    rebuilt.load()
    for s, t in reference.items():
        np.testing.assert_array_equal(np.array(rebuilt.tokens[s]), t)


def test_offline_hub_corpus_fails_at_once_with_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    corpus = HubCorpus(name="c4", dataset="allenai/c4", config="en")
    with pytest.raises(CorpusError) as e:
        next(corpus.texts("train"))
    msg = str(e.value)
    assert "\n" not in msg and "data.hub.path" in msg and "save_to_disk" in msg


def test_wrong_text_field_names_the_fields(tmp_path, saved):
    path, _ = saved
    with pytest.raises(CorpusError, match=r"text_field.*\['id', 'text'\]"):
        module(tmp_path, hub_block(path, text_field="content")).load()


@pytest.mark.slow  # end to end through the CLI; run in CI with -m slow (the default suite keeps the in-process checks)
def test_train_cli_on_a_hub_corpus_saved_locally(env, tmp_path, saved):
    path, _ = saved
    ffnlab_train("data=wikitext2_raw", f"data.hub.path={path}", "data.hub.tokenizer_chars=200000", *TINY,
                 "trainer.max_steps=8", env=env, cwd=tmp_path)
    (rec,) = records(tmp_path).values()
    assert rec["status"] == "ok" and rec["data"]["corpus"] == "wikitext2_raw"
    assert rec["data"]["source"] == str(path) and rec["data"]["test_tokens"] > 0


def test_train_cli_offline_is_a_one_line_error(env, tmp_path):
    proc = ffnlab_train("data=c4", *TINY, "trainer.max_steps=8", env={**env, "HF_HUB_OFFLINE": "1"},
                        cwd=tmp_path, check=False)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("ffnlab-train: error:")]
    assert len(lines) == 1 and "data.hub.path" in lines[0], proc.stderr[-2000:]
