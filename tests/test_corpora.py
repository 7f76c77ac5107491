"""Corpora: the embedded default always works; shared corpora are read in place and checked; errors help."""

import shutil

import pytest

from conftest import needs_shared
from ffnlab.data.corpora import CorpusError, corpora_dir, embedded, load_corpus


def test_embedded_corpus_is_stable_and_nonempty():
    a, b = embedded(), embedded()
    assert a.sha256 == b.sha256
    assert len(a.splits["train"]) > 300_000 and len(a.splits["val"]) > 10_000 and a.splits["test"]
    assert a.splits["train"][-200:] not in a.splits["val"]


def test_embedded_corpus_does_not_depend_on_imported_packages():
    before = embedded().sha256
    import lightning  # noqa: F401  (patches some stdlib functions at import)
    import torch  # noqa: F401

    assert embedded().sha256 == before


def test_missing_corpus_names_what_was_looked_for(tmp_path):
    with pytest.raises(CorpusError, match=r"wiki.train.tokens not found.*corpora_dir"):
        load_corpus("wikitext2", root=tmp_path)


def test_unknown_corpus_lists_valid_names():
    with pytest.raises(CorpusError, match="valid names: embedded"):
        load_corpus("c4-typo")


def test_text_corpus_needs_a_path_and_splits_a_file(tmp_path):
    with pytest.raises(CorpusError, match="data.path"):
        load_corpus("text")
    f = tmp_path / "a.txt"
    f.write_text("".join(f"line {i} of some text\n" for i in range(1000)))
    c = load_corpus("text", path=str(f))
    assert "".join(c.splits[s] for s in ("train", "val", "test")) == f.read_text()


def test_empty_corpus_is_an_error(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(CorpusError, match="empty"):
        load_corpus("text", path=str(tmp_path / "empty.txt"))


@needs_shared
def test_wikitext2_official_splits():
    c = load_corpus("wikitext2")
    assert [len(c.splits[s].splitlines()) for s in ("train", "val", "test")] == [36718, 3760, 4358]
    assert c.splits["train"].startswith(" \n = Valkyria Chronicles III = ")


@needs_shared
def test_tinyshakespeare_90_10():
    c = load_corpus("tinyshakespeare")
    assert "test" not in c.splits
    total = len(c.splits["train"]) + len(c.splits["val"])
    assert total == 1_115_394 and abs(len(c.splits["train"]) / total - 0.9) < 0.001


@needs_shared
def test_corrupt_shared_file_is_detected(tmp_path):
    src = corpora_dir() / "tinyshakespeare"
    dst = tmp_path / "tinyshakespeare"
    shutil.copytree(src, dst)
    (dst / "input.txt").write_text((src / "input.txt").read_text()[:-10] + "tampered!\n")
    with pytest.raises(CorpusError, match="SHA256SUMS"):
        load_corpus("tinyshakespeare", root=tmp_path)
