"""Pure rendering for the Library view: ingest progress, per-file results, the reader.

Like newsrag.ui_render, every string from an article or a file name is escaped here, once.
"""

from __future__ import annotations

from collections.abc import Sequence

from newsrag.library import IngestEvent
from newsrag.models import Article
from newsrag.ui_render import Exchange, escape_html, meta_html

LIBRARY_STYLESHEET = """
.newsrag-progress { height: 10px; border-radius: 5px; background: var(--border-color-primary);
  overflow: hidden; margin: 6px 0; }
.newsrag-progress-bar { height: 100%; background: var(--color-accent); }
.newsrag-progress-line { font-size: 0.92em; }
.newsrag-file-results { margin: 6px 0 0 0; padding-left: 18px; font-size: 0.92em; }
.newsrag-file-skipped { color: var(--error-text-color, #b91c1c); }
.newsrag-reader { max-height: 70vh; overflow-y: auto; }
.newsrag-reader-text { white-space: pre-line; line-height: 1.5; }
.newsrag-reader-title { font-weight: 600; font-size: 1.1em; }
"""


def progress_html(event: IngestEvent) -> str:
    """The progress bar and line for one ingest event, with per-file results at the end."""
    if event.kind == "waiting":
        return f"<div class='newsrag-progress-line newsrag-waiting'>⏳ {escape_html(event.message)}</div>"
    if event.kind == "failed":
        return f"<div class='newsrag-error'>⚠ {escape_html(event.message)}</div>"
    share = 100 if event.kind == "done" else round(100 * event.done / max(event.total, 1))
    rate = f" · {event.passages_per_second:.1f} passages/s" if event.done else ""
    if event.kind == "progress":
        line = f"Ingesting: {event.done:,} of about {event.total:,} passages{rate}"
    else:
        line = f"Done: {event.done:,} passages written{rate}"
    parts = [
        f"<div class='newsrag-progress' role='progressbar' aria-valuenow='{share}' "
        f"aria-valuemin='0' aria-valuemax='100'><div class='newsrag-progress-bar' "
        f"style='width: {share}%'></div></div>",
        f"<div class='newsrag-progress-line'>{escape_html(line)}</div>",
    ]
    if event.kind == "done" and event.message and not event.results:
        parts.append(f"<div class='newsrag-progress-line'>{escape_html(event.message)}</div>")
    if event.results:
        items = "".join(
            f"<li class='newsrag-file-{result.status}'><b>{escape_html(result.name)}</b>: "
            f"{escape_html(result.status)} — {escape_html(result.detail)}</li>"
            for result in event.results
        )
        parts.append(f"<ul class='newsrag-file-results'>{items}</ul>")
    return "".join(parts)


def results_html(lines: Sequence[tuple[str, str, str]]) -> str:
    """Per-item results that never reached the ingest (refused uploads, failed fetches)."""
    if not lines:
        return ""
    items = "".join(
        f"<li class='newsrag-file-{status}'><b>{escape_html(name)}</b>: {escape_html(status)} — "
        f"{escape_html(detail)}</li>"
        for name, status, detail in lines
    )
    return f"<ul class='newsrag-file-results'>{items}</ul>"


def cited_spans(exchanges: Sequence[Exchange], article_id: str) -> list[tuple[int, int, str]]:
    """Where this conversation's answers cited the article: (start, end, label), passages merged."""
    spans: list[tuple[int, int, str]] = []
    for number, exchange in enumerate(exchanges, start=1):
        if exchange.answer is None:
            continue
        for citation in exchange.answer.citations:
            if citation.article_id == article_id:
                label = f"cited as [{citation.number}] in answer {number}"
                spans.append((citation.passage_start, citation.passage_end, label))
    merged: list[tuple[int, int, str]] = []
    for start, end, label in sorted(spans):
        if merged and start <= merged[-1][1]:
            previous = merged[-1]
            labels = previous[2] if label in previous[2] else f"{previous[2]}; {label}"
            merged[-1] = (previous[0], max(previous[1], end), labels)
        else:
            merged.append((start, end, label))
    return merged


def reader_html(article: Article, spans: Sequence[tuple[int, int, str]]) -> str:
    """An article's full text, escaped, with the passages cited in this conversation marked."""
    text = article.text
    pieces: list[str] = []
    position = 0
    for start, end, label in spans:
        start, end = max(start, position), min(end, len(text))
        if start >= end:
            continue
        pieces.append(escape_html(text[position:start]))
        pieces.append(
            f"<mark class='newsrag-cited-passage' title='{escape_html(label)}'>"
            f"{escape_html(text[start:end])}</mark>"
        )
        position = end
    pieces.append(escape_html(text[position:]))
    cited = (
        f"<div class='newsrag-note'>{len(spans)} passage(s) cited in this conversation are marked.</div>"
        if spans
        else "<div class='newsrag-note'>No passage of it was cited in this conversation yet.</div>"
    )
    return (
        "<div class='newsrag-reader'>"
        f"<div class='newsrag-reader-title'>{escape_html(article.title or 'untitled')}</div>"
        f"<div class='newsrag-source-meta'>{meta_html(article.source, article.date, article.url)}</div>"
        f"{cited}<div class='newsrag-reader-text'>{''.join(pieces)}</div></div>"
    )


def reader_placeholder(message: str = "") -> str:
    """The reader before an article is chosen (or a one-line problem)."""
    if message:
        return f"<div class='newsrag-reader'><div class='newsrag-error'>⚠ {escape_html(message)}</div></div>"
    return (
        "<div class='newsrag-reader'><p class='newsrag-note'>Choose an article in the list to read it "
        "here, with the passages cited in this conversation marked.</p></div>"
    )
