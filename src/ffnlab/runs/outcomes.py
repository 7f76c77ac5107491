"""What each invocation did with each run folder of a sweep (outcome.json), read back: the list, the tally, and
the outcomes that make a sweep fail."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ffnlab.runs.record import OUTCOME_NAME

SIGNAL_EXIT = 130  # the exit status of a sweep stopped by Ctrl-C or SIGTERM

# What the tally lists (ffnlab.runs.record.OUTCOMES less "interrupted", which only ever appears as an extra).
# reused: the same experiment had finished in another sweep, so its record was copied instead of retrained.
OUTCOMES = ("ok", "failed", "diverged", "skipped", "reused", "refused")


# Outcomes that mean a run asked for was not computed: the sweep then exits non-zero. (A diverged run is a result.)
PROBLEMS = ("failed", "refused", "unreadable", "unknown")


def outcomes(sweep_dir: Path, since: float = 0.0) -> list[tuple[Path, str, str]]:
    """(run folder, outcome, detail) of every outcome written under `sweep_dir` at or after `since`."""
    found = []
    for path in sorted(Path(sweep_dir).rglob(OUTCOME_NAME)):
        try:
            outcome = json.loads(path.read_text())
        except (OSError, ValueError):
            found.append((path.parent, "unreadable", str(path)))
            continue
        if outcome.get("at", 0) >= since:
            found.append((path.parent, outcome.get("outcome", "unknown"), outcome.get("detail", "")))
    return found


def tally(sweep_dir: Path, since: float = 0.0) -> Counter:
    """Count the outcomes written under `sweep_dir` at or after `since` (a time.time() value)."""
    return Counter(outcome for _, outcome, _ in outcomes(sweep_dir, since))
