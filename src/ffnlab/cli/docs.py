"""Generated numbers in prose: Markdown blocks that copy a generated file instead of retyping it.

In README.md and experiments/*/README.md a block

    <!-- include results/shazeer/headline.md table -->
    ...the copy...
    <!-- /include -->

holds a part of a file that ffnlab-report or ffnlab-bench wrote. `ffnlab-docs` rewrites every block from its file;
`ffnlab-docs --check` (and the test suite) fails when a copy differs from what its file says now. Parts:

  (none)           the whole file, less its first `# ` heading
  table            the first Markdown table and the paragraph under it (its caption)
  verdict          the paragraph that starts with **Verdict.**
  section=TITLE    from the heading that starts with TITLE to the next heading of the same level

`<!-- include studies -->` is the table of studies (experiments/README.md): one row per experiments/<study>/,
its question from the title of its README and its status read from results/<study>/ (the finished runs its
report counts, the records waiting in pending/), so the table cannot say a study is not run once it is.

Torch-free.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

from ffnlab.errors import DocsError, cli_errors
from ffnlab.io import REPO_ROOT, atomic_write_text

BLOCK = re.compile(r"(<!-- include (?P<path>\S+)(?: (?P<part>\S+))? -->\n)(?P<body>.*?)(<!-- /include -->)", re.S)
DOCS = ("README.md", "experiments/README.md", "experiments/*/README.md")



def _paragraphs(text: str) -> list[str]:
    return [p.strip("\n") for p in re.split(r"\n\s*\n", text) if p.strip()]


def part(text: str, which: str | None, where: str = "") -> str:
    """The named part of a generated Markdown file (see the module docstring)."""
    lines = text.strip("\n").splitlines()
    if which is None:
        if lines and lines[0].startswith("# "):
            lines = lines[1:]
        return "\n".join(lines).strip("\n")
    paragraphs = _paragraphs(text)
    if which == "table":
        for i, p in enumerate(paragraphs):
            if p.lstrip().startswith("|"):
                caption = paragraphs[i + 1] if i + 1 < len(paragraphs) and not paragraphs[i + 1].startswith(
                    ("|", "#", "**Verdict")) else ""
                return p + ("\n\n" + caption if caption else "")
    elif which == "verdict":
        for p in paragraphs:
            if p.startswith("**Verdict.**"):
                return p
    elif which.startswith("section="):
        title = which.split("=", 1)[1].replace("_", " ")
        for i, line in enumerate(lines):
            level = len(line) - len(line.lstrip("#"))
            if level and line[level:].strip().startswith(title):
                end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("#" * level + " ")),
                           len(lines))
                return "\n".join(lines[i + 1:end]).strip("\n")
    raise DocsError(f"{where}: no part {which!r} in the file it includes; parts: table, verdict, section=TITLE")


RESULTS_OF = {"shazeer_gpu": "shazeer/gpu_timing"}  # a study whose results live in another study's folder


def _status(results: Path, rel: str) -> str:
    """A study's status as its results folder says it: the report's finished runs and variants, else the folder."""
    if not results.is_dir():
        return "not run (no results folder)"
    runs = results / "runs.csv"
    if not runs.is_file():
        return f"[`results/{rel}/`](../results/{rel}/) (no run report)"
    ok = [r for r in csv.DictReader(runs.read_text().splitlines()) if r.get("status") == "ok"]
    pending = len(list((results / "pending").rglob("metrics.json"))) if (results / "pending").is_dir() else 0
    return (f"[{len(ok)} finished runs](../results/{rel}/headline.md), {len({r.get('ffn') for r in ok})} variants"
            + (f"; {pending} records of unfinished seed blocks in `pending/`" if pending else ""))


def studies_table(root: Path = REPO_ROOT) -> str:
    """The table of studies: each experiments/<study>/README.md's title and its results folder's status."""
    lines = ["| study | question | results |", "|---|---|---|"]
    for readme in sorted((root / "experiments").glob("*/README.md")):
        name = readme.parent.name
        text = readme.read_text()
        title = text.splitlines()[0].lstrip("# ").strip()
        asked = re.search(r"\*\*Question\.\*\*\s+(.+?\?)", text, re.S)  # a title without one: its **Question.**
        question = re.split(r" — |: ", title, maxsplit=1)[1] if re.search(r" — |: ", title) else \
            " ".join(asked[1].split()) if asked else title
        rel = RESULTS_OF.get(name, name)
        lines.append(f"| [{name}]({name}/README.md) | {question} | {_status(root / 'results' / rel, rel)} |")
    return "\n".join(lines)


def render(doc: Path, root: Path = REPO_ROOT) -> str:
    """The document with every include block filled from its file as the file is now."""
    text = doc.read_text()

    def fill(m: re.Match) -> str:
        if m["path"] == "studies":
            return f"{m.group(1)}{studies_table(root)}\n{m.group(5)}"
        src = root / m["path"]
        if not src.is_file():
            raise DocsError(f"{doc}: includes {m['path']}, which does not exist; run the command that writes it")
        return f"{m.group(1)}{part(src.read_text(), m['part'], f'{doc}: {m[0].splitlines()[0]}')}\n{m.group(5)}"

    return BLOCK.sub(fill, text)


def documents(root: Path = REPO_ROOT) -> list[Path]:
    return sorted(p for pattern in DOCS for p in root.glob(pattern) if BLOCK.search(p.read_text()))


def stale(root: Path = REPO_ROOT) -> list[Path]:
    """The documents whose include blocks differ from their files."""
    return [doc for doc in documents(root) if render(doc, root) != doc.read_text()]


# Words by which a sentence claims a finding: that a variant beats, trails or ties another, or that an effect
# builds, holds or shows. Such a sentence must rest on a generated file (a results/ path in its paragraph).
CLAIM = re.compile(r"\b(beats?|beating|trails?|trailing|ties|tied|builds|holds(?! [`a-z]*`)(?! (?:a|the|its|one|"
                   r"every|it)\b)|(?<!it )shows|outperforms?|significant(?:ly)?|equivalent)\b", re.I)
CITES = re.compile(r"results/[\w./=-]+")
# A rule's definition is no claim: "a variant beats ReLU in a cell when its interval ...", "until every contrast
# is a difference or equivalent", a claim word quoted as a term.
RULE = re.compile(r"\bwhen its\b|\buntil\b|\bis a claim about\b|\bcounts as\b|^\W*\"")
_SKIP = re.compile(r"<!-- include .*?<!-- /include -->|```.*?```|<!--.*?-->", re.S)


def _items(text: str) -> list[str]:
    """The paragraphs of Markdown prose, each list item its own; tables and headings left out."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", _SKIP.sub("\n\n", text)):
        item: list[str] = []
        for line in para.splitlines():
            if line.lstrip().startswith(("|", "#", "![")):
                continue
            if re.match(r"\s*([-*]|\d+\.) ", line) and item:
                out.append(" ".join(item))
                item = []
            item.append(line.strip())
        if item:
            out.append(" ".join(item))
    return out


