"""Where text comes from: the shared corpora (by path), any local text, and an embedded offline default.

Every corpus comes back as train / val / test strings plus a content hash, so a run record says exactly
which text it saw. The shared corpora are read in place and never copied into the project.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ffnlab.data.fetch import CANONICAL, fetch
from ffnlab.data.hub import from_config
from ffnlab.data.pgbooks import open_pgbooks
from ffnlab.errors import CorpusError, FetchError
from ffnlab.io import DEFAULT_CORPORA_DIR, ENV_CORPORA, cache_dir, corpora_dir

__all__ = ["DEFAULT_CORPORA_DIR", "ENV_CORPORA", "Corpus", "CorpusError", "corpora_dir", "load_corpus"]

# Modules whose docstrings join the pydoc topics in the embedded corpus; fixed, so the text is stable
# for one Python version (its hash goes into every record).
_EMBEDDED_MODULES = (
    "abc argparse ast asyncio base64 bisect calendar collections contextlib copy csv dataclasses datetime "
    "decimal difflib email enum fractions functools gettext glob heapq hashlib html http inspect io "
    "ipaddress itertools json logging math operator os pathlib pickle pprint queue random re shlex shutil "
    "socket sqlite3 statistics string struct subprocess tarfile tempfile textwrap threading time timeit "
    "tokenize traceback typing unittest urllib uuid warnings weakref xml zipfile zlib"
).split()



@dataclass
class Corpus:
    name: str
    description: str  # the variant, e.g. "WikiText-2 v1 tokenized release"
    source: str  # a path, or "embedded:python-<version>"
    splits: dict[str, str]  # "train", "val", optionally "test"
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        for split in ("train", "val"):
            if not self.splits.get(split, "").strip():
                raise CorpusError(f"corpus {self.name!r} at {self.source} has an empty {split} split (text "
                                  "corpora are split at line boundaries: a text of few lines, or of a few very long "
                                  "ones, leaves a split empty; add line breaks or more text)")
        h = hashlib.sha256()
        for split in sorted(self.splits):
            h.update(split.encode() + b"\0" + self.splits[split].encode() + b"\0")
        self.sha256 = h.hexdigest()

    def tokenizer_texts(self) -> list[str]:
        """What the BPE tokenizer trains on: the train split, line by line."""
        return self.splits["train"].splitlines(keepends=True)


def _split_text(text: str, fractions: tuple[float, ...]) -> list[str]:
    """Cut text at line boundaries into consecutive parts of the given fractions (last part takes the rest)."""
    lines = text.splitlines(keepends=True)
    parts, start, total = [], 0, len(text)
    for frac in fractions[:-1]:
        end = start
        target = total * frac
        size = 0
        while end < len(lines) and size < target:
            size += len(lines[end])
            end += 1
        parts.append("".join(lines[start:end]))
        start = end
    parts.append("".join(lines[start:]))
    return parts


SHARED_HINT = (f"set data.corpora_dir=PATH or ${ENV_CORPORA} to the folder holding wikitext-2/ and "
               "tinyshakespeare/ (see ../shared/corpora/README.md)")


def _hint(root: Path) -> str:
    """How to get a canonical corpus when the folder named does not hold it."""
    if os.environ.get(ENV_CORPORA):
        return (f"${ENV_CORPORA}={os.environ[ENV_CORPORA]} names a folder without it: point it at one that holds "
                f"it, or unset ${ENV_CORPORA} to fetch a verified copy from the hub (or data.fetch_from=PATH to a "
                "saved copy)")
    return SHARED_HINT + "; or data.fetch_from=PATH to rebuild it from a saved copy of the hub dataset"


def _read(path: Path, what: str, hint: str = SHARED_HINT) -> str:
    if not path.is_file():
        raise CorpusError(f"{what}: {path} not found; {hint}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(f"{what}: {path} is not UTF-8 text ({e.reason} at byte {e.start}); check the file") from e


def _verify(folder: Path, files: list[str], canonical: str | None = None) -> None:
    """Check files against the folder's SHA256SUMS, or, where it has none, against the canonical release's
    checksums (ffnlab.data.fetch) for a canonical corpus: a corrupt copy must not train silently."""
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        if canonical is not None:
            for name in files:
                if hashlib.sha256((folder / name).read_bytes()).hexdigest() != CANONICAL[canonical].sha256[name]:
                    raise CorpusError(f"{folder / name} differs from the canonical {canonical} release (sha256; the "
                                      "folder has no SHA256SUMS): the copy is corrupt or edited; restore it, or set "
                                      "data.corpora_dir elsewhere to fetch a verified copy")
        return
    expected = {}
    for n, line in enumerate(sums.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or len(parts[0]) != 64:
            raise CorpusError(f"{sums}:{n} is not a 'SHA256  FILE' line ({line.strip()[:60]!r}); restore the file "
                              f"from the corpus's source (check with: cd {folder} && sha256sum -c SHA256SUMS)")
        expected[parts[1]] = parts[0]
    for name in files:
        want = expected.get(name) or expected.get("*" + name)
        if want and hashlib.sha256((folder / name).read_bytes()).hexdigest() != want:
            raise CorpusError(
                f"{folder / name} does not match its SHA256SUMS entry: the copy is corrupt or edited; "
                f"restore it (check with: cd {folder} && sha256sum -c SHA256SUMS)"
            )


def wikitext2(root: Path) -> Corpus:
    folder = root / "wikitext-2"
    files = {"train": "wiki.train.tokens", "val": "wiki.valid.tokens", "test": "wiki.test.tokens"}
    splits = {s: _read(folder / f, "corpus 'wikitext2'", _hint(root)) for s, f in files.items()}
    _verify(folder, list(files.values()), "wikitext2")
    return Corpus("wikitext2", "WikiText-2 v1 tokenized release (word-level, <unk>), official splits",
                  str(folder), splits)


def tinyshakespeare(root: Path) -> Corpus:
    folder = root / "tinyshakespeare"
    text = _read(folder / "input.txt", "corpus 'tinyshakespeare'", _hint(root))
    _verify(folder, ["input.txt"], "tinyshakespeare")
    train, val = _split_text(text, (0.9, 0.1))
    return Corpus("tinyshakespeare", "TinyShakespeare (char-rnn input.txt), first 90% train / last 10% val; "
                  "no test split", str(folder), {"train": train, "val": val})


def text_files(path: str | os.PathLike) -> Corpus:
    """A text file, or every *.txt under a folder (sorted), split 90/5/5 at line boundaries."""
    p = Path(path).expanduser().resolve()
    if p.is_dir():
        files = sorted(p.rglob("*.txt"))
        if not files:
            raise CorpusError(f"corpus 'text': no *.txt files under {p}; point data.path at a text file or folder")
        text = "".join(_read(f, "corpus 'text'") for f in files)
    else:
        text = _read(p, "corpus 'text'", "set data.path to a text file or a folder of *.txt files")
    train, val, test = _split_text(text, (0.9, 0.05, 0.05))
    return Corpus("text", "local text, 90/5/5 split at line boundaries", str(p),
                  {"train": train, "val": val, "test": test})


@functools.lru_cache(maxsize=1)
def embedded_text() -> str:
    """Text every Python install carries: pydoc's topic help, then docstrings of fixed stdlib modules.

    Docstrings are read from the modules' source with `ast` (nothing is imported), so the text depends
    only on the Python version, not on what other packages have patched at run time; it is built once per
    process (a sweep of many runs hashes it for every run's identity).
    """
    import ast
    import importlib.util
    from pydoc_data.topics import topics

    parts = [topics[k] for k in sorted(topics)]
    for mod_name in _EMBEDDED_MODULES:
        spec = importlib.util.find_spec(mod_name)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue  # missing from a minimal build: the recorded hash shows the difference
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        parts.append(ast.get_docstring(tree) or "")
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if not node.name.startswith("_"):
                    parts.append(f"{mod_name}.{node.name}\n{ast.get_docstring(node) or ''}")
    return "\n\n".join(p.strip() for p in parts if p and p.strip()) + "\n"


def embedded() -> Corpus:
    import sys

    train, val, test = _split_text(embedded_text(), (0.9, 0.05, 0.05))
    version = ".".join(map(str, sys.version_info[:2]))
    return Corpus("embedded", "Python standard library help topics and docstrings, 90/5/5 split",
                  f"embedded:python-{version}", {"train": train, "val": val, "test": test})


CORPORA = ("embedded", "wikitext2", "tinyshakespeare", "text", "pgbooks")


def canonical_root(name: str, root: str | os.PathLike | None = None, cache: str | os.PathLike | None = None,
                   fetch_from: str | None = None) -> Path:
    """The corpora folder to read wikitext2 / tinyshakespeare from: the shared one when it holds the corpus (or
    was named explicitly), else a verified canonical copy in the cache, rebuilt from the hub if needed
    (ffnlab.data.fetch); `fetch_from` rebuilds it from a saved copy of the hub dataset instead."""
    c = CANONICAL[name]
    shared = corpora_dir(root)
    explicit = root is not None or bool(os.environ.get(ENV_CORPORA))
    if not fetch_from and (explicit or all((shared / c.folder / f).is_file() for f in c.files)):
        return shared
    dest = cache_dir(cache) / "corpora"
    try:
        return fetch(name, dest, fetch_from).parent
    except FetchError as e:
        raise CorpusError(f"corpus {name!r}: {shared / c.folder} not found, and {e}; set data.corpora_dir=PATH to "
                          f"a folder holding {c.folder}/, or data.fetch_from=PATH to a saved copy of the hub "
                          "dataset") from e


def load_corpus(name: str, root: str | os.PathLike | None = None, path: str | None = None,
                cache: str | os.PathLike | None = None, fetch_from: str | None = None) -> Corpus:
    """Load a corpus by name: embedded (default, offline), wikitext2, tinyshakespeare, or text (needs path)."""
    if name == "embedded":
        return embedded()
    if name == "wikitext2":
        return wikitext2(canonical_root(name, root, cache, fetch_from))
    if name == "tinyshakespeare":
        return tinyshakespeare(canonical_root(name, root, cache, fetch_from))
    if name == "text":
        if not path:
            raise CorpusError("corpus 'text' needs data.path=FILE_OR_FOLDER")
        return text_files(path)
    if name == "pgbooks":
        return open_corpus({"corpus": name, "corpora_dir": root, "cache_dir": cache})
    raise CorpusError(f"unknown corpus {name!r}; valid names: {', '.join(CORPORA)}")


def open_corpus(data: dict):
    """The corpus a `data` config section names: a hub recipe (HubCorpus, when it has a `hub` block) or a local
    Corpus. Its `sha256` is the data's identity, known before any tokenizing or training."""
    if data.get("hub"):
        return from_config(data["corpus"], data["hub"])
    if data["corpus"] == "pgbooks":  # streamed from its files (ffnlab.data.pgbooks)
        return open_pgbooks(corpora_dir(data.get("corpora_dir")), cache_dir(data.get("cache_dir")),
                            data.get("max_tokens"), data.get("tokenizer_chars"))
    return load_corpus(data["corpus"], data.get("corpora_dir"), data.get("path"), data.get("cache_dir"),
                       data.get("fetch_from"))
