"""End to end in headless Chromium: the Library, feeds, saved conversations and the polish items.

Drives `python app.py` over a temp copy of corpus/ like a user (see tests/test_browser.py for
the browser requirements). A fixture web server on 127.0.0.1 serves the feed. With
NEWSRAG_UPDATE_SCREENSHOT=1 the sample-corpus answer replaces docs/screenshot.png and the Library
screenshot docs/library.png.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_browser import (
    ANSWERS_JS,
    ARTIFACTS,
    MAYOR_QUESTION,
    REPO_ROOT,
    RunningApp,
    Session,
    chromium,  # noqa: F401  (the fixture)
    free_port,
    wait_until_serving,
)
from tests.test_feeds import FixtureSite

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HARBOR = """---
title: Port of Eastwick reopens after storm repairs
date: 2024-03-14
source: Eastwick Herald
---
The Port of Eastwick reopened to cargo ships on Thursday after three months of repairs.

Harbor master Ingrid Solvang said the repairs cost 4.2 million dollars.
"""
LIBRARY = """---
title: Eastwick library extends opening hours
date: 2024-03-20
source: Eastwick Herald
---
The Eastwick public library will stay open until nine in the evening on weekdays.

Librarian Tomas Okafor said four part-time employees were hired for the longer hours.
"""
HOSTILE_UPLOAD = """<html><head><title>Gazette <script>window.__upload_xss=1</script></title></head>
<body><article><h1>Brookfield council votes on the bridge</h1>
<p>The Brookfield council voted on Tuesday to rebuild the old stone bridge over the river.</p>
<script>window.__upload_xss = 2</script><img src=x onerror="window.__upload_xss=3">
<p>Mayor Lucia Fernhill said the works start in May and last eleven weeks.</p></article></body></html>
"""


class AppRunner:
    """Starts and restarts `python app.py` on one port over one corpus and index."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.corpus, self.index = root / "corpus", root / "index"
        self.port = free_port()
        self.current: RunningApp | None = None

    def start(self, **extra: str) -> RunningApp:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("NEWSRAG_", "GRADIO_"))
        }
        environment.update(
            NEWSRAG_HOST="127.0.0.1",
            NEWSRAG_PORT=str(self.port),
            NEWSRAG_INDEX_DIR=str(self.index),
            NEWSRAG_CORPUS_DIR=str(self.corpus),
            NEWSRAG_ENGINE="extractive",
            NEWSRAG_PROMPTS_DIR=str(REPO_ROOT / "prompts"),
            PYTHONUNBUFFERED="1",
            **extra,
        )
        log_path = self.root / f"app-{time.monotonic_ns()}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, str(REPO_ROOT / "app.py")],
                cwd=self.root,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.current = RunningApp(f"http://127.0.0.1:{self.port}", self.index, log_path, process)
        wait_until_serving(self.current)
        return self.current

    def stop(self) -> None:
        if self.current is None:
            return
        process = self.current.process
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self.current = None


@pytest.fixture(scope="module")
def runner(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppRunner]:  # noqa: F811
    root = tmp_path_factory.mktemp("library-app")
    (root / "corpus").mkdir()
    for path in sorted((REPO_ROOT / "corpus").glob("*.txt")):
        shutil.copy(path, root / "corpus" / path.name)
    running = AppRunner(root)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def site() -> Iterator[FixtureSite]:
    serving = FixtureSite()
    serving.thread.start()
    yield serving
    serving.server.shutdown()
    serving.server.server_close()


def open_session(
    chromium: Any,  # noqa: F811
    url: str,
    *,
    width: int = 1400,
    height: int = 950,
    dark: bool = False,
    context: Any = None,
) -> Session:
    """A page on the app (a new context unless one is given), recording errors and dialogs."""
    if context is None:
        context = chromium.new_context(
            viewport={"width": width, "height": height},
            accept_downloads=True,
            color_scheme="dark" if dark else "light",
        )
    page = context.new_page()
    recorded = Session(page)
    page.on("request", lambda request: recorded.requests.append(request.url))
    page.on("pageerror", lambda error: recorded.page_errors.append(str(error)))

    def on_dialog(dialog: Any) -> None:
        recorded.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(url + ("/?__theme=dark" if dark else "/"))
    recorded.question_box().wait_for(timeout=60_000)
    return recorded