def unsupported_claims(doc: Path) -> list[str]:
    """The sentences of `doc` (outside generated includes and code) that claim a finding in a paragraph citing no
    generated file (results/...); a question ("whether", "?") and a rule's definition (RULE) claim nothing."""
    bad = []
    for item in _items(doc.read_text()):
        if CITES.search(item):
            continue
        for sentence in re.split(r"(?<=[.;:!?])\s+(?=[A-Z*(])", item):
            if CLAIM.search(sentence) and "?" not in sentence and "whether" not in sentence.lower() \
                    and not RULE.search(sentence):
                bad.append(sentence.strip())
    return bad


def claim_documents(root: Path = REPO_ROOT) -> list[Path]:
    return sorted(p for pattern in DOCS for p in root.glob(pattern))


@cli_errors("ffnlab-docs")
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ffnlab-docs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="only report documents whose copies are stale (exit 1)")
    args = p.parse_args(argv)
    docs = stale()
    if args.check:
        for doc in docs:
            print(f"ffnlab-docs: {doc.relative_to(REPO_ROOT)} is stale: run ffnlab-docs", file=sys.stderr)
        claims = [(doc, c) for doc in claim_documents() for c in unsupported_claims(doc)]
        for doc, c in claims:
            print(f"ffnlab-docs: {doc.relative_to(REPO_ROOT)}: a claim cites no generated file: {c[:100]}",
                  file=sys.stderr)
        sys.exit(1 if docs or claims else 0)
    for doc in docs:
        atomic_write_text(doc, render(doc))
        print(f"updated {doc.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
