"""PG books: read in place book by book, verified once, streamed into token files; a generated copy of its layout
exercises the code everywhere, the real folder where ../shared is present."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import TINY, ffnlab_train, needs_shared
from ffnlab.data.corpora import CorpusError, corpora_dir, embedded_text, open_corpus
from ffnlab.data.pgbooks import BOOK_CHARS


def _layout(root, n_books=12, corrupt=False):
    """A small corpus in pg-books' layout: books cut from the embedded text, split by book like the real one."""
    text = embedded_text()
    size = len(text) // n_books
    books = [text[i * size:(i + 1) * size].strip() + "\n" for i in range(n_books)]
    split = {i: "valid" if i % 6 == 0 else "test" if i % 6 == 1 else "train" for i in range(n_books)}
    folder = root / "pg-books"
    folder.mkdir(parents=True)
    rows, files = [], {"train": "train-00.txt", "valid": "valid.txt", "test": "test.txt"}
    for s, name in files.items():
        data = b""
        for i in (i for i in range(n_books) if split[i] == s):
            body = books[i].encode()
            rows.append(f"{s}\t{name}\t{len(data)}\t{len(body)}\t{len(books[i].split())}\t{i}\tx\tauthor\tbook {i}")
            data += body + b"\n"
        (folder / name).write_bytes(data)
    (folder / "MANIFEST.tsv").write_text("split\tfile\tbyte_offset\tbyte_length\twords\tpg_ebook_id\t"
                                         "source_blob_sha1\tauthor_dir\ttitle\n" + "\n".join(rows) + "\n")
    sums = "".join(f"{hashlib.sha256((folder / f).read_bytes()).hexdigest()}  {f}\n"
                   for f in ("MANIFEST.tsv", *files.values()))
    (folder / "SHA256SUMS").write_text(sums)
    if corrupt:
        (folder / "valid.txt").write_bytes((folder / "valid.txt").read_bytes().replace(b"e", b"a", 1))
    return books, split


def test_books_stream_at_their_manifest_offsets_and_the_sample_is_fixed(tmp_path):
    books, split = _layout(tmp_path)
    c = open_corpus({"corpus": "pgbooks", "corpora_dir": str(tmp_path), "cache_dir": str(tmp_path / "cache")})
    assert list(c.texts("val")) == [b for i, b in enumerate(books) if split[i] == "valid"]
    train = [b for i, b in enumerate(books) if split[i] == "train"]
    assert list(c.tokenizer_texts()) == [b[:BOOK_CHARS] for b in train]  # every train book's head
    assert "not PG-19" in c.description


def test_a_corrupt_file_is_refused_and_a_verified_folder_is_not_hashed_again(tmp_path):
    _layout(tmp_path / "bad", corrupt=True)
    with pytest.raises(CorpusError, match="valid.txt does not match its SHA256SUMS"):
        open_corpus({"corpus": "pgbooks", "corpora_dir": str(tmp_path / "bad"), "cache_dir": str(tmp_path / "c")})
    _layout(tmp_path / "good")
    open_corpus({"corpus": "pgbooks", "corpora_dir": str(tmp_path / "good"), "cache_dir": str(tmp_path / "c")})
    assert len(list((tmp_path / "c" / "verified").iterdir())) == 1  # the check's result lives with the cache


def test_without_the_folder_the_error_says_where_it_comes_from_and_offers_pg19(tmp_path):
    with pytest.raises(CorpusError) as e:
        open_corpus({"corpus": "pgbooks", "corpora_dir": str(tmp_path), "cache_dir": str(tmp_path / "c")})
    assert "PROVENANCE.md" in str(e.value) and "data=pg19" in str(e.value) and "\n" not in str(e.value)


def test_a_run_on_pgbooks_streams_token_files_and_evaluates_a_fixed_prefix(env, tmp_path):
    _layout(tmp_path / "corpora")
    args = ["data=pgbooks", f"data.corpora_dir={tmp_path / 'corpora'}", "data.max_tokens.val=3000",
            "data.tokenizer_chars=200000", *TINY, "trainer.max_steps=8"]
    ffnlab_train(*args, env=env, cwd=tmp_path)
    (rec,) = [json.loads(p.read_text()) for p in tmp_path.rglob("metrics.json")]
    data = rec["data"]
    assert rec["status"] == "ok" and data["corpus"] == "pgbooks" and data["source"].endswith("pg-books")
    assert 3000 <= data["val_tokens"] < 3000 + 40_000  # whole books until the cap: the one reaching it stays whole
    tokens = Path(env["FFNLAB_CACHE"]) / "tokens"
    assert list(tokens.glob("pgbooks-*-train.bin")) and list(tokens.glob("pgbooks-*-val.json"))  # memory-mapped


@needs_shared
def test_the_shared_pg_books_folder_verifies_and_splits_by_book():
    c = open_corpus({"corpus": "pgbooks", "corpora_dir": str(corpora_dir()), "max_tokens": {"val": 524288}})
    assert [len(c.books(s)) for s in ("train", "val", "test")] == [429, 28, 35]
    first = next(c.texts("val"))
    assert first.endswith("\n") and len(first.encode()) == int(c.books("val")[0]["byte_length"])
