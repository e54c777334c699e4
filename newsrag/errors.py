"""The one error family: every project exception is a NewsragError, mapped once to exit code, HTTP status and UI line.

docs/errors.md lists the table (class -> exit code -> HTTP status); tests/test_errors.py checks the
CLI, the HTTP API and the UI against it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "EXIT_ENGINE",
    "EXIT_INDEX",
    "EXIT_NOTHING",
    "EXIT_PROBLEMS",
    "EngineUnavailableError",
    "ErrorOutcome",
    "IndexUnavailableError",
    "InputError",
    "NewsragError",
    "outcome",
]

# Exit codes shared by every command (cli.py re-exports them).
EXIT_PROBLEMS = 1  # --strict and something was skipped; check found problems; a gate failed
EXIT_NOTHING = 2  # bad input, arguments or settings
EXIT_INDEX = 3  # index missing, locked, built with another model, store unreachable
EXIT_ENGINE = 4  # the LLM endpoint is down, failing or too slow


class NewsragError(Exception):
    """Base of every newsrag exception: how each front-end reports it is set on the class."""

    # Set per class (ApiError sets its status per instance).
    exit_code: int = EXIT_NOTHING
    # 500 means "not the client's doing": the HTTP API answers "internal error" and logs it.
    http_status: int = 500
    api_code: str | None = None  # the OpenAI-style error code of the HTTP body
    api_prefix: str = ""  # what the HTTP message says before the error's own text
    hint: str = "see the message"  # one line: what to do (docs/errors.md)


@dataclass(frozen=True)
class ErrorOutcome:
    """What every front-end makes of one error."""

    exit_code: int
    http_status: int
    api_code: str | None
    message: str  # one line, the error's own text (or its class's hint when it has none)
    api_message: str


def outcome(error: BaseException) -> ErrorOutcome | None:
    """The one mapping (CLI, HTTP API and UI); None for an exception that is not newsrag's."""
    if not isinstance(error, NewsragError):
        return None
    message = " ".join(str(error).split()) or error.hint
    prefix = error.api_prefix
    return ErrorOutcome(
        exit_code=error.exit_code,
        http_status=error.http_status,
        api_code=error.api_code,
        message=message,
        api_message=f"{prefix}: {error}" if prefix else str(error),
    )


# The families: a project error derives from one of these (or NewsragError) and names its hint.


class InputError(NewsragError):
    """Input that cannot be used (a file, a field, an upload); the message names it and the fix."""

    http_status, api_code = 400, "invalid_value"
    hint = "fix the input as the message says"


class IndexUnavailableError(NewsragError):
    """The index cannot be used (missing, damaged, another model, store unreachable)."""

    exit_code, http_status, api_code = EXIT_INDEX, 503, "index_unavailable"
    api_prefix = "the index is not available"
    hint = "run `newsrag check`, then `newsrag ingest`"


class EngineUnavailableError(NewsragError):
    """Answering cannot start: a broken prompt template or embedding model."""

    http_status, api_code = 503, "engine_unavailable"
    api_prefix = "answering is not available"
    hint = "fix the setting or file named"
