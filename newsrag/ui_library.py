"""The Library view: add articles (files, URLs, feeds), watch the ingest, list, read and delete.

LibraryController holds the behaviour (tests drive it without Gradio); build_library_tab wires
it to Gradio components inside the app's Blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from newsrag import ui_render_library as render
from newsrag.config import Settings
from newsrag.library import (
    MAX_UPLOAD_FILES,
    SORT_KEYS,
    IngestEvent,
    IngestQueue,
    LibraryError,
    list_articles,
    read_article,
    save_upload,
)
from newsrag.manifest import ManifestError
from newsrag.ui_chat import AssistantHolder
from newsrag.ui_render import Exchange

UPLOAD_TYPES = [".txt", ".md", ".markdown", ".html", ".htm", ".jsonl", ".csv"]
MAX_PASTED_URLS = 20
HEADERS = ["Title", "Outlet", "Date", "Passages", "Added"]
NEEDS_KEY = "Changing the corpus needs the server's NEWSRAG_API_KEY: log in with it first."


class LibraryController:
    """What the Library's controls do."""

    def __init__(self, settings: Settings, holder: AssistantHolder) -> None:
        self.settings = settings

        def loaded_embedder() -> Any:
            assistant = holder.current
            return assistant.retriever.embedder if assistant is not None else None

        self.queue = IngestQueue(settings, loaded_embedder)

    def allowed(self, username: str | None) -> bool:
        """With NEWSRAG_API_KEY set, only a session logged in with the key changes the corpus."""
        return not self.settings.api_key or bool(username)

    def _ingest(
        self, paths: Sequence[Path], names: Sequence[str], refused: list[tuple[str, str, str]]
    ) -> Iterator[str]:
        before = render.results_html(refused)
        if not paths:
            yield before or render.progress_html(IngestEvent("failed", "Nothing to ingest."))
            return
        for event in self.queue.ingest_files(paths, names=names):
            yield render.progress_html(event) + before

    def upload(self, files: Sequence[str] | None, username: str | None = None) -> Iterator[str]:
        """Save uploaded files under corpus/uploads/ and ingest them; yields the progress HTML."""
        if not self.allowed(username):
            yield render.progress_html(IngestEvent("failed", NEEDS_KEY))
            return
        chosen = [Path(file) for file in (files or [])]
        refused: list[tuple[str, str, str]] = []
        if len(chosen) > MAX_UPLOAD_FILES:
            refused = [(path.name, "skipped", "over the per-upload limit") for path in chosen[20:]]
            chosen = chosen[:MAX_UPLOAD_FILES]
        saved: list[Path] = []
        names: list[str] = []
        for path in chosen:
            target, reason = save_upload(path, path.name, settings=self.settings)
            if target is None:
                refused.append((path.name, "skipped", reason))
            else:
                saved.append(target)
                names.append(path.name)
        yield from self._ingest(saved, names, refused)

    def fetch(self, pasted: str, username: str | None = None) -> Iterator[str]:
        """Fetch pasted article and feed URLs into corpus/feeds/ and ingest what is new."""
        from newsrag.feeds import fetch_pasted

        if not self.allowed(username):
            yield render.progress_html(IngestEvent("failed", NEEDS_KEY))
            return
        urls = [line.strip() for line in (pasted or "").splitlines() if line.strip()]
        if not urls:
            yield render.progress_html(IngestEvent("failed", "Paste article or feed URLs first."))
            return
        urls = urls[:MAX_PASTED_URLS]
        yield render.progress_html(IngestEvent("waiting", f"Fetching {len(urls)} URL(s)…"))
        report = fetch_pasted(urls, settings=self.settings)
        refused = [(item.path, "skipped", item.reason) for item in report.skipped]
        if not report.saved:
            note = f"{report.known} link(s) were fetched before." if report.known else ""
            refused.append(
                ("fetch", "unchanged" if report.known else "skipped", note or "nothing new")
            )
            yield render.results_html(refused)
            return
        names = [path.name for path in report.saved]
        yield from self._ingest(report.saved, names, refused)

    def table(
        self, search: str = "", sort: str = "Newest first"
    ) -> tuple[list[list[Any]], list[str], str]:
        """The article list: (table rows, their article ids, a count line)."""
        try:
            rows, matches = list_articles(self.settings, search=search or "", sort=sort)
        except ManifestError as error:
            return [], [], f"⚠ {' '.join(str(error).split())}"
        values = [[row.title, row.source, row.date, row.passages, row.added] for row in rows]
        shown = f"{matches:,} article(s)" + (
            f", first {len(rows):,} shown" if matches > len(rows) else ""
        )
        return values, [row.article_id for row in rows], shown

    def read(self, article_id: str, exchanges: Sequence[Exchange]) -> str:
        """The reader's HTML for one article."""
        try:
            article = read_article(article_id, settings=self.settings)
        except (LibraryError, ManifestError) as error:
            return render.reader_placeholder(str(error))
        return render.reader_html(article, render.cited_spans(exchanges, article_id))

    def delete(self, article_id: str, username: str | None = None) -> Iterator[str]:
        """Delete one article (after any running ingest); yields a status line."""
        if not self.allowed(username):
            yield render.progress_html(IngestEvent("failed", NEEDS_KEY))
            return
        if not article_id:
            yield render.progress_html(
                IngestEvent("failed", "Choose an article in the list first.")
            )
            return
        for event in self.queue.delete(article_id):
            if event.kind == "done":
                yield f"<div class='newsrag-progress-line'>{render.escape_html(event.message)}</div>"
            else:
                yield render.progress_html(event)


