"""The canonical corpora on any machine: rebuild WikiText-2 and TinyShakespeare from the hub, verified byte for byte.

Where the shared corpora folder is absent, `data=wikitext2` and `data=tinyshakespeare` rebuild the very files
that folder holds (WikiText-2 v1 tokenized: wiki.{train,valid,test}.tokens; char-rnn's input.txt) from the
Hugging Face hub's copies, check them against the checksums below (the shared folder's SHA256SUMS), and keep
them in the ffnlab cache (`<cache>/corpora/`), so a run elsewhere trains on exactly the published text (the same
content hash, hence the same experiment identity). A copy that does not match is refused, never used.
`data.fetch_from=PATH` reads a copy of the hub dataset saved with `datasets`' `save_to_disk` instead of the
network. Torch-free; needs the `datasets` package (the `hub` extra) only when it fetches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ffnlab.errors import FetchError
from ffnlab.io import atomic_write_bytes


def _lines(rows: list[str]) -> str:
    """WikiText on the hub: one row per line of the release file, blank lines (" ") stored as ""."""
    return "".join(row if row else " \n" for row in rows)


def _concat(rows: list[str]) -> str:
    """TinyShakespeare on the hub: one row per split holding its whole text (train, validation, test in order)."""
    return "".join(rows)


@dataclass(frozen=True)
class Canonical:
    folder: str  # the folder name in a corpora directory (as in ../shared/corpora)
    dataset: str  # the hub dataset
    config: str | None
    files: dict[str, tuple[str, ...]]  # file → the hub splits it is rebuilt from, in order
    rebuild: Callable[[list[str]], str]
    sha256: dict[str, str]  # file → its checksum (../shared/corpora/<folder>/SHA256SUMS)


CANONICAL = {
    "wikitext2": Canonical(
        "wikitext-2", "Salesforce/wikitext", "wikitext-2-v1",
        {"wiki.train.tokens": ("train",), "wiki.valid.tokens": ("validation",), "wiki.test.tokens": ("test",)},
        _lines,
        {"wiki.train.tokens": "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f",
         "wiki.valid.tokens": "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
         "wiki.test.tokens": "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0"}),
    "tinyshakespeare": Canonical(
        "tinyshakespeare", "karpathy/tiny_shakespeare", None, {"input.txt": ("train", "validation", "test")},
        _concat, {"input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"}),
}


def sha256sums(c: Canonical) -> str:
    return "".join(f"{h}  {f}\n" for f, h in c.sha256.items())


def verified(folder: Path, c: Canonical) -> bool:
    """Whether `folder` holds every file of the corpus with its canonical checksum."""
    return all((folder / f).is_file() and hashlib.sha256((folder / f).read_bytes()).hexdigest() == h
               for f, h in c.sha256.items())


def _where(c: Canonical) -> str:
    return f"the hub dataset {c.dataset}" + (f" ({c.config})" if c.config else "")


def _load(c: Canonical, source: str | None):
    try:
        import datasets
    except ImportError as e:
        raise FetchError(f"fetching {_where(c)} needs the datasets package: pip install -e '.[hub]'") from e
    try:
        if source:
            return datasets.load_from_disk(str(Path(source).expanduser()))
        return datasets.load_dataset(c.dataset, c.config)
    except Exception as e:  # offline, a missing folder, a renamed dataset: one line with the way out
        raise FetchError(f"could not {'read ' + str(source) if source else 'download ' + _where(c)} "
                         f"({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''})") from e


def fetch(name: str, dest_root: Path, source: str | None = None) -> Path:
    """Rebuild corpus `name`'s files into dest_root/<folder>/ (from the hub, or a saved copy at `source`), verify
    them, and return the folder. Files are written only once every one of them matches its checksum."""
    c = CANONICAL[name]
    folder = Path(dest_root) / c.folder
    if verified(folder, c):
        return folder
    ds = _load(c, source)
    built = {}
    for file, splits in c.files.items():
        missing = [s for s in splits if s not in ds]
        if missing:
            raise FetchError(f"{source or _where(c)} has no split {missing[0]!r} (has: {', '.join(ds)}); it is not "
                             f"a copy of {_where(c)}")
        data = c.rebuild([row for s in splits for row in ds[s]["text"]]).encode("utf-8")
        if hashlib.sha256(data).hexdigest() != c.sha256[file]:
            raise FetchError(f"{file} rebuilt from {source or _where(c)} does not match its published checksum: the "
                             "copy is not the canonical text, so it is not used; set data.corpora_dir=PATH to a "
                             f"folder holding {c.folder}/ instead")
        built[file] = data
    for file, data in built.items():
        atomic_write_bytes(folder / file, data)
    atomic_write_bytes(folder / "SHA256SUMS", sha256sums(c).encode())
    (folder / "PROVENANCE.md").write_text(f"Rebuilt by ffnlab.data.fetch from {source or _where(c)}; every file "
                                          "matches the checksum of the published copy (SHA256SUMS).\n")
    return folder
