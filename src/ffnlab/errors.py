"""ffnlab's one error base: a user's mistake or a missing resource, said in one line with the fix.

Every command-line tool turns an `FfnlabError` into `<tool>: error: <message>` and exit code 2; any other
exception is a bug and keeps its traceback. The subclasses live beside the code that raises them (ConfigError
in model.py, CorpusError in corpora.py, UnknownVariantError in ffn.py) and all derive from this one.
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