@pytest.fixture
def session(chromium: Any, runner: AppRunner) -> Iterator[Session]:  # noqa: F811
    assert runner.current is not None
    opened = open_session(chromium, runner.current.url)
    yield opened
    opened.page.context.close()


def open_library(session: Session) -> Any:
    page = session.page
    page.get_by_role("tab", name="Library").click()
    page.locator("#newsrag-upload").wait_for()
    # Every text the status box shows is recorded, so a short-lived progress line is seen too.
    page.evaluate(
        """() => { window.__statuses = [];
        const box = document.querySelector('#newsrag-ingest-status');
        new MutationObserver(() => window.__statuses.push(box.innerText))
          .observe(box, {subtree: true, childList: true, characterData: true}); }"""
    )
    return page


def upload(session: Session, paths: list[Path]) -> str:
    """Drop files on the Library's upload zone and wait for the ingest to finish."""
    page = session.page
    page.locator("#newsrag-upload input[type=file]").set_input_files([str(p) for p in paths])
    status = page.locator("#newsrag-ingest-status")
    page.wait_for_function(
        "document.querySelector('#newsrag-ingest-status').innerText.match(/Done:|⚠|skipped/)",
        timeout=180_000,
    )
    return str(status.inner_text())


ROWS = "#newsrag-articles [role=row]"


def library_titles(page: Any) -> list[str]:
    """Titles in the article list as shown (the first row is the header)."""
    return list(
        page.evaluate(
            f"[...document.querySelectorAll('{ROWS}')].slice(1)"
            ".map(row => (row.querySelector('[role=gridcell]') || row).innerText.trim())"
            ".filter(Boolean)"
        )
    )


def open_first_article(page: Any) -> None:
    page.locator(ROWS).nth(1).locator("[role=gridcell]").first.click()


def search_library(page: Any, text: str) -> None:
    """Type into the list's search box (typed: Gradio reacts to real key input)."""
    box = page.locator("#newsrag-library-search textarea, #newsrag-library-search input").first
    box.fill("")
    box.press_sequentially(text)
    page.wait_for_function(
        f"[...document.querySelectorAll('{ROWS}')].length <= 2 || "
        "document.querySelector('#newsrag-library-count').innerText.length > 0",
        timeout=10_000,
    )
    time.sleep(1.5)  # the list refreshes after the last keystroke


def test_sample_corpus_answer_screenshot(runner: AppRunner, session: Session) -> None:
    """The app over the sample corpus alone (no fixture article): docs/screenshot.png."""
    page = session.page
    assert "Articles: 2" in page.locator("#newsrag-facts").inner_text()
    reply = session.ask(MAYOR_QUESTION)
    assert "Rizgar Mohammed" in reply.inner_text()
    page.locator("#newsrag-conversations").get_by_text(MAYOR_QUESTION).wait_for(timeout=20_000)
    session.screenshot("sample-corpus.png")
    if os.environ.get("NEWSRAG_UPDATE_SCREENSHOT") == "1":
        shutil.copy(ARTIFACTS / "sample-corpus.png", REPO_ROOT / "docs" / "screenshot.png")


