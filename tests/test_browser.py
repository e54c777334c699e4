"""End to end in headless Chromium: `python app.py` over the seed corpus, driven like a user.

Needs Debian's chromium at /usr/bin/chromium (`apt-get install chromium chromium-driver`) and
Playwright for Python (no `playwright install`: the system browser is used). Without them these
tests skip, unless NEWSRAG_REQUIRE_BROWSER=1 (CI), where they fail instead.
Screenshots and the exported conversation land in test-artifacts/ (docs/screenshot.png is taken
over the sample corpus alone, by tests/test_browser_library.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, stop_process

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"
STARTUP_SECONDS = 300
ANSWER_MS = 90_000
MAYOR_QUESTION = "Who is the mayor of Makhmour?"
MAYOR_TITLE = "Coalition continues strikes against IS remnants near Makhmour"
# An article whose text, title and URL try to run script in the page; it must show as text.
HOSTILE_ARTICLE = """---
title: "Testville council minutes <script>window.__newsrag_xss = 1</script>"
date: 2019-10-01
source: Testville Gazette
url: "javascript:alert(1)"
---
The council of Testville met on Monday to vote on the new zoning plan.

The clerk of Testville pasted <script>window.__newsrag_xss = 1; alert(1)</script> into the council minutes by mistake.

The treasurer of Testville typed <img src=x onerror="window.__newsrag_xss = 2; alert(2)"> into the budget line of the minutes.

A council member shared [the zoning map](javascript:alert(3)) with the Testville council.

The zoning plan of Testville was approved by seven votes to two.
"""
ANSWERS_JS = (
    "document.querySelectorAll('#newsrag-chat .newsrag-answer:not(.newsrag-streaming),"
    " #newsrag-chat .newsrag-error').length"
)


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed: pip install -e '.[dev]'"
    return None


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright."""
    reason = browser_missing()
    if reason is not None:
        if os.environ.get("NEWSRAG_REQUIRE_BROWSER") == "1":
            pytest.fail(f"NEWSRAG_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class RunningApp:
    """`python app.py` in a subprocess, with its folders and terminal log."""

    url: str
    index_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        """What the app printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def wait_until_serving(app: RunningApp) -> None:
    """Poll until the page answers; fail with the app's log if it exits or takes too long."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            pytest.fail(f"app.py exited with {app.process.returncode}:\n{app.log()[-3000:]}")
        try:
            with urllib.request.urlopen(app.url + "/", timeout=5) as response:
                if response.status == 200 and "serving on" in app.log():
                    return
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"app.py did not serve within {STARTUP_SECONDS} s:\n{app.log()[-3000:]}")


