"""What a run's data was (the record's `data` block): corpus, source, content hash, tokenizer and split sizes.
Torch-free, so the run record can hold it without importing the data module."""

from __future__ import annotations

from dataclasses import dataclass

TOKENIZERS = ("bpe", "words")  # data.tokenizer (null: bpe): ffnlab.data.datamodule's byte-level BPE, ffnlab.data.words


@dataclass
class DataInfo:
    corpus: str
    description: str
    source: str  # a path, a hub dataset, or "embedded:python-<version>"
    sha256: str  # content hash of the corpus text: part of the run's identity
    tokenizer: str
    vocab_size: int
    train_tokens: int
    val_tokens: int
    test_tokens: int | None
    bytes_per_token: dict[str, float]  # per split, for bits per byte
