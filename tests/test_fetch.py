"""The canonical corpora without the shared folder: rebuilt from (a saved copy of) the hub dataset, verified."""

from __future__ import annotations

import pytest

import ffnlab.data.corpora
from conftest import needs_shared
from ffnlab.data.corpora import CorpusError, corpora_dir, load_corpus, open_corpus
from ffnlab.data.fetch import CANONICAL

datasets = pytest.importorskip("datasets", reason="the fetch path reads hub datasets (pip install -e '.[hub]')")


def _hub_copy(name: str, dest, corrupt: bool = False):
    """A copy laid out as the hub dataset is, made from the shared files (no network): WikiText one row per
    line with blank lines as "", TinyShakespeare one row per split (the TFDS cut of input.txt)."""
    folder = corpora_dir() / CANONICAL[name].folder
    if name == "wikitext2":
        splits = {split: [ln if ln.strip() else "" for ln in (folder / f).read_text().splitlines(keepends=True)]
                  for f, (split,) in CANONICAL[name].files.items()}
    else:
        text = (folder / "input.txt").read_text()
        splits = {"train": [text[:1003854]], "validation": [text[1003854:1059624]], "test": [text[1059624:]]}
    if corrupt:  # one character of one line changed
        i = max(i for i, row in enumerate(splits["train"]) if "e" in row)
        splits["train"][i] = splits["train"][i].replace("e", "a", 1)
    datasets.DatasetDict({s: datasets.Dataset.from_dict({"text": rows}) for s, rows in splits.items()}
                         ).save_to_disk(str(dest))
    return dest


@needs_shared
@pytest.mark.parametrize("name", ["wikitext2", "tinyshakespeare"])
def test_a_saved_hub_copy_rebuilds_the_published_files_exactly(name, tmp_path):
    source = _hub_copy(name, tmp_path / "hub")
    fetched = load_corpus(name, cache=tmp_path / "cache", fetch_from=str(source))
    assert fetched.sha256 == load_corpus(name).sha256  # the same text: the same experiment identity
    assert str(tmp_path / "cache" / "corpora") in fetched.source
    again = open_corpus({"corpus": name, "cache_dir": str(tmp_path / "cache"), "fetch_from": str(tmp_path / "gone")})
    assert again.sha256 == fetched.sha256  # a verified copy in the cache is used as it is


@needs_shared
def test_a_corrupted_copy_is_refused_and_nothing_is_kept(tmp_path):
    source = _hub_copy("wikitext2", tmp_path / "hub", corrupt=True)
    with pytest.raises(CorpusError, match="does not match its published checksum"):
        load_corpus("wikitext2", cache=tmp_path / "cache", fetch_from=str(source))
    assert not (tmp_path / "cache" / "corpora" / "wikitext-2").exists()


def test_offline_without_a_local_copy_is_one_line_naming_the_download_and_the_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("FFNLAB_CORPORA", raising=False)
    monkeypatch.setattr(ffnlab.data.corpora, "corpora_dir", lambda root=None: tmp_path / "no-shared")

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'Salesforce/wikitext' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(CorpusError) as e:
        load_corpus("wikitext2", cache=tmp_path / "cache")
    message = str(e.value)
    assert "\n" not in message and "Salesforce/wikitext (wikitext-2-v1)" in message
    assert "data.corpora_dir=PATH" in message and "data.fetch_from=PATH" in message
