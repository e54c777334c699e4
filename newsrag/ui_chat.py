"""What the chat's buttons do, free of Gradio: ask (streamed), rate, comment, export.

The Gradio wiring is in newsrag.ui; rendering and escaping in newsrag.ui_render.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsrag import feedback, ui_render
from newsrag.config import Settings
from newsrag.errors import outcome
from newsrag.manifest import Manifest, ManifestError
from newsrag.ui_render import Exchange

if TYPE_CHECKING:
    from newsrag.assistant import Assistant

logger = logging.getLogger(__name__)

TITLE = "newsrag"
HISTORY_EXCHANGES = 3  # earlier exchanges passed to the Assistant for follow-ups
# One folder per process, removed at exit; files older than EXPORT_MAX_AGE go on every export.
EXPORT_DIR = Path(tempfile.gettempdir()) / f"newsrag-exports-{os.getpid()}"
EXPORT_MAX_AGE = 3600.0
FEEDBACK_PER_MINUTE = 30  # thumbs and comments stored per minute, all sessions together


class AssistantHolder:
    """The shared Assistant; when it could not be opened at start, each question tries again."""

    def __init__(self, settings: Settings, assistant: Assistant | None) -> None:
        self.settings = settings
        self._assistant = assistant
        self._lock = threading.Lock()

    def get(self) -> Assistant:
        """The Assistant, opened now if needed (errors propagate as readable messages)."""
        with self._lock:
            if self._assistant is None:
                from newsrag.assistant import Assistant

                self._assistant = Assistant.open(self.settings)
            return self._assistant

    @property
    def current(self) -> Assistant | None:
        """The Assistant if it is open, without trying to open it."""
        return self._assistant


def friendly_error(error: BaseException) -> str:
    """One readable line for the chat (errors.outcome); unexpected errors are logged in full."""
    found = outcome(error)
    if found is not None:
        return found.message[:1].upper() + found.message[1:]
    logger.exception("unexpected error while answering", exc_info=error)
    return (
        f"Something went wrong while answering ({type(error).__name__}); the details are in the "
        "terminal that runs the app. The app is still running: try again."
    )


@dataclass(frozen=True)
class IndexView:
    """What the sidebar shows about the index and the engine."""

    facts_html: str
    outlets: list[str]
    examples: list[str]


def describe_index(settings: Settings, holder: AssistantHolder) -> IndexView:
    """Facts, outlets and example questions from the index (or a hint when there is none)."""
    assistant = holder.current
    engine = assistant.engine_name if assistant is not None else settings.engine
    try:
        manifest = Manifest.load(Path(settings.index_dir))
    except ManifestError as error:
        return IndexView(ui_render.error_message(str(error)), [], [])
    if manifest.model is None:
        hint = f"No index in {settings.index_dir} yet: run `newsrag ingest {settings.corpus_dir}`."
        return IndexView(ui_render.error_message(hint), [], [])
    date_from, date_to = manifest.date_span()
    facts_html = ui_render.facts_markdown(
        engine=engine,
        articles=len(manifest.articles),
        chunks=manifest.chunk_count,
        date_from=date_from,
        date_to=date_to,
        sources=manifest.sources(),
    )
    titled = [
        ui_render.TitledArticle(title=record.title, source=record.source, date=record.date)
        for record in manifest.articles.values()
    ]
    return IndexView(facts_html, manifest.sources(), ui_render.example_questions(titled))


def history_turns(exchanges: Sequence[Exchange]) -> list[Any]:
    """The last answered exchanges as Assistant Turns, for follow-up questions."""
    from newsrag.assistant import Turn

    turns: list[Any] = []
    for exchange in [item for item in exchanges if item.answer is not None][-HISTORY_EXCHANGES:]:
        turns.append(Turn(role="user", content=exchange.question))
        turns.append(Turn(role="assistant", content=exchange.reply_text))
    return turns


def _remove_old_exports(now: float) -> None:
    """Exports older than EXPORT_MAX_AGE leave the folder (Gradio has served its own copy)."""
    for path in EXPORT_DIR.glob("*.md"):
        try:
            if now - path.stat().st_mtime > EXPORT_MAX_AGE:
                path.unlink()
        except OSError:
            continue


def remove_exports() -> None:
    """Remove this process's export folder (at exit)."""
    import shutil

    shutil.rmtree(EXPORT_DIR, ignore_errors=True)


def export_file(exchanges: Sequence[Exchange], session_file: str) -> str | None:
    """Write the conversation as Markdown for the download button; None when it is empty."""
    if not exchanges:
        return None
    EXPORT_DIR.mkdir(parents=True, exist_ok=True)
    _remove_old_exports(time.time())
    path = EXPORT_DIR / Path(session_file).name  # one file per conversation, rewritten
    path.write_text(ui_render.conversation_markdown(exchanges, title=TITLE), encoding="utf-8")
    return str(path)


class RateLimit:
    """At most `limit` events per `seconds`, across threads."""

    def __init__(self, limit: int, seconds: float = 60.0) -> None:
        self.limit, self.seconds = limit, seconds
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """Count one event now; False (and not counted) when over the limit."""
        now = time.monotonic()
        with self._lock:
            while self._times and now - self._times[0] > self.seconds:
                self._times.popleft()
            if len(self._times) >= self.limit:
                return False
            self._times.append(now)
            return True


