"""What every command shares: exit codes, one-line failures, settings with overrides, common options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from newsrag.cli_help import describe_settings_error
from newsrag.config import Settings
from newsrag.errors import EXIT_NOTHING, NewsragError, outcome

# Exit codes, shared by every command (an error's code comes from its class: errors.py).
EXIT_OK = 0
EXIT_SKIPPED = 1  # --strict and something was skipped
EXIT_GATE_FAILED = 1  # eval: a gate failed (the failing metric is named on stderr)


def fail(message: str, code: int) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def fail_for(error: NewsragError) -> typer.Exit:
    """Print the error's one line and return the Exit its class maps to (docs/errors.md)."""
    found = outcome(error)
    assert found is not None  # a NewsragError always has an outcome
    return fail(found.message, found.exit_code)


def load_settings(**overrides: Any) -> Settings:
    """Settings from env/.env with command-line overrides (None means: not given)."""
    from pydantic import ValidationError

    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as error:  # one line naming the variable, not pydantic's dump
        raise fail(describe_settings_error(error, given), EXIT_NOTHING) from error


IndexOption = Annotated[
    Path | None,
    typer.Option("--index", help="Index folder (default: NEWSRAG_INDEX_DIR or index/)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
# The question's filters, the same on search, ask and chat (make_question checks them).
SinceOption = Annotated[str | None, typer.Option(help="Only articles on/after YYYY-MM-DD.")]
UntilOption = Annotated[str | None, typer.Option(help="Only articles on/before YYYY-MM-DD.")]
SourceOption = Annotated[
    list[str] | None, typer.Option("--source", help="Only this outlet (repeatable).")
]
AnswerKOption = Annotated[int | None, typer.Option("-k", "--k", help="Passages to answer from.")]

EngineOption = Annotated[
    str | None,
    typer.Option(
        "--engine", help="extractive, reader, openai or ollama (default: NEWSRAG_ENGINE)."
    ),
]


def open_retriever(settings: Settings) -> Any:
    """Open the retriever or exit with a one-line reason."""
    from newsrag.retrieval import Retriever

    try:
        return Retriever.open(settings)
    except NewsragError as error:
        raise fail_for(error) from error


def open_assistant(settings: Settings) -> Any:
    """Open the index and the answer engine or exit with a one-line reason."""
    from newsrag.assistant import Assistant

    retriever = open_retriever(settings)
    try:
        return Assistant.open(settings, retriever=retriever)
    except NewsragError as error:
        raise fail_for(error) from error