@pytest.fixture(scope="module")
def app(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app over a temp copy of corpus/ plus the hostile article; it builds its own index."""
    root = tmp_path_factory.mktemp("browser-app")
    corpus, index = root / "corpus", root / "index"
    corpus.mkdir()
    for path in sorted((REPO_ROOT / "corpus").glob("*.txt")):
        shutil.copy(path, corpus / path.name)
    (corpus / "zz_hostile.md").write_text(HOSTILE_ARTICLE, encoding="utf-8")
    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("NEWSRAG_", "GRADIO_"))
    }
    environment.update(
        NEWSRAG_HOST="127.0.0.1",
        NEWSRAG_PORT=str(port),
        NEWSRAG_INDEX_DIR=str(index),
        NEWSRAG_CORPUS_DIR=str(corpus),
        NEWSRAG_ENGINE="extractive",
        NEWSRAG_PROMPTS_DIR=str(REPO_ROOT / "prompts"),
        PYTHONUNBUFFERED="1",
    )
    log_path = root / "app.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "app.py")],
            cwd=root,  # not the repo: a developer's .env must not change the test
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = RunningApp(f"http://127.0.0.1:{port}", index, log_path, process)
    try:
        wait_until_serving(running)
        yield running
    finally:
        stop_process(process)


@dataclass
class Session:
    """A fresh browser tab on the app, recording every request, dialog and page error."""

    page: Any
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def question_box(self) -> Any:
        """The question textarea."""
        return self.page.locator("#newsrag-question textarea")

    def answers(self) -> int:
        """Finished replies (answers and error lines) in the chat."""
        return int(self.page.evaluate(ANSWERS_JS))

    def ask(self, text: str) -> Any:
        """Type a question, press Enter, wait for the reply; returns the last reply's locator."""
        before = self.answers()
        self.question_box().fill(text)
        self.question_box().press("Enter")
        return self.wait_for_reply(before)

    def wait_for_reply(self, before: int) -> Any:
        """Wait until one more reply is finished; returns its locator."""
        self.page.wait_for_function(f"{ANSWERS_JS} > {before}", timeout=ANSWER_MS)
        replies = self.page.locator(
            "#newsrag-chat .newsrag-answer:not(.newsrag-streaming), #newsrag-chat .newsrag-error"
        )
        return replies.last

    def screenshot(self, name: str) -> Path:
        """Save a full-page screenshot under test-artifacts/."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_clean(self, app: RunningApp) -> None:
        """No dialog opened, no script error, and every request stayed on the app's address."""
        assert self.dialogs == [], self.dialogs
        assert self.page_errors == [], self.page_errors
        remote = [
            url for url in self.requests if not url.startswith((app.url + "/", "data:", "blob:"))
        ]
        assert remote == [], f"requests left 127.0.0.1: {remote}"
        assert self.requests, "no request was recorded"


@pytest.fixture
def session(chromium: Any, app: RunningApp) -> Iterator[Session]:
    """A new browser context (own cookies and session state) with the app loaded."""
    context = chromium.new_context(viewport={"width": 1400, "height": 950}, accept_downloads=True)
    page = context.new_page()
    recorded = Session(page)
    page.on("request", lambda request: recorded.requests.append(request.url))
    page.on("pageerror", lambda error: recorded.page_errors.append(str(error)))

    def on_dialog(dialog: Any) -> None:
        recorded.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(app.url + "/")
    recorded.question_box().wait_for(timeout=60_000)
    yield recorded
    context.close()


def feedback_lines(app: RunningApp) -> list[dict[str, Any]]:
    """The records in the app's index/feedback.jsonl."""
    path = app.index_dir / "feedback.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_app_built_its_index_and_printed_the_address(app: RunningApp) -> None:
    log = app.log()
    assert f"No index in {app.index_dir}" in log
    assert "ingest: 3 added" in log
    assert f"newsrag is serving on {app.url}/" in log
    assert "Traceback" not in log


def test_seed_question_sources_follow_up_feedback_and_export(
    app: RunningApp, session: Session
) -> None:
    page = session.page
    reply = session.ask(MAYOR_QUESTION)
    assert "Rizgar Mohammed" in reply.inner_text()
    marker = reply.locator("a.newsrag-cite").first
    assert marker.inner_text() == "[1]"
    assert marker.get_attribute("href") == "#source-1-1"

    card = page.locator("#newsrag-sources #source-1-1")
    assert MAYOR_TITLE in card.inner_text()
    assert "Kurdistan 24" in card.locator(".newsrag-source-meta").inner_text()
    highlighted = card.locator("mark").inner_text()
    assert highlighted.strip() and highlighted in card.locator(".newsrag-passage").inner_text()
    # The cited span is the sentence the answer quotes, not just any sentence of the passage.
    assert "Rizgar Mohammed" in highlighted, f"highlighted: {highlighted!r}"

    page.locator("#newsrag-sources").evaluate("element => element.scrollTo(0, 10000)")
    marker.click()
    page.wait_for_function("location.hash === '#source-1-1'")
    assert page.evaluate("document.querySelector(':target').id") == "source-1-1"
    assert card.is_visible()
    page.wait_for_function(
        "(() => { const r = document.getElementById('source-1-1').getBoundingClientRect();"
        " return r.top >= 0 && r.top < window.innerHeight; })()"
    )
    session.screenshot("answer.png")  # docs/screenshot.png: tests/test_browser_library.py

    follow_up = session.ask("What did he say about Daesh?")
    searched = follow_up.locator("xpath=..").locator(".newsrag-searched").inner_text()
    assert "Rizgar Mohammed" in searched, searched
    assert "Rizgar Mohammed" in page.locator("#newsrag-searched-for textarea").input_value()
    assert (
        "Sources for: What did he say about Daesh?" in page.locator("#newsrag-sources").inner_text()
    )
    session.screenshot("follow-up.png")

    page.locator("#newsrag-chat button[aria-label='Like']").first.click()
    note = page.locator("#newsrag-feedback-note")
    note.get_by_text("Saved").wait_for(timeout=20_000)
    page.locator("#newsrag-comment textarea").fill("correct, and the source is right")
    page.locator("#newsrag-send-comment").click()
    note.get_by_text("Comment saved").wait_for(timeout=20_000)
    records = feedback_lines(app)
    assert [record["rating"] for record in records] == ["up", "up"]
    assert records[0]["id"] == records[1]["id"]
    latest = records[-1]
    assert latest["question"] == MAYOR_QUESTION
    assert "Rizgar Mohammed" in latest["answer"]
    assert latest["comment"] == "correct, and the source is right"
    assert latest["citations"][0]["title"] == MAYOR_TITLE

    with page.expect_download(timeout=20_000) as download_info:
        page.locator("#newsrag-export").click()
    exported = Path(download_info.value.path()).read_text(encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "conversation.md").write_text(exported, encoding="utf-8")
    assert f"## 1. {MAYOR_QUESTION}" in exported
    assert "## 2. What did he say about Daesh?" in exported
    assert "Rizgar Mohammed" in exported and "**Sources**" in exported
    assert MAYOR_TITLE in exported

    page.locator("#newsrag-clear").click()
    page.wait_for_function(f"{ANSWERS_JS} === 0")
    assert "Sources of the answer appear here" in page.locator("#newsrag-sources").inner_text()
    session.assert_clean(app)


def test_date_filter_refuses_and_the_last_search_reruns(app: RunningApp, session: Session) -> None:
    page = session.page
    page.locator("#newsrag-since textarea").fill("2030-01-01")
    before = session.answers()
    page.locator(".newsrag-example", has_text=MAYOR_QUESTION).click()  # examples: one click
    reply = session.wait_for_reply(before)
    assert "newsrag-refusal" in (reply.get_attribute("class") or "")
    assert "do not answer" in reply.inner_text()
    searched = reply.locator("xpath=..").locator(".newsrag-searched").inner_text()
    assert "since 2030-01-01" in searched
    assert "No passage matched" in page.locator("#newsrag-sources").inner_text()
    session.screenshot("refusal.png")

    last_since = page.locator("#newsrag-last-since textarea")
    assert last_since.input_value() == "2030-01-01"
    last_since.fill("")
    before = session.answers()
    page.locator("#newsrag-rerun").click()
    rerun = session.wait_for_reply(before)
    assert "Rizgar Mohammed" in rerun.inner_text()
    session.assert_clean(app)


def test_article_markup_shows_as_text_and_never_runs(app: RunningApp, session: Session) -> None:
    page = session.page
    reply = session.ask("What did the clerk of Testville paste into the council minutes?")
    assert "pasted <script>window.__newsrag_xss = 1; alert(1)</script>" in reply.inner_text()
    sources = page.locator("#newsrag-sources").inner_text()
    assert "Testville council minutes <script>window.__newsrag_xss = 1</script>" in sources
    assert "Testville Gazette" in sources
    session.screenshot("hostile-article.png")
    assert page.evaluate("typeof window.__newsrag_xss") == "undefined"
    assert page.locator("#newsrag-sources img, #newsrag-chat .message img").count() == 0
    assert page.locator("a[href^='javascript'], a[href^='JAVASCRIPT']").count() == 0
    assert page.locator("#newsrag-sources a").count() == 0  # its URL is not http(s): no link
    session.assert_clean(app)


def test_bad_questions_show_readable_errors_and_the_app_keeps_serving(
    app: RunningApp, session: Session
) -> None:
    empty = session.ask("   ")
    assert "The question is empty" in empty.inner_text()
    long = session.ask("Who is the mayor? " * 150)
    assert "over the 2,000 limit" in long.inner_text()
    assert "Traceback" not in session.page.locator("#newsrag-chat").inner_text()
    fine = session.ask(MAYOR_QUESTION)
    assert "Rizgar Mohammed" in fine.inner_text()
    session.assert_clean(app)