@dataclass(frozen=True)
class Query:
    """What one ask carries besides the conversation: text, filters and passage count."""

    text: str
    since: str = ""
    until: str = ""
    outlets: tuple[str, ...] = ()
    passages: int = 5
    standalone: bool = False  # True for a re-run: the text is already the full search


@dataclass(frozen=True)
class Update:
    """One refresh of the chat: messages, sources panel, conversation and last-search fields."""

    messages: list[dict[str, str]]
    sources_html: str | None  # None: leave the panel as it is (while tokens stream)
    exchanges: tuple[Exchange, ...]
    question_box: str
    last_search: tuple[str, str, str] | None  # (searched for, since, until); None: keep
    export_path: str | None = None
    finished: bool = False


class ChatController:
    """What the buttons do, free of Gradio so tests can drive it directly."""

    def __init__(self, settings: Settings, holder: AssistantHolder) -> None:
        self.settings = settings
        self.holder = holder
        self.feedback_file = feedback.feedback_path(settings)
        self.feedback_limit = RateLimit(FEEDBACK_PER_MINUTE)

    def shown_question(self, text: str) -> str:
        """The question as the chat shows and stores it: one line, cut past the length limit."""
        shown = " ".join(text.split()) or "(empty question)"
        limit = self.settings.max_question_chars
        return shown if len(shown) <= limit else shown[:limit] + "…"

    def ask(
        self, query: Query, exchanges: tuple[Exchange, ...], export_name: str
    ) -> Iterator[Update]:
        """Stream one answer; any failure ends as a readable error line in the chat."""
        shown = self.shown_question(query.text)
        partial = ""
        # The question shows at once, with a placeholder until the first words arrive.
        yield Update(ui_render.chat_messages(exchanges, (shown, "")), None, exchanges, "", None)
        try:
            events = self.holder.get().ask_stream(
                query.text,
                history=() if query.standalone else history_turns(exchanges),
                k=query.passages,
                since=query.since.strip() or None,
                until=query.until.strip() or None,
                sources=list(query.outlets) or None,
            )
            for event in events:
                if event.kind == "token":
                    partial += event.text
                    messages = ui_render.chat_messages(exchanges, (shown, partial))
                    yield Update(messages, None, exchanges, "", None)
                elif event.answer is not None:
                    answer = event.answer
                    done = (*exchanges, Exchange(question=shown, answer=answer))
                    since, until = answer.filters.since, answer.filters.until
                    last = (
                        answer.searched_for,
                        since.isoformat() if since else "",
                        until.isoformat() if until else "",
                    )
                    yield Update(
                        ui_render.chat_messages(done),
                        ui_render.sources_panel_html(done),
                        done,
                        "",
                        last,
                        export_file(done, export_name),
                        finished=True,
                    )
                    return
            raise RuntimeError("the answer stream ended without an answer")
        except Exception as error:  # every failure is shown; none stops the app
            failed = (*exchanges, Exchange(question=shown, error=friendly_error(error)))
            yield Update(
                ui_render.chat_messages(failed),
                ui_render.sources_panel_html(failed),
                failed,
                query.text[: self.settings.max_question_chars * 2],  # kept to fix it
                None,
                export_file(failed, export_name),
                finished=True,
            )

    def rate(
        self, exchanges: Sequence[Exchange], position: int, liked: Any
    ) -> tuple[str, tuple[str, int, str] | None]:
        """Save a thumb on exchange `position`: (note for the user, (id, position, rating))."""
        if liked not in (True, False) or not 0 <= position < len(exchanges):
            return "", None
        exchange = exchanges[position]
        rating = "up" if liked is True else "down"
        if not self.feedback_limit.allow():
            return "Too many ratings this minute; try again in a minute.", None
        try:
            record = feedback.make_record(
                rating=rating,
                question=exchange.question,
                answer=exchange.answer,
                reply_text=exchange.reply_text,
            )
            feedback.append_feedback(self.feedback_file, record)
        except feedback.FeedbackError as error:
            return friendly_error(error), None
        thumb = "👍" if rating == "up" else "👎"
        note = f"Saved {thumb} for answer {position + 1}. Add a comment if you like:"
        return note, (record.id, position, rating)

    def comment(
        self, exchanges: Sequence[Exchange], rated: tuple[str, int, str] | None, text: str
    ) -> tuple[str, str]:
        """Save a comment as a later line of the same feedback id: (note, comment box text)."""
        if not rated or not text.strip():
            return "Rate an answer with 👍 or 👎 first, then type a comment.", text
        feedback_id, position, rating = rated
        if not 0 <= position < len(exchanges):
            return "That answer was cleared; rate a current one.", ""
        exchange = exchanges[position]
        if not self.feedback_limit.allow():
            return "Too many ratings this minute; try again in a minute.", text
        try:
            record = feedback.make_record(
                rating=rating,
                question=exchange.question,
                answer=exchange.answer,
                reply_text=exchange.reply_text,
                comment=text,
                feedback_id=feedback_id,
            )
            feedback.append_feedback(self.feedback_file, record)
        except feedback.FeedbackError as error:
            return friendly_error(error), text
        return f"Comment saved for answer {position + 1}. Thank you.", ""
