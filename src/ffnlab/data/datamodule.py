"""Tokenizer, token caches, and identical batches for every variant (the DataModule owns all of it).

The training batch of step s is a pure function of (token stream, data_seed, s): chunks of seq_len+1
tokens in a seeded permutation, epoch after epoch. Every variant at a data seed therefore sees the same
batches in the same order, and a resumed run picks up at exactly the batch it would have seen next.
Validation and test cover their whole split in fixed order, every predicted token counted once.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
from collections.abc import Iterable
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ffnlab.data.corpora import Corpus, open_corpus
from ffnlab.data.hub import HubCorpus, token_file
from ffnlab.data.info import DataInfo
from ffnlab.data.words import KIND as words_kind
from ffnlab.data.words import train_words
from ffnlab.errors import ConfigError
from ffnlab.io import atomic_write_bytes, cache_dir, cache_lock

log = logging.getLogger("ffnlab")
TOKENIZER_KIND = "bytelevel-bpe-v1"  # bump when the tokenizer recipe changes, so caches are rebuilt


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """Byte-level BPE (GPT-2 style pre-tokenisation) trained on texts of the train split only."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def load_or_train_tokenizer(corpus: Corpus | HubCorpus, vocab_size: int, root: Path, kind: str | None = None):
    """The corpus's tokenizer from the cache, else trained on its train split and cached: the byte-level BPE of
    `vocab_size` (kind bpe or None), or its words (kind words: ffnlab.data.words, vocab_size unused)."""
    from tokenizers import Tokenizer

    words = kind == "words"
    recipe = words_kind if words else f"{TOKENIZER_KIND}-{vocab_size}"
    path = root / "tokenizers" / f"{corpus.name}-{corpus.sha256[:16]}-{recipe}.json"
    if path.is_file():
        try:
            return Tokenizer.from_file(str(path)), path
        except Exception:  # a corrupt cache entry is rebuilt, never trusted
            path.unlink(missing_ok=True)
    tok = train_words(corpus.tokenizer_texts()) if words else train_tokenizer(corpus.tokenizer_texts(), vocab_size)
    atomic_write_bytes(path, tok.to_str().encode())
    return tok, path


def encode(tok, text: str) -> np.ndarray:
    ids = [i for enc in tok.encode_batch(text.splitlines(keepends=True)) for i in enc.ids]
    dtype = np.uint16 if tok.get_vocab_size() <= 2**16 else np.int32
    return np.asarray(ids, dtype=dtype)


def load_or_encode(tok, tok_path: Path, corpus: Corpus, split: str) -> np.ndarray:
    key = hashlib.sha256(tok_path.read_bytes()).hexdigest()[:16]
    path = tok_path.parent.parent / "tokens" / f"{tok_path.stem}-{key}-{split}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except Exception:
            path.unlink(missing_ok=True)
    ids = encode(tok, corpus.splits[split])
    buf = io.BytesIO()
    np.save(buf, ids, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())
    return ids


def _ids(window: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(window, dtype=np.int64))