def test_upload_two_files_with_progress_then_both_are_answerable(
    runner: AppRunner, session: Session, tmp_path: Path
) -> None:
    harbor = tmp_path / "harbor.md"
    harbor.write_text(HARBOR, encoding="utf-8")
    library = tmp_path / "library.md"
    library.write_text(LIBRARY, encoding="utf-8")
    page = open_library(session)
    examples_before = page.locator(".newsrag-example:visible").all_inner_texts()
    text = upload(session, [harbor, library])
    assert "Done:" in text and "passages/s" in text, text
    assert "harbor.md: indexed" in text and "library.md: indexed" in text, text
    statuses = page.evaluate("window.__statuses")
    assert any("passages/s" in status for status in statuses), statuses
    assert page.locator("#newsrag-ingest-status [role=progressbar]").count() == 1
    saved = sorted(path.name for path in (runner.corpus / "uploads").iterdir())
    assert saved == ["harbor.md", "library.md"]

    search_library(page, "eastwick")
    assert sorted(library_titles(page)) == [
        "Eastwick library extends opening hours",
        "Port of Eastwick reopens after storm repairs",
    ]

    page.get_by_role("tab", name="Chat").click()
    # Example questions follow the index: the new articles show up without a reload.
    page.wait_for_function(
        "[...document.querySelectorAll('.newsrag-example')].some(b => b.innerText.includes('Eastwick'))",
        timeout=20_000,
    )
    assert page.locator(".newsrag-example:visible").all_inner_texts() != examples_before
    assert "Ingrid Solvang" in session.ask("Who is the harbor master of Eastwick?").inner_text()
    assert "Tomas Okafor" in session.ask("Who said part-time employees were hired?").inner_text()
    assert "Eastwick library extends opening hours" in page.locator("#newsrag-sources").inner_text()

    # The reader marks the passages this conversation cited.
    page.get_by_role("tab", name="Library").click()
    search_library(page, "port eastwick")
    open_first_article(page)
    cited = page.locator("#newsrag-reader mark.newsrag-cited-passage")
    cited.first.wait_for(timeout=20_000)
    assert "Ingrid Solvang" in cited.first.inner_text()
    assert "cited as [1] in answer 1" in (cited.first.get_attribute("title") or "")
    session.screenshot("library.png")
    if os.environ.get("NEWSRAG_UPDATE_SCREENSHOT") == "1":
        shutil.copy(ARTIFACTS / "library.png", REPO_ROOT / "docs" / "library.png")
    session.assert_clean(runner.current)  # type: ignore[arg-type]


def test_bad_and_hostile_uploads_are_refused_or_inert(
    runner: AppRunner, session: Session, tmp_path: Path
) -> None:
    articles_before = len(list((runner.corpus).rglob("*.*")))
    bad = tmp_path / "broken.jsonl"
    bad.write_text("{this is not json\n", encoding="utf-8")
    binary = tmp_path / "tool.exe"
    binary.write_bytes(b"MZ\x00\x01")
    hostile = tmp_path / "..%2F..%2Fescape.html"
    hostile.write_text(HOSTILE_UPLOAD, encoding="utf-8")
    page = open_library(session)
    text = upload(session, [bad, hostile])
    assert re.search(r"broken\.jsonl: skipped — .*JSON", text), text
    assert "escape.html: indexed" in text, text
    # The name's ../ did not leave the uploads folder.
    inside = sorted(path.name for path in (runner.corpus / "uploads").iterdir())
    assert any(name.endswith("escape.html") for name in inside), inside
    assert not (runner.root / "escape.html").exists()
    assert not list(runner.root.parent.glob("escape*"))

    search_library(page, "brookfield")
    titles = library_titles(page)
    assert len(titles) == 1, (
        titles
    )  # shown as text whatever it holds (checked below: no script ran)
    open_first_article(page)
    reader = page.locator("#newsrag-reader")
    reader.get_by_text("Mayor Lucia Fernhill").wait_for(timeout=20_000)
    assert reader.locator("script, img").count() == 0
    assert page.evaluate("typeof window.__upload_xss") == "undefined"

    # A file type the upload zone does not take is refused in the browser or by the server.
    page.locator("#newsrag-upload input[type=file]").set_input_files([str(binary)])
    time.sleep(3)
    assert not list(runner.corpus.rglob("tool*"))
    assert len(list(runner.corpus.rglob("*.*"))) == articles_before + 2
    session.assert_clean(runner.current)  # type: ignore[arg-type]


def test_a_200_mb_upload_is_refused_and_nothing_is_written(runner: AppRunner) -> None:
    import httpx

    assert runner.current is not None

    def body() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n\r\n'
        block = b"x" * (1 << 20)
        for _ in range(200):
            yield block
        yield b"\r\n--b--\r\n"

    try:
        response = httpx.post(
            runner.current.url + "/gradio_api/upload",
            content=body(),
            headers={"content-type": "multipart/form-data; boundary=b"},
            timeout=120,
        )
        status = response.status_code
    except httpx.HTTPError:
        status = 413  # the server closed the connection while the body was still coming
    assert status in (400, 413)
    assert not list(runner.corpus.rglob("big*"))


