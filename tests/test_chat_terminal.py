"""`newsrag chat` in a pseudo-terminal (pexpect): line editing, history, slash commands, Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import pexpect
import pytest

from newsrag.chat_terminal import wrap
from newsrag.config import Settings

pytestmark = pytest.mark.slow

MAYOR = "Who is the mayor of Makhmour?"
UP = "\x1b[A"
WIDTH = 60
ANSWER_SECONDS = 180  # model load plus an answer on a shared 2-core machine
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def spawn(index: Path, history: Path) -> pexpect.spawn:
    """`newsrag chat` in a 60-column pseudo-terminal, with its own history file."""
    executable = Path(sys.executable).with_name("newsrag")
    env = {
        **os.environ,
        "NEWSRAG_CHAT_HISTORY_FILE": str(history),
        "TERM": "xterm",
        "INPUTRC": "/dev/null",
    }
    env.pop("COLUMNS", None)  # the pty's own width is what the chat must find
    child = pexpect.spawn(
        str(executable),
        ["chat", "--index", str(index)],
        env=env,
        dimensions=(40, WIDTH),
        encoding="utf-8",
        timeout=ANSWER_SECONDS,
        preexec_fn=default_interrupt,
    )
    child.expect_exact("you> ")
    return child


def default_interrupt() -> None:
    """Ctrl-C's default action in the child, as in a person's terminal.

    A command started in the background by a non-interactive shell (`.ci/run > log &`) inherits
    SIGINT ignored (POSIX, for asynchronous lists without job control), and Python then leaves it
    ignored: Ctrl-C would do nothing and the test would wait out its timeout.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def printed(child: pexpect.spawn) -> str:
    """What the terminal showed since the last expect, without escape codes."""
    return ESCAPES.sub("", child.before or "")


def test_history_slash_commands_and_ctrl_c(seed_index: Settings, tmp_path: Path) -> None:
    history = tmp_path / "state" / "chat_history"
    child = spawn(seed_index.index_dir, history)
    try:
        child.sendline(MAYOR)
        child.expect_exact("you> ")
        answer = printed(child)
        assert "Rizgar Mohammed" in answer and "Sources:" in answer
        # Word-wrapped to the terminal: no line over 60 columns, no word cut in two.
        lines = answer.splitlines()
        assert max(len(line) for line in lines) <= WIDTH
        assert "Makhmour, previously told" in " ".join(line.strip() for line in lines)

        child.sendline("/help")
        child.expect_exact("you> ")
        assert "/sources" in printed(child) and "/since DATE" in printed(child)

        child.sendline("/sources")
        child.expect_exact("you> ")
        shown = printed(child)
        assert shown.strip().startswith("/sources")  # the echo of what was typed
        assert "[1] Coalition continues strikes" in shown
        assert "““" not in shown and "””" not in shown  # quotes shown once

        child.sendline("/since 2030-01-01")
        child.expect_exact("you> ")
        assert "(since 2030-01-01)" in printed(child)
        # Up arrow four times: /since, /sources, /help, then the question.
        child.send(UP * 4)
        child.send("\r")
        child.expect_exact("you> ")
        recalled = " ".join(printed(child).split())
        assert MAYOR in recalled and "No article matches the filters" in recalled
        assert "[A" not in recalled  # an arrow edits the line, it prints no escape code

        child.sendline("/since off")
        child.expect_exact("you> ")
        child.sendline("/bogus")
        child.expect_exact("you> ")
        assert "unknown command /bogus" in printed(child)
        child.sendline("/new")
        child.expect_exact("you> ")
        assert "(new conversation)" in printed(child)

        # CPython's readline shows the prompt before it waits in select(): a SIGINT in between is
        # only seen at the next keystroke (no EINTR). A person presses Ctrl-C long after the
        # prompt; on a loaded machine the child can take more than pexpect's 50 ms to get there
        # (python/cpython#112585: input() sees a signal only where select() returns EINTR).
        time.sleep(1.0)
        child.sendcontrol("c")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 130
    finally:
        if child.isalive():
            child.terminate(force=True)
    saved = history.read_text(encoding="utf-8").splitlines()
    assert MAYOR in saved and "/since 2030-01-01" in saved


def test_history_survives_sessions_and_quit_exits_0(seed_index: Settings, tmp_path: Path) -> None:
    history = tmp_path / "chat_history"
    history.write_text("What did the coalition do near Makhmour?\n", encoding="utf-8")
    child = spawn(seed_index.index_dir, history)
    try:
        child.send(UP + "\r")  # the line from an earlier session
        child.expect_exact("you> ")
        assert "Coalition" in printed(child) and "[2]" in printed(child)
        child.sendline("/quit")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
    finally:
        if child.isalive():
            child.terminate(force=True)


def test_wrap_keeps_words_urls_and_hanging_indents() -> None:
    url = "https://www.kurdistan24.net/en/story/19852-a-very-long-address-that-cannot-be-broken"
    text = f"[1] Coalition continues strikes against IS remnants near Makhmour\n    {url}"
    wrapped = wrap(text, 40).splitlines()
    assert wrapped[0] == "[1] Coalition continues strikes against"
    assert wrapped[1].startswith("    IS remnants")  # under the title, not under [1]
    assert f"    {url}" in wrapped  # a long URL stays whole


def test_ask_wraps_for_a_terminal_only(seed_index: Settings) -> None:
    question = "How long did the airstrikes on Qarachokh mountain last?"
    executable = Path(sys.executable).with_name("newsrag")
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    child = pexpect.spawn(
        str(executable),
        ["ask", question, "--index", str(seed_index.index_dir)],
        env=env,
        dimensions=(40, 50),
        encoding="utf-8",
        timeout=ANSWER_SECONDS,
    )
    child.expect(pexpect.EOF)
    lines = printed(child).splitlines()
    assert "two days" in " ".join(lines) and max(len(line) for line in lines) <= 50
    from typer.testing import CliRunner

    from newsrag.cli import app

    piped = CliRunner().invoke(app, ["ask", question, "--index", str(seed_index.index_dir)])
    assert max(len(line) for line in piped.stdout.splitlines()) > 50  # scripts get whole lines
