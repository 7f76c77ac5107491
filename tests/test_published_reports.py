"""Every published report rebuilds from its committed records, byte for byte.

Each results/**/REPORT_COMMAND.txt names, on its first line, the command that rebuilds its folder from git alone.
Here that command runs on a copy of the folder's records/ in a temporary folder, and every file the published
report lists in its manifest (tables, prose, figures) must come out identical: a number, a sentence or a figure
that no longer follows from the records fails the suite, naming the file. Slow (the scaling report alone takes
minutes): `python -m pytest -m slow`, run by CI.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from ffnlab.cli.report import main as report_main
from ffnlab.report.folder import FIRST, MANIFEST, RECORDS

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = sorted(p.parent for p in (REPO / "results").rglob("REPORT_COMMAND.txt"))


def _command(folder: Path) -> tuple[list[str], Path]:
    """The rebuild command's read folders and its --out, from the first line of REPORT_COMMAND.txt."""
    words = shlex.split((folder / "REPORT_COMMAND.txt").read_text().splitlines()[0])
    assert words[0] == "ffnlab-report" and "--out" in words, f"{folder}: the first line is no ffnlab-report command"
    out = words[words.index("--out") + 1]
    roots = [w for w in words[1:] if not w.startswith("--") and w != out and not w.isdigit()]
    return roots, REPO / out


def test_every_published_report_names_a_rebuild_from_its_own_records():
    assert len(PUBLISHED) >= 10
    for folder in PUBLISHED:
        roots, out = _command(folder)
        assert out == folder, f"{folder}: REPORT_COMMAND.txt writes {out}"
        for root in roots:  # from git alone: the folder's own records, never a run folder outside the repository
            assert (REPO / root).is_dir() and (folder / RECORDS) in (REPO / root).parents, f"{folder}: reads {root}"


@pytest.mark.slow
@pytest.mark.parametrize("folder", PUBLISHED, ids=[str(p.relative_to(REPO / "results")) for p in PUBLISHED])
def test_a_published_report_rebuilds_byte_for_byte(folder, tmp_path, monkeypatch):
    roots, out = _command(folder)
    shutil.copytree(folder / RECORDS, tmp_path / RECORDS)
    for name in (MANIFEST, "REPORT_COMMAND.txt"):  # a report folder, as in the repository: rebuilt in place
        shutil.copyfile(folder / name, tmp_path / name)
    here = [str(tmp_path / Path(r).relative_to(out.relative_to(REPO))) for r in roots]
    argv = [*here, "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", ["ffnlab-report", *argv])
    report_main(argv)
    published = [f for f in json.loads((folder / MANIFEST).read_text())
                 if f != "REPORT_COMMAND.txt" and not f.startswith(f"{RECORDS}/")]
    assert published, f"{folder}: its manifest lists no file"
    differ = [f for f in published if (tmp_path / f).read_bytes() != (folder / f).read_bytes()]
    assert not differ, f"{folder}: rebuilt from its records, these files differ: {', '.join(differ)}"
    rebuilt = json.loads((tmp_path / MANIFEST).read_text())
    made = (folder / "REPORT_COMMAND.txt").read_text().splitlines()
    first = made[1] if len(made) > 1 else FIRST + made[0]  # the command that first wrote it, kept
    assert (tmp_path / "REPORT_COMMAND.txt").read_text().splitlines()[1:] == [first]
    extra = sorted(set(rebuilt) - set(json.loads((folder / MANIFEST).read_text())))
    assert not extra, f"{folder}: the rebuild writes files the published report lacks: {', '.join(extra)}"
