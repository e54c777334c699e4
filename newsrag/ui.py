"""The browser chat: Gradio Blocks over the Assistant, mounted into the API's FastAPI app.

Thin on purpose: answers come from newsrag.assistant, rendering and escaping from
newsrag.ui_render, feedback storage from newsrag.feedback. Works offline (local fonts, no
analytics, no share link) and shows every failure as a readable line in the chat.
"""

from __future__ import annotations

import hmac
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Before Gradio is imported: it reads this once; no telemetry or version checks leave the machine.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr
from fastapi import FastAPI

from newsrag import feedback, ui_render
from newsrag.config import Settings
from newsrag.manifest import Manifest, ManifestError
from newsrag.ui_render import Exchange

if TYPE_CHECKING:
    from newsrag.assistant import Assistant

logger = logging.getLogger(__name__)

TITLE = "newsrag"
HISTORY_EXCHANGES = 3  # earlier exchanges passed to the Assistant for follow-ups
EXPORT_DIR = Path(tempfile.gettempdir()) / "newsrag-exports"


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
    """One readable line for the chat; unexpected errors are logged with their traceback."""
    from newsrag.assistant import AnswerEngineError
    from newsrag.prompts import PromptError
    from newsrag.retrieval import IndexMissingError, QueryError
    from newsrag.store import StoreError

    expected = (QueryError, IndexMissingError, ManifestError, StoreError, AnswerEngineError)
    if isinstance(error, (*expected, PromptError, feedback.FeedbackError)):
        text = " ".join(str(error).split()) or type(error).__name__
        return text[:1].upper() + text[1:]
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


def export_file(exchanges: Sequence[Exchange], session_file: str) -> str | None:
    """Write the conversation as Markdown for the download button; None when it is empty."""
    if not exchanges:
        return None
    EXPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = EXPORT_DIR / session_file
    path.write_text(ui_render.conversation_markdown(exchanges, title=TITLE), encoding="utf-8")
    return str(path)


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

    def ask(
        self, query: Query, exchanges: tuple[Exchange, ...], export_name: str
    ) -> Iterator[Update]:
        """Stream one answer; any failure ends as a readable error line in the chat."""
        shown = " ".join(query.text.split()) or "(empty question)"
        partial = ""
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
                query.text,  # keep the text so the user can fix it
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


def _gradio_outputs(update: Update) -> tuple[Any, ...]:
    """An Update as values for the stream outputs (gr.update() where nothing changes)."""
    keep = gr.update()
    searched, since, until = update.last_search or (keep, keep, keep)
    return (
        update.messages,
        keep if update.sources_html is None else update.sources_html,
        update.exchanges,
        update.question_box,
        searched,
        since,
        until,
        update.export_path if update.finished else keep,
    )


