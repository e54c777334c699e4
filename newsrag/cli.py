"""Command line: the `newsrag` app and its entry point; the commands live in cli_<group>.py.

cli_index.py: ingest, watch, check; cli_search.py: search, stats; cli_answer.py: ask, chat, serve;
cli_eval.py: eval; cli_common.py: what they share (exit codes, one-line failures, options).
"""

from __future__ import annotations

import sys

import typer

from newsrag.cli_answer import ask, chat, serve
from newsrag.cli_common import (
    EXIT_GATE_FAILED,
    EXIT_OK,
    EXIT_SKIPPED,
    AnswerKOption,
    EngineOption,
    IndexOption,
    JsonOption,
    SinceOption,
    SourceOption,
    UntilOption,
    fail,
    fail_for,
    load_settings,
    open_assistant,
    open_retriever,
)
from newsrag.cli_eval import eval_command
from newsrag.cli_help import FlagsAsFlags
from newsrag.cli_index import check, ingest, watch
from newsrag.cli_search import explain_line, search, stats
from newsrag.errors import EXIT_ENGINE, EXIT_INDEX, EXIT_NOTHING, NewsragError

app = typer.Typer(
    cls=FlagsAsFlags,
    name="newsrag",
    help="Chat and Q&A over a corpus of news articles, every claim cited to its passage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Registered in the order --help lists them.
app.command()(ingest)
app.command()(watch)
app.command()(search)
app.command()(stats)
app.command()(serve)
app.command()(check)
app.command("eval")(eval_command)
app.command()(ask)
app.command()(chat)

__all__ = [  # the commands and helpers now live in cli_<group>.py: re-exported for callers
    "EXIT_ENGINE",
    "EXIT_GATE_FAILED",
    "EXIT_INDEX",
    "EXIT_NOTHING",
    "EXIT_OK",
    "EXIT_SKIPPED",
    "AnswerKOption",
    "EngineOption",
    "IndexOption",
    "JsonOption",
    "SinceOption",
    "SourceOption",
    "UntilOption",
    "app",
    "ask",
    "chat",
    "check",
    "eval_command",
    "explain_line",
    "fail",
    "fail_for",
    "ingest",
    "load_settings",
    "main",
    "open_assistant",
    "open_retriever",
    "search",
    "serve",
    "stats",
    "watch",
]


def main() -> None:
    """Console-script entry point; a newsrag error no command caught is still one line."""
    try:
        app(prog_name="newsrag")
    except NewsragError as error:
        sys.exit(fail_for(error).exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