def test_feed_from_a_local_server_is_ingested(
    runner: AppRunner, session: Session, site: FixtureSite
) -> None:
    page = open_library(session)
    page.locator("#newsrag-urls textarea").fill(site.url("/feed.xml"))
    page.locator("#newsrag-fetch").click()
    page.wait_for_function(
        "document.querySelector('#newsrag-ingest-status').innerText.includes('Done:')",
        timeout=180_000,
    )
    text = page.locator("#newsrag-ingest-status").inner_text()
    assert "missing.html: skipped — the server answered HTTP 404" in text, text
    assert (runner.index / "feeds.txt").read_text().split() == [site.url("/feed.xml")]
    search_library(page, "herald storm")
    titles = library_titles(page)
    assert "Port of Eastwick reopens after storm repairs" in titles, titles
    session.assert_clean(runner.current)  # type: ignore[arg-type]


def test_delete_removes_the_article_from_list_index_and_corpus(
    runner: AppRunner, session: Session, tmp_path: Path
) -> None:
    doomed = tmp_path / "doomed.md"
    doomed.write_text(
        "---\ntitle: Quarry closes in Ashford\ndate: 2024-04-01\nsource: Ashford Post\n---\n"
        "The Ashford quarry closed on Monday. Owner Petra Vasquez blamed falling demand.\n",
        encoding="utf-8",
    )
    page = open_library(session)
    assert "doomed.md: indexed" in upload(session, [doomed])
    search_library(page, "ashford quarry")
    assert library_titles(page) == ["Quarry closes in Ashford"]
    open_first_article(page)
    page.locator("#newsrag-reader").get_by_text("Petra Vasquez").wait_for(timeout=20_000)
    page.locator("#newsrag-delete").click()
    page.locator("#newsrag-ingest-status").get_by_text("Deleted").wait_for(timeout=60_000)
    search_library(page, "ashford quarry")
    assert library_titles(page) == []
    assert not (runner.corpus / "uploads" / "doomed.md").exists()
    page.get_by_role("tab", name="Chat").click()
    reply = session.ask("Who owns the Ashford quarry?")
    assert "Petra Vasquez" not in reply.inner_text()


