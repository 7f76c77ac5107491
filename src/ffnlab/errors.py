"""ffnlab's one error base: a user's mistake or a missing resource, said in one line with the fix.

Every command-line tool turns an `FfnlabError` into `<tool>: error: <message>` and exit code 2; any other
exception is a bug and keeps its traceback. Every error ffnlab raises on purpose is one of the classes below, so
one look lists them; the ones that are also a ValueError or RuntimeError stay catchable as such.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn

EXIT_USER_ERROR = 2


class FfnlabError(Exception):
    """A problem the user can fix; the message names the setting or file and what to do."""


class ConfigError(FfnlabError, ValueError):
    """A model or run setting that cannot work; the message says what to change."""


class UnknownVariantError(FfnlabError, ValueError):
    """An FFN variant name that is not in the registry (ffnlab.model.ffn.VARIANTS)."""


class CorpusError(FfnlabError, RuntimeError):
    """A corpus that cannot be found or read; the message names what was looked for and how to fix it."""


class FetchError(FfnlabError, RuntimeError):
    """A corpus copy that could not be fetched, or whose bytes do not match the canonical sums."""


class BlimpError(FfnlabError, RuntimeError):
    """BLiMP's files missing or altered; the message says where they were looked for and how to get them."""


class RecordError(FfnlabError, ValueError):
    """A run record that is not one, is of a newer schema, or breaks the validity rule (ffnlab.runs.record)."""


class UnwritableError(FfnlabError):
    """A folder ffnlab must write into that cannot be written."""


class FolderBusyError(FfnlabError):
    """A run folder another ffnlab-train process is writing (its lock is held)."""


class ReportError(FfnlabError):
    """Run records that cannot make the report asked for."""


class EvalError(FfnlabError):
    """A run ffnlab-eval cannot score (no record, no final checkpoint)."""


class DocsError(FfnlabError):
    """A generated README part that is stale, or a claim sentence without its source."""


class BenchError(FfnlabError, RuntimeError):
    """A benchmark that could not measure what it was asked (a sweep that failed, no records to project from)."""


class DivergedError(RuntimeError):
    """Training produced a non-finite loss: a result of the run (recorded as diverged), not a user's mistake."""


def fail(tool: str, message: object) -> NoReturn:
    """Print the one line `<tool>: error: <message>` to stderr and exit with code 2."""
    print(f"{tool}: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def cli_errors(tool: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a CLI entry point: an FfnlabError becomes one line and exit 2; anything else propagates."""

    def wrap(main: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(main)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return main(*args, **kwargs)
            except FfnlabError as e:
                fail(tool, e)

        return run

    return wrap
