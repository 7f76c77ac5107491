"""PG books (../shared/corpora/pg-books): 492 public-domain books, read in place, streamed book by book.

Not PG-19: a Project Gutenberg snapshot split by book (the folder's README and PROVENANCE say how it was made);
results on it are labelled "PG books". Its 180 MB of training text is never held in memory: `texts(split)` reads
one book at a time at the offsets of MANIFEST.tsv, and the data module tokenizes each split once into a
memory-mapped token file in the cache (ffnlab.data.hub.token_file), as it does for hub corpora.

Fixed choices, the same for every run (they are part of the corpus's identity, `sha256`):
  tokenizer sample  the first BOOK_CHARS characters of every train book, in PG-id order, up to tokenizer_chars
                    (spread over all 429 books rather than the first few authors)
  evaluation        a prefix of the validation split: whole books in PG-id order until max_tokens["val"] tokens
                    are reached (the book that reaches it is kept whole), likewise for test; train has no cap
The files are checked against the folder's SHA256SUMS once; the result is kept in the cache, keyed by the
SHA256SUMS content, so later runs do not re-hash 200 MB.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ffnlab.errors import CorpusError
from ffnlab.io import atomic_write_text

FOLDER = "pg-books"
SPLITS = {"train": "train", "val": "valid", "test": "test"}  # ffnlab's split → MANIFEST.tsv's
BOOK_CHARS = 50_000
WHERE = ("PG books is the shared folder pg-books/ (a Project Gutenberg snapshot built for this project; see its "
         "PROVENANCE.md), not a public download; set data.corpora_dir=PATH to a folder holding pg-books/, or use "
         "data=pg19, the hub's PG-19 (deepmind/pg19), a different corpus with its own splits")


@dataclass
class PGBooks:
    """The corpus as a recipe: where the folder is, and the fixed caps. `streamed`: read through texts()."""

    folder: Path
    max_tokens: dict[str, int | None] = field(default_factory=dict)  # per split; None: the whole split
    tokenizer_chars: int = 20_000_000
    name: str = "pgbooks"
    streamed = True

    @property
    def splits(self) -> dict[str, str]:
        return dict(SPLITS)

    @property
    def description(self) -> str:
        caps = ", ".join(f"{s}: whole books up to {n:,} tokens" for s, n in self.max_tokens.items() if n)
        return "PG books (492 public-domain Project Gutenberg books, split by book; not PG-19)" + \
            (f"; {caps}" if caps else "")

    @property
    def source(self) -> str:
        return str(self.folder)

    @property
    def sha256(self) -> str:
        """The text (the folder's SHA256SUMS, verified) and the recipe's caps: what runs and caches are keyed on."""
        spec = {"sums": hashlib.sha256((self.folder / "SHA256SUMS").read_bytes()).hexdigest(),
                "max_tokens": self.max_tokens, "tok_chars": self.tokenizer_chars, "book_chars": BOOK_CHARS}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def books(self, split: str) -> list[dict[str, str]]:
        """MANIFEST.tsv's rows of one split, in file order."""
        with open(self.folder / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
            return [row for row in csv.DictReader(f, delimiter="\t") if row["split"] == SPLITS[split]]

    def texts(self, split: str) -> Iterator[str]:
        """The split's books, one at a time (each ends with a newline)."""
        handles: dict[str, object] = {}
        try:
            for row in self.books(split):
                f = handles.get(row["file"]) or handles.setdefault(row["file"], open(self.folder / row["file"], "rb"))
                f.seek(int(row["byte_offset"]))
                yield f.read(int(row["byte_length"])).decode("utf-8")
        finally:
            for f in handles.values():
                f.close()

    def tokenizer_texts(self) -> Iterator[str]:
        seen = 0
        for book in self.texts("train"):
            part = book[:BOOK_CHARS]
            yield part
            seen += len(part)
            if seen >= self.tokenizer_chars:
                return


def verify_once(folder: Path, cache: Path) -> None:
    """Check every file against the folder's SHA256SUMS, unless a check of the same SHA256SUMS already passed
    (a marker in the cache). A mismatch is a CorpusError naming the file and how to check the copy."""
    sums = folder / "SHA256SUMS"
    key = hashlib.sha256(sums.read_bytes()).hexdigest()[:16]
    marker = cache / "verified" / f"pgbooks-{key}-{hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:8]}"
    if marker.is_file():
        return
    for line in sums.read_text().splitlines():
        if not line.strip():
            continue
        want, name = line.split()
        h = hashlib.sha256()
        with open(folder / name.lstrip("*"), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 24), b""):
                h.update(chunk)
        if h.hexdigest() != want:
            raise CorpusError(f"{folder / name} does not match its SHA256SUMS entry: the copy is corrupt or edited; "
                              f"restore it (check with: cd {folder} && sha256sum -c SHA256SUMS)")
    atomic_write_text(marker, f"{folder}: every file matches SHA256SUMS\n")


def open_pgbooks(root: Path, cache: Path, max_tokens: dict | None, tokenizer_chars: int | None) -> PGBooks:
    folder = Path(root) / FOLDER
    if not (folder / "MANIFEST.tsv").is_file() or not (folder / "SHA256SUMS").is_file():
        raise CorpusError(f"corpus 'pgbooks': {folder} not found; {WHERE}")
    verify_once(folder, cache)
    return PGBooks(folder, dict(max_tokens or {}), int(tokenizer_chars or 20_000_000))
