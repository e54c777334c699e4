"""The browser app: Gradio Blocks (Chat and Library) over the Assistant, mounted into the API's app.

Thin on purpose: what the chat's buttons do is newsrag.ui_chat, the Library newsrag.ui_library,
rendering and escaping newsrag.ui_render, saved conversations newsrag.conversations. Works
offline (local fonts, no analytics, no share link) and shows every failure as a readable line.
"""

from __future__ import annotations

import atexit
import hmac
import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

# Before Gradio is imported: it reads this once; no telemetry or version checks leave the machine.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr
from fastapi import FastAPI

from newsrag import ui_render, ui_render_library
from newsrag.config import Settings
from newsrag.conversations import ConversationStore, browser_secret
from newsrag.library import MAX_UPLOAD_FILES
from newsrag.ui_chat import (
    TITLE,
    AssistantHolder,
    ChatController,
    Query,
    Update,
    describe_index,
    export_file,
    remove_exports,
)
from newsrag.ui_library import LibraryController, build_library_tab
from newsrag.ui_plumbing import (
    MAX_UI_BODY_BYTES,
    PAGE_SCRIPT,
    UI_STYLESHEET,
    UPLOAD_OVERHEAD_BYTES,
    GradioBodyLimit,
)
from newsrag.ui_render import Exchange

if TYPE_CHECKING:
    from newsrag.assistant import Assistant

__all__ = ["AssistantHolder", "ChatController", "Query", "build_blocks", "mount_ui", "ui_auth"]

EXAMPLE_SLOTS = 4
EXPORT_CACHE = (3600, 3600)  # Gradio's copies of exports: swept hourly, removed after an hour


def _gradio_outputs(update: Update, *, first: bool = False) -> tuple[Any, ...]:
    """An Update as values for the stream outputs (gr.update() where nothing changes)."""
    keep = gr.update()
    searched, since, until = update.last_search or (keep, keep, keep)
    # Ask stays off while an answer runs, and after it while the box is empty.
    ask = gr.update(interactive=update.finished and bool(update.question_box.strip()))
    return (
        update.messages,
        keep if update.sources_html is None else update.sources_html,
        update.exchanges,
        update.question_box,
        searched,
        since,
        until,
        update.export_path if update.finished else keep,
        ask,
        gr.update(visible=False) if first else keep,  # the last answer's feedback row goes
        "" if first else keep,
    )


def _conversation_choices(store: ConversationStore) -> list[tuple[str, str]]:
    return [(summary.label(), summary.id) for summary in store.list()]