class TrainBatches(Dataset):
    """Item i is the whole batch (B, seq_len+1) of step start_step+i; a pure function of the step.

    Under DDP, process `rank` of `world` takes the rank-th of the `world` consecutive batches of each step, so
    the step's global batch holds exactly the chunks a single process with batch world×B would read.
    """

    def __init__(self, tokens: np.ndarray, seq_len: int, batch_size: int, steps: int, seed: int, start_step=0,
                 rank: int = 0, world: int = 1):
        self.tokens = tokens  # kept as is (a memmap for hub corpora): slices are converted when read
        self.seq_len, self.batch_size, self.seed = seq_len, batch_size, seed
        self.rank, self.world = rank, world
        self.n_chunks = (len(tokens) - 1) // seq_len
        if self.n_chunks < 1:
            raise ConfigError(f"train split has {len(tokens)} tokens, fewer than seq_len+1 = {seq_len + 1}")
        self.start_step, self.steps = start_step, steps
        self._perms: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        # Always the whole budget, even when resuming: Lightning restores its in-epoch batch counter and
        # ends the epoch at len(dataloader), so a shorter length would restart the epoch early. The run
        # stops at max_steps before the tail (steps past the budget) is ever read.
        return self.steps

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perms = {epoch: torch.randperm(self.n_chunks, generator=g)}
        return self._perms[epoch]

    def chunk_ids(self, step: int) -> list[int]:
        first = step * self.batch_size
        return [int(self._perm(k // self.n_chunks)[k % self.n_chunks]) for k in range(first, first + self.batch_size)]

    def __getitem__(self, i: int) -> torch.Tensor:
        starts = [c * self.seq_len for c in self.chunk_ids((self.start_step + i) * self.world + self.rank)]
        return torch.stack([_ids(self.tokens[s : s + self.seq_len + 1]) for s in starts])  # (B, T+1)


class StepLoader(DataLoader):
    """The train loader, resumable by construction: its batches are a pure function of the global step, and
    the training script starts the dataset at the checkpoint's step. The state names the batch stream, so that
    Lightning knows the loader resumes (no "not resumable" warning) and a checkpoint of another stream is refused.
    """

    def state_dict(self) -> dict:
        ds = self.dataset
        return {"seed": ds.seed, "batch_size": ds.batch_size, "seq_len": ds.seq_len, "world": ds.world}

    def load_state_dict(self, state: dict) -> None:
        if state != self.state_dict():
            raise ConfigError(f"checkpoint was written for batch stream {state}, this run reads {self.state_dict()}; "
                             "delete the run's checkpoints to start it afresh")


class EvalChunks(Dataset):
    """Consecutive windows of seq_len+1 tokens with stride seq_len: each token is predicted once.

    Under DDP, process `rank` of `world` takes windows rank, rank+world, ...: no window is padded or repeated, so
    the loss summed over processes is exactly the whole split's.
    """

    def __init__(self, tokens: np.ndarray, seq_len: int, rank: int = 0, world: int = 1):
        self.tokens = tokens
        self.seq_len = seq_len
        self.ids = range(rank, (len(tokens) - 1) // seq_len, world)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> torch.Tensor:
        s = self.ids[i] * self.seq_len
        return _ids(self.tokens[s : s + self.seq_len + 1])


class LMDataModule(L.LightningDataModule):
    def __init__(
        self,
        corpus: str = "embedded",
        corpora_dir: str | None = None,
        path: str | None = None,
        vocab_size: int = 4096,
        seq_len: int = 128,
        batch_size: int = 16,
        eval_batch_size: int = 32,
        max_steps: int = 1000,
        data_seed: int = 0,
        cache_dir: str | None = None,
        hub: dict | None = None,
        source: Corpus | HubCorpus | None = None,
        fetch_from: str | None = None,
        max_tokens: dict | None = None,
        tokenizer_chars: int | None = None,
        tokenizer: str | None = None,
    ):
        """`hub`: the data.hub block of a hub corpus (conf/data/c4.yaml); None for the local corpora.
        `source`: the corpus already opened (corpora.open_corpus), so it is not read twice."""
        super().__init__()
        self.hub, self.source = hub, source
        self.fetch_from, self.max_tokens, self.tokenizer_chars = fetch_from, max_tokens, tokenizer_chars
        self.kind = tokenizer or "bpe"  # bpe | words
        self.corpus_name, self.corpora_dir, self.path = corpus, corpora_dir, path
        self.vocab_size_req, self.seq_len, self.batch_size = vocab_size, seq_len, batch_size
        self.eval_batch_size, self.max_steps, self.data_seed = eval_batch_size, max_steps, data_seed
        self.cache_root = cache_dir
        self.tokens: dict[str, np.ndarray] = {}
        self.tokenizer = None  # the trained BPE (tokenizers.Tokenizer), once loaded
        self.info: DataInfo | None = None
        self.start_step = 0  # set by the training script when it resumes

    def load(self) -> DataInfo:
        """Read the corpus, train/load the tokenizer, encode/load every split. Idempotent."""
        if self.info is not None:
            return self.info
        corpus = self.source or open_corpus({
            "corpus": self.corpus_name, "corpora_dir": self.corpora_dir, "path": self.path, "hub": self.hub,
            "cache_dir": self.cache_root, "fetch_from": self.fetch_from, "max_tokens": self.max_tokens,
            "tokenizer_chars": self.tokenizer_chars})
        if self.kind == "bpe" and not 256 <= self.vocab_size_req <= 2**31 - 1:
            raise ConfigError(f"data.vocab_size={self.vocab_size_req} cannot work: a byte-level BPE has at least the "
                              "256 byte symbols; set data.vocab_size=256 or more (the studies use 4096)")
        with cache_lock(cache_dir(self.cache_root), f"{corpus.name}-{corpus.sha256[:16]}"):  # built once per sweep
            vocab, bpt = self._tokenize(corpus)
        for split in self.tokens:  # every split, before any training: a short test split must not fail at the end
            if len(self.tokens[split]) < self.seq_len + 1:
                raise ConfigError(
                    f"{split} split of {corpus.name!r} has {len(self.tokens[split])} tokens, fewer than "
                    f"seq_len+1 = {self.seq_len + 1}; lower model.seq_len or use a larger corpus"
                )
        self.info = DataInfo(
            corpus=corpus.name,
            description=corpus.description,
            source=corpus.source,
            sha256=corpus.sha256,
            tokenizer=f"{TOKENIZER_KIND} vocab {self.vocab_size_req} (trained on train split)" if self.kind == "bpe"
            else f"{words_kind}: the corpus's own words and <eos> ({vocab:,} types of the train split)",
            vocab_size=vocab,
            train_tokens=len(self.tokens["train"]),
            val_tokens=len(self.tokens["val"]),
            test_tokens=len(self.tokens["test"]) if "test" in self.tokens else None,
            bytes_per_token=bpt,
        )
        return self.info

    def _tokenize(self, corpus) -> tuple[int, dict[str, float]]:
        """Train or load the tokenizer and encode or load every split into self.tokens: the vocabulary size and
        the bytes per token of each split."""
        tok, tok_path = load_or_train_tokenizer(corpus, self.vocab_size_req, cache_dir(self.cache_root), self.kind)
        self.tokenizer = tok
        if self.kind == "bpe" and tok.get_vocab_size() < self.vocab_size_req:  # a small corpus: fewer merges, said
            log.warning("data.vocab_size=%d asked, but the tokenizer learned only %d tokens from %r (all its text "
                        "allows); runs use %d", self.vocab_size_req, tok.get_vocab_size(), corpus.name,
                        tok.get_vocab_size())
        if getattr(corpus, "streamed", False):  # hub corpora, PG books: streamed into memory-mapped token files
            key = hashlib.sha256(tok_path.read_bytes()).hexdigest()[:16]
            files = {s: token_file(tok, corpus, s, tok_path.parent.parent / "tokens" / f"{tok_path.stem}-{key}-{s}.bin")
                     for s in corpus.splits}
            self.tokens = {s: arr for s, (arr, _) in files.items()}
            bpt = {s: meta["bytes"] / max(1, meta["tokens"]) for s, (_, meta) in files.items()}
        else:
            self.tokens = {s: load_or_encode(tok, tok_path, corpus, s) for s in corpus.splits}
            bpt = {s: len(corpus.splits[s].encode()) / max(1, len(self.tokens[s])) for s in corpus.splits}
        return tok.get_vocab_size(), bpt

    def setup(self, stage: str | None = None) -> None:
        self.load()

    def train_epochs(self) -> float:
        """How many passes over the train split the budget makes (> 1 means data repeats)."""
        return self.max_steps * self.batch_size * self.seq_len / max(1, len(self.tokens["train"]) - 1)

    def train_dataloader(self) -> DataLoader:
        ds = TrainBatches(self.tokens["train"], self.seq_len, self.batch_size, self.max_steps,
                          self.data_seed, self.start_step, *self._rank_world())
        return StepLoader(ds, batch_size=None, shuffle=False)

    def _rank_world(self) -> tuple[int, int]:
        """This process's shard. The Trainer runs with use_distributed_sampler=False: the data shards itself,
        since Lightning's sampler would reshuffle the training batches and pad the evaluation splits."""
        t = self.trainer
        return (t.global_rank, t.world_size) if t is not None else (0, 1)

    def eval_loader(self, split: str) -> DataLoader:
        ds = EvalChunks(self.tokens[split], self.seq_len, *self._rank_world())
        return DataLoader(ds, batch_size=self.eval_batch_size)

    def val_dataloader(self) -> DataLoader:
        return self.eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self.eval_loader("test")  # corpora without a test split (TinyShakespeare) have no test loss


def bits_per_byte(loss_nats: float, bytes_per_token: float) -> float:
    return loss_nats / (math.log(2) * bytes_per_token)