def test_an_upload_waits_for_another_ingest_and_says_so(
    runner: AppRunner, session: Session, tmp_path: Path
) -> None:
    assert runner.current is not None
    blocker = runner.corpus / "blocker.md"
    blocker.write_text(
        "---\ntitle: Ferry timetable changes\ndate: 2024-05-01\nsource: Coast News\n---\n"
        "The island ferry will sail hourly from June, captain Omar Reyes said.\n",
        encoding="utf-8",
    )
    marker = tmp_path / "paused"
    environment = {
        **os.environ,
        "NEWSRAG_INDEX_DIR": str(runner.index),
        "NEWSRAG_CORPUS_DIR": str(runner.corpus),
        "NEWSRAG_TEST_PAUSE_AT": "after_store",
        "NEWSRAG_TEST_PAUSE_MARKER": str(marker),
        "NEWSRAG_TEST_PAUSE_SECONDS": "12",
        "HF_HUB_OFFLINE": "1",
    }
    cli = subprocess.Popen(
        [sys.executable, "-m", "newsrag.cli", "ingest", str(blocker), "-q"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while not marker.exists() and time.monotonic() < deadline and cli.poll() is None:
            time.sleep(0.5)
        assert marker.exists(), "the CLI ingest never reached its pause"
        second = tmp_path / "waiter.md"
        second.write_text(
            "---\ntitle: Lighthouse repainted\ndate: 2024-05-02\nsource: Coast News\n---\n"
            "The old lighthouse was repainted red, keeper Ines Marlow said.\n",
            encoding="utf-8",
        )
        page = open_library(session)
        page.locator("#newsrag-upload input[type=file]").set_input_files([str(second)])
        page.locator("#newsrag-ingest-status").get_by_text("Waiting").wait_for(timeout=60_000)
        assert "another ingest" in page.locator("#newsrag-ingest-status").inner_text()
        page.wait_for_function(
            "document.querySelector('#newsrag-ingest-status').innerText.includes('Done:')",
            timeout=180_000,
        )
        assert "waiter.md: indexed" in page.locator("#newsrag-ingest-status").inner_text()
    finally:
        cli.wait(timeout=120)
    assert cli.returncode == 0
    check = subprocess.run(
        [sys.executable, "-m", "newsrag.cli", "check"],
        env={**environment, "NEWSRAG_TEST_PAUSE_AT": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_conversation_survives_reload_and_restart_and_can_be_renamed(
    chromium: Any,  # noqa: F811
    runner: AppRunner,
) -> None:
    assert runner.current is not None
    context = chromium.new_context(viewport={"width": 1400, "height": 950})
    try:
        session = open_session(chromium, runner.current.url, context=context)
        page = session.page
        assert "Rizgar Mohammed" in session.ask(MAYOR_QUESTION).inner_text()
        radio = page.locator("#newsrag-conversations")
        # Saved (and its id kept in the browser) once the list marks it as the open one.
        radio.locator("input:checked").wait_for(state="attached", timeout=30_000)
        assert MAYOR_QUESTION in radio.locator("label:has(input:checked)").inner_text()

        page.reload()
        session.question_box().wait_for(timeout=60_000)
        page.wait_for_function(f"{ANSWERS_JS} === 1", timeout=30_000)
        assert MAYOR_QUESTION in page.locator("#newsrag-chat").inner_text()

        runner.stop()
        runner.start()
        page.reload()
        session.question_box().wait_for(timeout=60_000)
        page.wait_for_function(f"{ANSWERS_JS} === 1", timeout=30_000)
        assert "Rizgar Mohammed" in page.locator("#newsrag-chat").inner_text()
        assert "Kurdistan 24" in page.locator("#newsrag-sources").inner_text()

        page.locator("#newsrag-rename textarea, #newsrag-rename input").first.fill("Makhmour mayor")
        page.locator("#newsrag-rename-go").click()
        radio.get_by_text("Makhmour mayor").wait_for(timeout=20_000)
        page.locator("#newsrag-new-chat").click()
        page.wait_for_function(f"{ANSWERS_JS} === 0", timeout=20_000)
        radio.get_by_text("Makhmour mayor").click()
        page.wait_for_function(f"{ANSWERS_JS} === 1", timeout=20_000)
        page.locator("#newsrag-delete-chat").click()
        page.wait_for_function(f"{ANSWERS_JS} === 0", timeout=20_000)
        assert radio.get_by_text("Makhmour mayor").count() == 0
    finally:
        context.close()


def test_question_shows_at_once_ask_is_disabled_and_overlays_hidden(
    runner: AppRunner, session: Session
) -> None:
    page = session.page
    ask = page.locator("#newsrag-ask")
    assert ask.is_disabled()  # the box is empty
    session.question_box().press_sequentially("What did the mayor of Makhmour say about Daesh?")
    page.wait_for_function("!document.querySelector('#newsrag-ask').disabled", timeout=10_000)
    # What the page shows while the answer runs is recorded as it happens (an extractive answer
    # can be back before a poll would see the placeholder).
    page.evaluate(
        """() => { window.__seen = []; const chat = document.querySelector('#newsrag-chat');
        const look = () => { const placeholder = chat.querySelector('.newsrag-searching');
          if (!placeholder) return;
          window.__seen.push({
            question: chat.innerText.includes('What did the mayor of Makhmour say about Daesh?'),
            askDisabled: document.querySelector('#newsrag-ask').disabled,
            overlays: [...document.querySelectorAll(
                '.progress-text, .eta-bar, .meta-text, .meta-text-center')]
              .filter(e => e.offsetParent !== null && getComputedStyle(e).display !== 'none')
              .length }); };
        new MutationObserver(look).observe(chat, {subtree: true, childList: true,
          characterData: true}); }"""
    )
    ask.click()
    session.wait_for_reply(0)
    seen = page.evaluate("window.__seen")
    assert seen, "the searching… placeholder never showed"
    assert all(item["question"] for item in seen), seen  # the question was there at once
    assert all(item["askDisabled"] for item in seen), seen
    assert all(item["overlays"] == 0 for item in seen), seen
    assert ask.is_disabled()  # the box is empty again


def test_error_replies_have_no_feedback_buttons_and_the_note_is_one_line(
    runner: AppRunner, session: Session
) -> None:
    page = session.page
    session.ask("   ")  # an error reply
    error_row = page.locator(
        "#newsrag-chat .message-row, #newsrag-chat .message-wrap > div"
    ).filter(has=page.locator(".newsrag-error"))
    assert error_row.count() >= 1
    visible_thumbs = page.evaluate(
        """() => [...document.querySelectorAll('#newsrag-chat [aria-label=Like]')]
        .filter(b => b.offsetParent !== null).length"""
    )
    assert visible_thumbs == 0
    session.ask(MAYOR_QUESTION)
    page.wait_for_function(
        """() => [...document.querySelectorAll('#newsrag-chat [aria-label=Like]')]
        .filter(b => b.offsetParent !== null).length === 1""",
        timeout=10_000,
    )
    page.locator("#newsrag-chat button[aria-label='Like'] >> visible=true").first.click()
    note = page.locator("#newsrag-feedback-note")
    note.get_by_text("Saved").wait_for(timeout=20_000)
    height, line = page.evaluate(
        """() => { const e = document.querySelector('#newsrag-feedback-note p')
          || document.querySelector('#newsrag-feedback-note');
          const s = getComputedStyle(e);
          return [e.getBoundingClientRect().height, parseFloat(s.lineHeight) || parseFloat(s.fontSize) * 1.5]; }"""
    )
    assert height < 1.8 * line, (height, line)
    session.ask("What did he say about Daesh?")
    assert not page.locator("#newsrag-feedback-row").is_visible()


def relative_luminance(rgb: tuple[float, float, float]) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(value) for value in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def parse_rgb(css: str) -> tuple[float, float, float]:
    numbers = [float(part) for part in re.findall(r"[\d.]+", css)[:3]]
    return numbers[0], numbers[1], numbers[2]


def test_narrow_screen_sidebar_closed_and_dark_mode_highlight_readable(
    chromium: Any,  # noqa: F811
    runner: AppRunner,
) -> None:
    assert runner.current is not None
    narrow = open_session(chromium, runner.current.url, width=400, height=800)
    try:
        page = narrow.page
        page.wait_for_function(
            "!document.querySelector('#newsrag-sidebar').classList.contains('open')",
            timeout=10_000,
        )
        page.locator("#newsrag-question textarea").scroll_into_view_if_needed()
        box = page.locator("#newsrag-question textarea").bounding_box()
        assert box is not None and box["width"] > 150
        # Polled: the sidebar slides shut and the layout settles after load (a one-shot check
        # right after the scroll failed on a loaded CI machine); a box that stays covered fails.
        covering = """() => { const t = document.querySelector('#newsrag-question textarea');
          const r = t.getBoundingClientRect();
          const e = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
          return e && e.closest('#newsrag-question') !== null; }"""
        try:
            page.wait_for_function(covering, timeout=10_000)
        except Exception:
            on_top = page.evaluate(
                """() => { const t = document.querySelector('#newsrag-question textarea');
                  const r = t.getBoundingClientRect();
                  const e = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
                  return e ? e.outerHTML.slice(0, 200) : 'nothing'; }"""
            )
            pytest.fail(f"something covers the question box: {on_top}")
        narrow.screenshot("narrow-400.png")
    finally:
        narrow.page.context.close()

    dark = open_session(chromium, runner.current.url, dark=True)
    try:
        page = dark.page
        dark.ask(MAYOR_QUESTION)
        mark = page.locator("#newsrag-sources mark").first
        colors = mark.evaluate(
            "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
        )
        assert page.evaluate(
            "document.body.classList.contains('dark') || "
            "document.documentElement.classList.contains('dark') || "
            "!!document.querySelector('.dark')"
        )
        foreground, background = (relative_luminance(parse_rgb(color)) for color in colors)
        lighter, darker = max(foreground, background), min(foreground, background)
        contrast = (lighter + 0.05) / (darker + 0.05)
        assert contrast >= 4.5, (colors, contrast)
        dark.screenshot("dark-mode.png")
    finally:
        dark.page.context.close()


def test_footer_points_to_the_api_docs_only(runner: AppRunner, session: Session) -> None:
    page = session.page
    assert page.locator("a[href*='view=api'], a[href*='view=settings']").count() == 0
    assert page.get_by_text("Use via API").count() == 0
    assert page.locator("#newsrag-footer a").get_attribute("href") == "/docs"


def test_short_answer_is_bold_when_the_engine_gives_one(
    runner: AppRunner, session: Session
) -> None:
    reply = session.ask(MAYOR_QUESTION)
    short = reply.locator("xpath=..").locator(".newsrag-short-answer b")
    assert short.count() >= 1
    assert "Rizgar Mohammed" in short.first.inner_text()
