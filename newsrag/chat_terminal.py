"""`newsrag chat`: the conversation (ChatSession), line editing, history, slash commands, wrapping."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shutil
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsrag.answer_text import render_answer_text, render_sources
from newsrag.models import Answer, Turn

if TYPE_CHECKING:
    from newsrag.assistant import Assistant

PROMPT = "you> "
HISTORY_LENGTH = 1000
HELP = """Type a question; follow-ups keep the context ("What did he say about Daesh?").
/sources        the sources of the last answer, with their quotes
/since DATE     only articles on/after DATE (YYYY-MM-DD); /since off to clear
/until DATE     only articles on/before DATE; /until off to clear
/new            start a new conversation (filters are kept)
/help           this list
/quit           leave (also Ctrl-D; Ctrl-C leaves with exit status 130)
Up/down arrows recall earlier lines (kept between sessions); left/right and Ctrl-A/E edit."""


class ChatSession:
    """A conversation with the assistant: keeps the turns, asks with history."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.history: list[Turn] = []

    def ask(self, question: str, **options: object) -> Answer:
        """Answer a question in the context of the conversation so far, and remember both turns."""
        answer = self.assistant.ask(question, history=tuple(self.history), **options)
        # The standalone query, not the raw follow-up: the next rewrite can build on it.
        self.history += [
            Turn("user", answer.searched_for or question),
            Turn("assistant", answer.text),
        ]
        return answer

    def reset(self) -> None:
        """Forget the conversation."""
        self.history.clear()


def terminal_width() -> int:
    """Columns to wrap at: the terminal's width (COLUMNS first), at most 100."""
    return max(20, min(100, shutil.get_terminal_size((80, 24)).columns))


def wrap(text: str, width: int) -> str:
    """Word-wrap each line at width, keeping its indentation; long words (URLs) are not broken."""
    lines: list[str] = []
    for line in text.splitlines():
        if len(line) <= width:
            lines.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        # A hanging indent under "[1] Title", "- Title" and "/command   what it does".
        hanging = re.match(r"(?:\[\d+\] |- |/\S+(?: [A-Z]+)?\s{2,})", line.strip())
        lines.extend(
            textwrap.wrap(
                line.strip(),
                width=width,
                initial_indent=indent,
                subsequent_indent=indent + " " * (len(hanging.group(0)) if hanging else 0),
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(lines)


@contextlib.contextmanager
def line_editing(history_file: Path | None) -> Any:
    """GNU readline (arrows, Ctrl-A/E, history) for input(), history kept in history_file."""
    try:
        import readline
    except ImportError:  # not on every platform; input() still works
        yield
        return
    path = history_file.expanduser() if history_file else None
    if path is not None:
        with contextlib.suppress(OSError):
            readline.read_history_file(path)
    readline.set_history_length(HISTORY_LENGTH)
    try:
        yield
    finally:
        if path is not None:
            with contextlib.suppress(OSError):
                path.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(path)


@dataclass
class ChatLoop:
    """The read-answer loop over a ChatSession; output goes through `echo`."""

    session: ChatSession
    echo: Callable[[str], None]
    errors: tuple[type[Exception], ...]
    k: int | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    sources: list[str] | None = None
    last: Any = None
    width: int = field(default_factory=terminal_width)

    def say(self, text: str) -> None:
        """Print wrapped to the terminal."""
        self.echo(wrap(text, self.width))

    def run(self, read: Callable[[str], str] = input) -> None:
        """Until /quit or end of input; Ctrl-C propagates (the CLI exits 130)."""
        engine = getattr(self.session.assistant, "engine_name", "extractive")
        self.say(f"newsrag chat ({engine}). Ask a question; /help lists the commands.")
        while True:
            self.echo("")
            try:
                line = read(PROMPT).strip()
            except EOFError:
                self.echo("")
                return
            if not line:
                continue
            if line.startswith("/"):
                if self.command(line) == "quit":
                    return
                continue
            self.ask(line)

    def ask(self, question: str) -> None:
        """Answer one question in the conversation."""
        try:
            answer = self.session.ask(
                question, k=self.k, since=self.since, until=self.until, sources=self.sources
            )
        except self.errors as error:
            self.say(f"error: {error}")
            return
        self.last = answer
        self.say("\n" + render_answer_text(answer))

    def command(self, line: str) -> str | None:
        """Run a slash command; "quit" when the loop should end."""
        name, _, argument = line.partition(" ")
        name, argument = name.casefold(), argument.strip()
        if name in ("/quit", "/exit", "/q"):
            return "quit"
        if name in ("/help", "/?"):
            self.say(HELP)
        elif name == "/new":
            self.session.reset()
            self.last = None
            self.say("(new conversation)")
        elif name == "/sources":
            shown = render_sources(self.last) if self.last is not None else ""
            self.say(shown or "(no sources yet: ask a question first)")
        elif name in ("/since", "/until"):
            self.set_date(name[1:], argument)
        else:
            self.say(f"unknown command {name}: /help lists the commands")
        return None

    def set_date(self, which: str, argument: str) -> None:
        """/since DATE, /until DATE, or off."""
        if argument.casefold() in ("off", "none", "clear", "-"):
            setattr(self, which, None)
            self.say(f"({which}: off)")
            return
        try:
            day = dt.date.fromisoformat(argument)
        except ValueError:
            self.say(f"error: /{which} needs a date YYYY-MM-DD (or 'off'), not {argument!r}")
            return
        setattr(self, which, day)
        self.say(f"({which} {day.isoformat()})")


def run_chat(
    session: ChatSession,
    *,
    errors: tuple[type[Exception], ...],
    history_file: Path | None,
    **filters: Any,
) -> None:
    """The interactive loop, with line editing and history when stdin is a terminal."""

    def echo(text: str) -> None:
        print(text, flush=True)

    loop = ChatLoop(session, echo=echo, errors=errors, **filters)
    if not sys.stdin.isatty():
        loop.run()  # piped input: no line editing, no history written
        return
    with line_editing(history_file):
        loop.run()