def build_library_tab(
    controller: LibraryController,
    exchanges_state: gr.State,
    after_change: tuple[Callable[..., Any], list[Any], list[Any]],
) -> tuple[Callable[..., Any], list[Any], list[Any]]:
    """The Library tab's components and events (inside an open gr.Blocks and gr.Tab).

    Returns the list's refresh as (function, inputs, outputs), for the tab's select event.
    """
    private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    rows, ids, count = controller.table()
    ids_state = gr.State(ids)
    selected_state = gr.State("")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            gr.Markdown("### Add articles")
            upload = gr.File(
                label="Drop files here or click to choose (txt, md, html, jsonl, csv)",
                file_count="multiple",
                file_types=UPLOAD_TYPES,
                type="filepath",
                elem_id="newsrag-upload",
            )
            urls_box = gr.Textbox(
                label="Article or RSS/Atom feed URLs (one a line)",
                lines=3,
                max_lines=8,
                elem_id="newsrag-urls",
            )
            fetch_button = gr.Button("Fetch and ingest", size="sm", elem_id="newsrag-fetch")
            status = gr.HTML("", elem_id="newsrag-ingest-status")
        with gr.Column(scale=3, min_width=320):
            with gr.Row(equal_height=True):
                search_box = gr.Textbox(
                    label="Search the list", scale=3, elem_id="newsrag-library-search"
                )
                sort_box = gr.Dropdown(
                    list(SORT_KEYS),
                    value="Newest first",
                    label="Sort",
                    scale=1,
                    elem_id="newsrag-library-sort",
                )
            count_line = gr.Markdown(count, elem_id="newsrag-library-count")
            table = gr.Dataframe(
                value=rows,
                headers=HEADERS,
                datatype=["str", "str", "str", "number", "str"],
                interactive=False,
                wrap=True,
                max_height=420,
                column_widths=["46%", "20%", "12%", "8%", "14%"],
                elem_id="newsrag-articles",
            )
            delete_button = gr.Button(
                "Delete the open article",
                size="sm",
                variant="stop",
                interactive=False,
                elem_id="newsrag-delete",
            )
            reader = gr.HTML(render.reader_placeholder(), elem_id="newsrag-reader")

    def listed(search: str, sort: str) -> tuple[Any, ...]:
        values, article_ids, line = controller.table(search, sort)
        return values, article_ids, line

    list_outputs = [table, ids_state, count_line]
    search_box.input(
        listed, [search_box, sort_box], list_outputs, trigger_mode="always_last", **private
    )
    sort_box.change(listed, [search_box, sort_box], list_outputs, **private)

    def on_select(
        article_ids: list[str], exchanges: tuple[Exchange, ...], event: gr.SelectData
    ) -> tuple[Any, ...]:
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        if not isinstance(row, int) or not 0 <= row < len(article_ids):
            return render.reader_placeholder(), "", gr.update(interactive=False)
        article_id = article_ids[row]
        return controller.read(article_id, exchanges), article_id, gr.update(interactive=True)

    table.select(
        on_select, [ids_state, exchanges_state], [reader, selected_state, delete_button], **private
    )

    def uploaded(files: list[str] | None, request: gr.Request) -> Iterator[tuple[Any, ...]]:
        for html in controller.upload(files, request.username if request else None):
            yield html, gr.update()
        yield gr.update(), None  # the drop zone empties for the next files

    def fetched(pasted: str, request: gr.Request) -> Iterator[tuple[Any, ...]]:
        for html in controller.fetch(pasted, request.username if request else None):
            yield html, gr.update()
        yield gr.update(), ""

    def deleted(article_id: str, request: gr.Request) -> Iterator[tuple[Any, ...]]:
        for html in controller.delete(article_id, request.username if request else None):
            yield html, gr.update(), gr.update()
        yield gr.update(), render.reader_placeholder(), gr.update(interactive=False)

    refresh = [listed, [search_box, sort_box], list_outputs]
    upload.upload(uploaded, [upload], [status, upload], **private).then(*refresh, **private).then(
        *after_change, **private
    )
    fetch_button.click(fetched, [urls_box], [status, urls_box], **private).then(
        *refresh, **private
    ).then(*after_change, **private)
    delete_button.click(deleted, [selected_state], [status, reader, delete_button], **private).then(
        *refresh, **private
    ).then(*after_change, **private)
    return listed, [search_box, sort_box], list_outputs