def build_blocks(settings: Settings, assistant: Assistant | None) -> gr.Blocks:
    """The app as Gradio Blocks (not launched, not mounted)."""
    controller = ChatController(settings, AssistantHolder(settings, assistant))
    library = LibraryController(settings, controller.holder)
    store = ConversationStore.for_settings(settings)
    view = describe_index(settings, controller.holder)
    # The HTTP API is /api, not Gradio's; Gradio's overlays give way to the chat's placeholder.
    private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}

    with gr.Blocks(
        title=TITLE, analytics_enabled=False, fill_width=True, delete_cache=EXPORT_CACHE
    ) as blocks:
        exchanges_state = gr.State(())
        rated_state = gr.State(None)  # (feedback id, exchange index, rating) of the last thumb
        export_name = gr.State(lambda: f"newsrag-conversation-{uuid.uuid4().hex[:8]}.md")
        # Kept in the browser: a reload (or a server restart) reopens the same conversation.
        conversation_id = gr.BrowserState(
            "", storage_key="newsrag-conversation", secret=browser_secret(settings)
        )

        with gr.Sidebar(label="Filters and index", open=True, elem_id="newsrag-sidebar"):
            gr.Markdown("### Conversations")
            new_chat_button = gr.Button("New chat", size="sm", elem_id="newsrag-new-chat")
            conversations_radio = gr.Radio(
                choices=_conversation_choices(store),
                value=None,
                show_label=False,
                elem_id="newsrag-conversations",
            )
            with gr.Row(equal_height=True):
                rename_box = gr.Textbox(
                    show_label=False, placeholder="New title", scale=3, elem_id="newsrag-rename"
                )
                rename_button = gr.Button("Rename", size="sm", scale=1, elem_id="newsrag-rename-go")
            delete_chat_button = gr.Button(
                "Delete this conversation", size="sm", elem_id="newsrag-delete-chat"
            )
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
        with gr.Tabs(elem_id="newsrag-tabs"):
            with gr.Tab("Chat", id="chat", elem_id="newsrag-chat-tab"), gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=320):
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
                            max_length=settings.max_question_chars * 2,
                            elem_id="newsrag-question",
                        )
                        ask_button = gr.Button(
                            "Ask",
                            variant="primary",
                            scale=1,
                            min_width=70,
                            interactive=False,
                            elem_id="newsrag-ask",
                        )
                    with gr.Row(elem_id="newsrag-examples"):
                        example_buttons = [
                            gr.Button(
                                view.examples[slot] if slot < len(view.examples) else "",
                                size="sm",
                                visible=slot < len(view.examples),
                                elem_classes=["newsrag-example"],
                            )
                            for slot in range(EXAMPLE_SLOTS)
                        ]
                    with gr.Column(visible=False, elem_id="newsrag-feedback-row") as feedback_row:
                        feedback_note = gr.Markdown(elem_id="newsrag-feedback-note")
                        with gr.Row(equal_height=True):
                            comment_box = gr.Textbox(
                                show_label=False,
                                placeholder="Optional comment on this answer",
                                scale=4,
                                max_length=2000,
                                elem_id="newsrag-comment",
                            )
                            comment_button = gr.Button(
                                "Send comment",
                                scale=1,
                                size="sm",
                                elem_id="newsrag-send-comment",
                            )
                    with gr.Row():
                        download_button = gr.DownloadButton(
                            "Export conversation (Markdown)",
                            value=None,
                            size="sm",
                            elem_id="newsrag-export",
                        )
                        clear_button = gr.Button("Clear", size="sm", elem_id="newsrag-clear")
                with gr.Column(scale=2, min_width=300):
                    sources_html = gr.HTML(
                        ui_render.sources_panel_html(()), elem_id="newsrag-sources"
                    )
            with gr.Tab("Library", id="library", elem_id="newsrag-library-tab") as library_tab:
                refresh_outputs: list[Any] = [facts_html, outlets_box, *example_buttons]

                def refresh() -> tuple[Any, ...]:
                    """Index facts, outlets and examples as they are now (after an ingest too)."""
                    current = describe_index(settings, controller.holder)
                    examples = [
                        gr.update(value=current.examples[slot], visible=True)
                        if slot < len(current.examples)
                        else gr.update(visible=False)
                        for slot in range(EXAMPLE_SLOTS)
                    ]
                    return current.facts_html, gr.update(choices=current.outlets), *examples

                listing = build_library_tab(
                    library, exchanges_state, (refresh, [], refresh_outputs)
                )
            # Other sessions and `watch` change the corpus too: the list is read again on opening.
            library_tab.select(*listing, **private)
        gr.HTML(
            "<div id='newsrag-footer'>HTTP API: <a href='/docs'>/docs</a> · "
            "OpenAI-compatible under /v1</div>"
        )

        stream_outputs = [
            chatbot,
            sources_html,
            exchanges_state,
            question_box,
            searched_box,
            last_since_box,
            last_until_box,
            download_button,
            ask_button,
            feedback_row,
            feedback_note,
        ]

        def run(query: Query, exchanges: tuple[Exchange, ...], file_name: str) -> Iterator[Any]:
            for number, update in enumerate(controller.ask(query, exchanges, file_name)):
                yield _gradio_outputs(update, first=number == 0)

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
            yield from run(query, exchanges, file_name)

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
            outlet_names = tuple(outlets or ())
            query = Query(text or "", since or "", until or "", outlet_names, int(passages), True)
            yield from run(query, exchanges, file_name)

        def save(exchanges: tuple[Exchange, ...], current: str) -> tuple[Any, Any]:
            """Store the conversation after each answer; the list shows it first."""
            if not any(exchange.answer is not None for exchange in exchanges):
                return current, gr.update()  # only error lines so far: nothing worth keeping
            saved = store.save(current or None, exchanges) or ""
            return saved, gr.update(choices=_conversation_choices(store), value=saved or None)

        saving = (save, [exchanges_state, conversation_id], [conversation_id, conversations_radio])
        common = [outlets_box, passages_slider, exchanges_state, export_name]
        ask_inputs = [question_box, since_box, until_box, *common]
        rerun_inputs = [searched_box, last_since_box, last_until_box, *common]
        ask_button.click(ask, ask_inputs, stream_outputs, **private).then(*saving, **private)
        question_box.submit(ask, ask_inputs, stream_outputs, **private).then(*saving, **private)
        rerun_button.click(rerun, rerun_inputs, stream_outputs, **private).then(*saving, **private)
        question_box.input(
            lambda text: gr.update(interactive=bool((text or "").strip())),
            question_box,
            ask_button,
            queue=False,
            trigger_mode="always_last",
            **private,
        )
        for button in example_buttons:
            button.click(lambda text: text, button, question_box, **private).then(
                ask, ask_inputs, stream_outputs, **private
            ).then(*saving, **private)

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

        def shown(exchanges: tuple[Exchange, ...], file_name: str, current: str) -> tuple[Any, ...]:
            """A conversation on screen: chat, sources, state, export, list, id, feedback row."""
            update = Update(
                ui_render.chat_messages(exchanges),
                ui_render.sources_panel_html(exchanges),
                exchanges,
                "",
                ("", "", ""),
                export_file(exchanges, file_name),
                finished=True,
            )
            listed = gr.update(choices=_conversation_choices(store), value=current or None)
            return (*_gradio_outputs(update, first=True), listed, current, None)

        shown_outputs = [*stream_outputs, conversations_radio, conversation_id, rated_state]

        def new_chat(file_name: str) -> tuple[Any, ...]:
            """Start over; the conversation so far stays in the list."""
            return shown((), file_name, "")

        def resume(chosen: str | None, file_name: str) -> tuple[Any, ...]:
            """Open a saved conversation (an unknown id: a new chat)."""
            exchanges = store.load(chosen or "")
            return shown(
                exchanges or (), file_name, (chosen or "") if exchanges is not None else ""
            )

        def rename(current: str, title: str) -> tuple[Any, Any]:
            store.rename(current, title)
            return gr.update(choices=_conversation_choices(store), value=current or None), ""

        def delete_chat(current: str, file_name: str) -> tuple[Any, ...]:
            store.delete(current)
            return new_chat(file_name)

        clear_button.click(new_chat, [export_name], shown_outputs, **private)
        new_chat_button.click(new_chat, [export_name], shown_outputs, **private)
        chatbot.clear(new_chat, [export_name], shown_outputs, **private)
        conversations_radio.input(
            resume, [conversations_radio, export_name], shown_outputs, **private
        )
        rename_button.click(
            rename, [conversation_id, rename_box], [conversations_radio, rename_box], **private
        )
        delete_chat_button.click(
            delete_chat, [conversation_id, export_name], shown_outputs, **private
        )

        def restore(chosen: str, file_name: str) -> tuple[Any, ...]:
            """On page load: reopen the browser's conversation; with none, touch only the list
            (a question asked while the page loads must not be wiped)."""
            if chosen and store.load(chosen) is not None:
                return resume(chosen, file_name)
            keep = [gr.update()] * len(stream_outputs)
            listed = gr.update(choices=_conversation_choices(store), value=None)
            return (*keep, listed, "", gr.update())

        blocks.load(refresh, None, refresh_outputs, **private).then(
            restore, [conversation_id, export_name], shown_outputs, **private
        )
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
    """Mount the app at "/" of the API's FastAPI app, so one process serves UI and API."""
    blocks = build_blocks(settings, assistant)
    blocks.queue(default_concurrency_limit=settings.max_concurrent_answers)
    atexit.register(remove_exports)
    upload_limit = settings.max_file_bytes * MAX_UPLOAD_FILES + UPLOAD_OVERHEAD_BYTES
    app.add_middleware(GradioBodyLimit, max_bytes=MAX_UI_BODY_BYTES, max_upload_bytes=upload_limit)
    return gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        server_name=settings.host,
        server_port=settings.port,
        footer_links=[],  # no Gradio API page or settings: the API is /docs (linked in the page)
        auth=ui_auth(settings),
        auth_message="Password: the server's NEWSRAG_API_KEY." if settings.api_key else None,
        show_error=False,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        max_file_size=settings.max_file_bytes,
        css=ui_render.STYLESHEET + ui_render_library.LIBRARY_STYLESHEET + UI_STYLESHEET,
        js=PAGE_SCRIPT,
    )
