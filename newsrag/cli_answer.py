"""The answering commands: `newsrag ask`, `chat` (terminal) and `serve` (HTTP API and web UI)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from newsrag.cli_common import (
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
)
from newsrag.errors import EXIT_NOTHING, NewsragError


def _as_of_date(value: str | None) -> Any:
    """The --as-of day (None when not given), or exit with a one-line reason."""
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as error:
        raise fail(f"--as-of {value!r} is not a date: use YYYY-MM-DD", EXIT_NOTHING) from error


def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    k: AnswerKOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    source: SourceOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Read 'last week' etc. from YYYY-MM-DD.")
    ] = None,
    engine: EngineOption = None,
    index: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Answer a question from the articles, each sentence cited [n], sources listed below.

    Exit codes: 0 answered or refused; 2 bad question or option; 3 index problem;
    4 the LLM endpoint is down, failing or too slow.
    """
    from newsrag.answer_text import render_answer_text

    settings = load_settings(index_dir=index, engine=engine)
    day = _as_of_date(as_of)
    assistant = open_assistant(settings)
    try:
        answer = assistant.ask(question, k=k, since=since, until=until, sources=source, as_of=day)
    except NewsragError as error:
        raise fail_for(error) from error
    if as_json:
        typer.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        text = render_answer_text(answer)
        if sys.stdout.isatty():  # wrapped for a person; piped output keeps one line per claim
            from newsrag.chat_terminal import terminal_width, wrap

            text = wrap(text, terminal_width())
        typer.echo(text)


def chat(
    k: AnswerKOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    source: SourceOption = None,
    engine: EngineOption = None,
    index: IndexOption = None,
) -> None:
    """A conversation in the terminal: follow-ups keep context, arrows recall earlier lines.

    Commands: /help, /sources, /since DATE, /until DATE, /new, /quit. History is kept in
    NEWSRAG_CHAT_HISTORY_FILE. Exit codes: 0 /quit or Ctrl-D; 130 Ctrl-C; 2 bad option; 3 index.
    """
    import datetime as dt

    from newsrag.chat_terminal import ChatSession, run_chat

    settings = load_settings(index_dir=index, engine=engine)
    days: dict[str, dt.date | None] = {}
    for name, value in (("since", since), ("until", until)):
        try:
            days[name] = dt.date.fromisoformat(value) if value else None
        except ValueError as error:
            raise fail(f"--{name} {value!r} is not a date: use YYYY-MM-DD", EXIT_NOTHING) from error
    session = ChatSession(open_assistant(settings))
    history = Path(settings.chat_history_file).expanduser() if settings.chat_history_file else None
    run_chat(
        session,
        errors=(NewsragError,),
        history_file=history,
        k=k,
        sources=source,
        **days,
    )


def serve(
    api_only: Annotated[
        bool, typer.Option("--api-only", help="Serve the HTTP API without the web UI.")
    ] = False,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default: NEWSRAG_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: NEWSRAG_PORT or 7860).")] = None,
    index: IndexOption = None,
) -> None:
    """Serve the HTTP API (/api, /v1, docs at /docs) and the web UI until Ctrl-C.

    Exit codes: 2 refused settings (public address without NEWSRAG_API_KEY); 3 index problem.
    """
    from newsrag.server import run_server

    settings = load_settings(index_dir=index, host=host, port=port)
    try:
        run_server(settings, api_only=api_only)
    except NewsragError as error:
        raise fail_for(error) from error
