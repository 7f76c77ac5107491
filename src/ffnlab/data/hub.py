"""Corpora from the Hugging Face hub (the `hub` extra): streamed, tokenized into memory-mapped token files.

A hub corpus is a recipe, not a string in memory: which dataset, which splits, how many tokens. Texts are
streamed (C4 is 300+ GB), the tokenizer is trained on a bounded sample of the train split, and each split is
tokenized in batches straight into a `.bin` file of token ids, so memory stays bounded. The file appears under
its final name only when complete, beside a `.json` that says how many tokens it holds: a half-written cache is
never mistaken for a finished one. Offline, a hub corpus fails at once with what to download or which local
path to set; a dataset saved with `save_to_disk` (data.hub.path) takes the same code path with no network.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ffnlab.errors import CorpusError
from ffnlab.io import atomic_path, atomic_write_bytes

HUB_HOST = ("huggingface.co", 443)


@dataclass
class HubCorpus:
    """A hub dataset as a corpus: `texts(split)` streams its documents; limits cap what is tokenized."""

    name: str
    dataset: str  # e.g. "allenai/c4"
    config: str | None  # e.g. "en"
    text_field: str = "text"
    splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "val": "validation"})
    revision: str | None = None
    path: str | None = None  # a local copy saved with DatasetDict.save_to_disk (works offline)
    max_tokens: dict[str, int | None] = field(default_factory=dict)  # per split; None = the whole split
    tokenizer_chars: int = 20_000_000  # the BPE tokenizer trains on this many characters of the train split
    streamed = True  # read through texts() into memory-mapped token files (ffnlab.data.datamodule)

    @property
    def description(self) -> str:
        caps = ", ".join(f"{s} ≤ {n:,} tokens" for s, n in self.max_tokens.items() if n)
        return f"{self.dataset}" + (f" ({self.config})" if self.config else "") + (f"; {caps}" if caps else "")

    @property
    def source(self) -> str:
        return self.path or f"hf://{self.dataset}" + (f"/{self.config}" if self.config else "")

    @property
    def sha256(self) -> str:
        """Identity of the recipe (and of the local copy's fingerprint): what the caches are keyed on."""
        spec = {"dataset": self.dataset, "config": self.config, "field": self.text_field, "splits": self.splits,
                "revision": self.revision, "max_tokens": self.max_tokens, "tok_chars": self.tokenizer_chars,
                "fingerprint": _local_fingerprint(self.path) if self.path else None}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def tokenizer_texts(self) -> Iterator[str]:
        return tokenizer_sample(self)

    def texts(self, split: str) -> Iterator[str]:
        ds = _open_split(self, split)
        for row in ds:
            text = row.get(self.text_field)
            if text is None:
                raise CorpusError(f"corpus {self.name!r}: split {split!r} has no field {self.text_field!r}; "
                                  f"set data.hub.text_field to one of {sorted(row)}")
            if text:
                yield text if text.endswith("\n") else text + "\n"


def _datasets():
    try:
        import datasets
    except ImportError:
        raise CorpusError("hub corpora need the `datasets` package: pip install -e '.[hub]' "
                          "(or use data=wikitext2 / data=tinyshakespeare from the local corpora)") from None
    return datasets


def _local_fingerprint(path: str) -> str:
    p = Path(path).expanduser()
    state = sorted(p.rglob("state.json"))
    if not state:
        raise CorpusError(f"data.hub.path={path} holds no dataset saved with save_to_disk "
                          "(no state.json found); save one with DatasetDict.save_to_disk(PATH)")
    return hashlib.sha256(b"".join(f.read_bytes() for f in state)).hexdigest()[:16]


def online(timeout: float = 3.0) -> bool:
    """Can the hub be reached? False at once when HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return False
    try:
        socket.create_connection(HUB_HOST, timeout=timeout).close()
        return True
    except OSError:
        return False


def _open_split(corpus: HubCorpus, split: str) -> Any:
    datasets = _datasets()
    hub_split = corpus.splits[split]
    if corpus.path:
        try:
            return datasets.load_from_disk(str(Path(corpus.path).expanduser()))[hub_split]
        except KeyError:
            raise CorpusError(f"data.hub.path={corpus.path} has no split {hub_split!r}; "
                              f"set data.hub.splits.{split} to one of its splits") from None
        except FileNotFoundError as e:
            raise CorpusError(f"data.hub.path={corpus.path}: {e}; save the dataset there with save_to_disk") from None
    if not online():
        raise CorpusError(
            f"corpus {corpus.name!r} streams {corpus.dataset} from the Hugging Face hub, which is not reachable "
            f"here; on a machine with network run: python -c \"import datasets; datasets.load_dataset("
            f"'{corpus.dataset}', {corpus.config!r}).save_to_disk('DIR')\", copy DIR here and set "
            f"data.hub.path=DIR, or use a local corpus (data=wikitext2)")
    return datasets.load_dataset(corpus.dataset, corpus.config, split=hub_split, streaming=True,
                                 revision=corpus.revision)


def tokenizer_sample(corpus: HubCorpus) -> Iterator[str]:
    """The first `tokenizer_chars` characters of the train split, document by document."""
    seen = 0
    for text in corpus.texts("train"):
        yield text
        seen += len(text)
        if seen >= corpus.tokenizer_chars:
            return


def token_file(tok, corpus: HubCorpus, split: str, path: Path, batch_docs: int = 1000) -> tuple[np.ndarray, dict]:
    """The split's token ids as a read-only memmap, tokenizing into `path` first if no complete file exists.

    Bounded memory: documents are encoded `batch_docs` at a time and appended to a temporary file, which is
    renamed to `path` after its metadata (token and byte counts) is written beside it. A token cap ends the
    file after the document that reaches it, so byte counts (for bits per byte) stay exact.
    """
    meta_path = path.with_suffix(".json")
    dtype = np.uint16 if tok.get_vocab_size() <= 2**16 else np.int32
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if path.stat().st_size == meta["tokens"] * np.dtype(meta["dtype"]).itemsize:
            return np.memmap(path, dtype=meta["dtype"], mode="r"), meta
    limit = corpus.max_tokens.get(split)
    n_tokens = n_bytes = 0
    from tqdm import tqdm

    bar = tqdm(total=limit, unit="tok", unit_scale=True, desc=f"tokenizing {corpus.name}/{split}", disable=None)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        for batch in _batches(corpus.texts(split), batch_docs):
            for text, enc in zip(batch, tok.encode_batch(batch), strict=True):
                f.write(np.asarray(enc.ids, dtype=dtype).tobytes())  # whole documents only
                n_tokens += len(enc.ids)
                n_bytes += len(text.encode())
                bar.update(len(enc.ids))
                if limit is not None and n_tokens >= limit:
                    break
            if limit is not None and n_tokens >= limit:
                break
        f.flush()
        meta = {"tokens": n_tokens, "bytes": n_bytes, "dtype": np.dtype(dtype).name, "split": split,
                "corpus": corpus.description}
        atomic_write_bytes(meta_path, json.dumps(meta).encode())  # then the token file takes its final name
    bar.close()
    return np.memmap(path, dtype=dtype, mode="r"), meta


def _batches(texts: Iterator[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def from_config(name: str, hub: dict) -> HubCorpus:
    """A HubCorpus from the `data.hub` config block (conf/data/{wikitext103,tinystories,c4,...}.yaml)."""
    if not hub or not hub.get("dataset"):
        raise CorpusError(f"corpus {name!r} needs data.hub.dataset (see conf/data/c4.yaml for an example)")
    return HubCorpus(name=name, dataset=hub["dataset"], config=hub.get("config"),
                     text_field=hub.get("text_field", "text"), splits=dict(hub.get("splits") or {}) or
                     {"train": "train", "val": "validation"}, revision=hub.get("revision"), path=hub.get("path"),
                     max_tokens={k: v for k, v in (hub.get("max_tokens") or {}).items()},
                     tokenizer_chars=int(hub.get("tokenizer_chars", 20_000_000)))