def build_blocks(settings: Settings, assistant: Assistant | None) -> gr.Blocks:
    """The chat UI as Gradio Blocks (not launched, not mounted)."""
    controller = ChatController(settings, AssistantHolder(settings, assistant))
    view = describe_index(settings, controller.holder)
    private: dict[str, Any] = {"api_visibility": "private"}  # the HTTP API is /api, not Gradio's

    with gr.Blocks(title=TITLE, analytics_enabled=False, fill_width=True) as blocks:
        exchanges_state = gr.State(())
        rated_state = gr.State(None)  # (feedback id, exchange index, rating) of the last thumb
        export_name = gr.State(lambda: f"newsrag-conversation-{uuid.uuid4().hex[:8]}.md")

        with gr.Sidebar(label="Filters and index", open=True, elem_id="newsrag-sidebar"):
            gr.Markdown("### Filters for new questions")
            since_box = gr.Textbox(
                label="From date", placeholder="YYYY-MM-DD", elem_id="newsrag-since"
            )
            until_box = gr.Textbox(
                label="To date", placeholder="YYYY-MM-DD", elem_id="newsrag-until"
            )
            outlets_box = gr.Dropdown(
                choices=view.outlets,
                multiselect=True,
                label="Outlets (none chosen: all)",
                elem_id="newsrag-outlets",
            )
            passages_slider = gr.Slider(
                1,
                20,
                value=min(settings.top_k, 20),
                step=1,
                label="Passages to search",
                elem_id="newsrag-passages",
            )
            gr.Markdown("### Engine and index")
            facts_html = gr.HTML(view.facts_html, elem_id="newsrag-facts")

        gr.Markdown(f"## {TITLE} — ask the news\nEvery claim cites the passage it comes from.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                with gr.Row(elem_id="newsrag-last-search", equal_height=True):
                    searched_box = gr.Textbox(
                        label="Searched for (edit and re-run)",
                        scale=4,
                        elem_id="newsrag-searched-for",
                    )
                    last_since_box = gr.Textbox(
                        label="From",
                        placeholder="YYYY-MM-DD",
                        scale=1,
                        min_width=130,
                        elem_id="newsrag-last-since",
                    )
                    last_until_box = gr.Textbox(
                        label="To",
                        placeholder="YYYY-MM-DD",
                        scale=1,
                        min_width=130,
                        elem_id="newsrag-last-until",
                    )
                    rerun_button = gr.Button(
                        "Re-run", scale=1, min_width=80, size="sm", elem_id="newsrag-rerun"
                    )
                chatbot = gr.Chatbot(
                    label="Conversation",
                    elem_id="newsrag-chat",
                    height=460,
                    latex_delimiters=[],
                    sanitize_html=True,
                    feedback_options=("Like", "Dislike"),
                    group_consecutive_messages=False,
                    buttons=["copy"],
                    placeholder="Ask a question about the articles in the index.",
                )
                with gr.Row():
                    question_box = gr.Textbox(
                        show_label=False,
                        placeholder="Ask a question, e.g. who, what, when…",
                        scale=6,
                        elem_id="newsrag-question",
                    )
                    ask_button = gr.Button("Ask", variant="primary", scale=1, elem_id="newsrag-ask")
                example_buttons: list[tuple[gr.Button, str]] = []
                if view.examples:
                    with gr.Row(elem_id="newsrag-examples"):
                        for example in view.examples:
                            button = gr.Button(example, size="sm", elem_classes=["newsrag-example"])
                            example_buttons.append((button, example))
                with gr.Row(visible=False, elem_id="newsrag-feedback-row") as feedback_row:
                    feedback_note = gr.Markdown(elem_id="newsrag-feedback-note")
                    comment_box = gr.Textbox(
                        show_label=False,
                        placeholder="Optional comment on this answer",
                        scale=4,
                        elem_id="newsrag-comment",
                    )
                    comment_button = gr.Button(
                        "Send comment", scale=1, size="sm", elem_id="newsrag-send-comment"
                    )
                with gr.Row():
                    download_button = gr.DownloadButton(
                        "Export conversation (Markdown)",
                        value=None,
                        size="sm",
                        elem_id="newsrag-export",
                    )
                    clear_button = gr.Button("Clear", size="sm", elem_id="newsrag-clear")
            with gr.Column(scale=2):
                sources_html = gr.HTML(ui_render.sources_panel_html(()), elem_id="newsrag-sources")

        stream_outputs = [
            chatbot,
            sources_html,
            exchanges_state,
            question_box,
            searched_box,
            last_since_box,
            last_until_box,
            download_button,
        ]

        def ask(
            text: str,
            since: str,
            until: str,
            outlets: list[str] | None,
            passages: float,
            exchanges: tuple[Exchange, ...],
            file_name: str,
        ) -> Iterator[tuple[Any, ...]]:
            """A new question, read as a follow-up of the conversation so far."""
            query = Query(text or "", since or "", until or "", tuple(outlets or ()), int(passages))
            for update in controller.ask(query, exchanges, file_name):
                yield _gradio_outputs(update)

        def rerun(
            text: str,
            since: str,
            until: str,
            outlets: list[str] | None,
            passages: float,
            exchanges: tuple[Exchange, ...],
            file_name: str,
        ) -> Iterator[tuple[Any, ...]]:
            """The last search again as edited: its text is already standalone."""
            query = Query(
                text or "",
                since or "",
                until or "",
                tuple(outlets or ()),
                int(passages),
                standalone=True,
            )
            for update in controller.ask(query, exchanges, file_name):
                yield _gradio_outputs(update)

        common = [outlets_box, passages_slider, exchanges_state, export_name]
        ask_inputs = [question_box, since_box, until_box, *common]
        rerun_inputs = [searched_box, last_since_box, last_until_box, *common]
        ask_button.click(ask, ask_inputs, stream_outputs, **private)
        question_box.submit(ask, ask_inputs, stream_outputs, **private)
        rerun_button.click(rerun, rerun_inputs, stream_outputs, **private)
        for button, example in example_buttons:
            button.click(lambda text=example: text, None, question_box, **private).then(
                ask, ask_inputs, stream_outputs, **private
            )

        def on_like(exchanges: tuple[Exchange, ...], like: gr.LikeData) -> tuple[Any, ...]:
            """A thumb on a chat reply (two messages per exchange: question, reply)."""
            index = like.index[0] if isinstance(like.index, (list, tuple)) else like.index
            note, rated = controller.rate(exchanges, int(index) // 2, like.liked)
            return gr.update(visible=bool(note)), note, rated, ""

        chatbot.like(
            on_like,
            [exchanges_state],
            [feedback_row, feedback_note, rated_state, comment_box],
            **private,
        )
        comment_button.click(
            lambda exchanges, rated, text: controller.comment(exchanges, rated, text),
            [exchanges_state, rated_state, comment_box],
            [feedback_note, comment_box],
            **private,
        )

        def clear() -> tuple[Any, ...]:
            """Start over: empty chat, sources, last search, export and feedback row."""
            empty = _gradio_outputs(
                Update(
                    [], ui_render.sources_panel_html(()), (), "", ("", "", ""), None, finished=True
                )
            )
            return (*empty, gr.update(visible=False), None)

        clear_outputs = [*stream_outputs, feedback_row, rated_state]
        clear_button.click(clear, None, clear_outputs, **private)
        chatbot.clear(clear, None, clear_outputs, **private)

        def refresh() -> tuple[Any, Any]:
            """Index facts and outlets as they are now (the index may have grown since start)."""
            current = describe_index(settings, controller.holder)
            return current.facts_html, gr.update(choices=current.outlets)

        blocks.load(refresh, None, [facts_html, outlets_box], **private)
    return blocks


def ui_auth(settings: Settings) -> Any:
    """Gradio login when NEWSRAG_API_KEY is set: any user name, the key as password."""
    if not settings.api_key:
        return None
    key = settings.api_key.encode("utf-8")

    def check(username: str, password: str) -> bool:
        return hmac.compare_digest((password or "").encode("utf-8", "replace"), key)

    return check


def mount_ui(app: FastAPI, *, assistant: Assistant | None, settings: Settings) -> FastAPI:
    """Mount the chat at "/" of the API's FastAPI app, so one process serves UI and API."""
    blocks = build_blocks(settings, assistant)
    blocks.queue(default_concurrency_limit=settings.max_concurrent_answers)
    return gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        server_name=settings.host,
        server_port=settings.port,
        footer_links=["api", "settings"],
        auth=ui_auth(settings),
        auth_message="Password: the server's NEWSRAG_API_KEY." if settings.api_key else None,
        show_error=False,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        css=ui_render.STYLESHEET,
    )
