"""Pure rendering for the browser chat: every string from an article is escaped here, once.

Nothing in this module imports Gradio or touches the index: functions take models and return
strings (HTML for the sources panel and the chat messages, Markdown for the export), so the
escaping can be unit-tested without a browser.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from newsrag.models import Answer, Citation, Hit

# Characters that mean something to Markdown (or to Gradio's LaTeX and autolink passes) or to HTML.
# Written as numeric character references they show as themselves and are never parsed as syntax.
_MARKUP_CHARACTERS = frozenset("&<>\"'`\\*_{}[]()#+-.!|~:$=^@%/")
_CITATION_MARKER = re.compile(r"\[(\d{1,3})\]")
_MANY_BLANK_LINES = re.compile(r"\n\s*\n(\s*\n)+")
MAX_TITLE_CHARS = 90

# Styles of the classes below, passed to Gradio with the app.
STYLESHEET = """
#newsrag-sources { max-height: 78vh; overflow-y: auto; }
.newsrag-source { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 10px 12px; margin: 0 0 10px 0; }
.newsrag-source:target { outline: 3px solid var(--color-accent); }
.newsrag-source-title { font-weight: 600; }
.newsrag-source-number { color: var(--color-accent); }
.newsrag-source-meta { font-size: 0.9em; opacity: 0.8; margin: 2px 0 6px 0; }
.newsrag-passage { white-space: pre-line; font-size: 0.92em; line-height: 1.45; }
/* A fixed dark text on the yellow: readable in light and dark themes alike (contrast > 12:1). */
.newsrag-passage mark, .newsrag-reader mark { background: #ffe58a; color: #1f2328; padding: 0 1px; }
.newsrag-reader mark.newsrag-cited-passage { background: #fff3c4; }
.newsrag-short-answer { font-size: 1.05em; margin: 2px 0 6px 0; }
.newsrag-searched { font-size: 0.85em; opacity: 0.75; margin-bottom: 4px; }
.newsrag-refusal { font-style: italic; }
.newsrag-error { color: var(--error-text-color, #b91c1c); }
.newsrag-note { opacity: 0.75; }
.newsrag-sources-question { font-size: 0.85em; opacity: 0.75; margin-bottom: 8px; }
a.newsrag-cite { text-decoration: none; font-weight: 600; }
"""


@dataclass(frozen=True)
class Exchange:
    """One question of a conversation and what came back: an Answer, or a readable error."""

    question: str
    answer: Answer | None = None
    error: str = ""

    @property
    def reply_text(self) -> str:
        """The answer's text, or the error message when there is no answer."""
        return self.answer.text if self.answer is not None else self.error


def escape_html(text: str) -> str:
    """Escape text for HTML content or a quoted attribute."""
    return html.escape(text, quote=True)


def escape_markup(text: str) -> str:
    """Escape text for a component that renders Markdown with HTML: nothing in it stays syntax."""
    return "".join(
        f"&#{ord(character)};" if character in _MARKUP_CHARACTERS else character
        for character in text
    )


def escape_markdown(text: str) -> str:
    """Backslash-escape Markdown and HTML syntax, for the exported Markdown file (stays readable)."""
    escaped = re.sub(r"([\\`*_{}\[\]()#+!|<>~&$])", r"\\\1", text)
    # Line starts that open lists or underline headings: "- x", "1. x", "1) x", "===".
    escaped = re.sub(r"(?m)^(\s*)([-=])", r"\1\\\2", escaped)
    return re.sub(r"(?m)^(\s*\d+)([.)])", r"\1\\\2", escaped)


def safe_url(url: str) -> str | None:
    """The URL when it is an absolute http(s) URL without spaces or control characters, else None."""
    candidate = (url or "").strip()
    if not candidate or any(
        ord(character) < 33 or ord(character) == 127 for character in candidate
    ):
        return None
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return candidate


def source_anchor(answer_number: int, citation_number: int) -> str:
    """The element id of a source card: unique per answer of the conversation."""
    return f"source-{answer_number}-{citation_number}"


def shorten(text: str, limit: int = MAX_TITLE_CHARS) -> str:
    """Collapse whitespace and cut at a word boundary with an ellipsis when over limit."""
    collapsed = " ".join(text.split())
    if len(collapsed) <= limit:
        return collapsed
    cut = collapsed[:limit].rsplit(" ", 1)[0] or collapsed[:limit]
    return cut.rstrip(" ,;:.-") + "…"


def _tidy_passage_text(text: str) -> str:
    """Collapse runs of blank lines so passages stay compact (offsets are applied before this)."""
    return _MANY_BLANK_LINES.sub("\n\n", text)


def quote_span(citation: Citation) -> tuple[int, int] | None:
    """Where the cited quote lies inside citation.passage, or None when it cannot be placed."""
    passage, quote = citation.passage, citation.quote
    start = citation.quote_start - citation.passage_start
    end = citation.quote_end - citation.passage_start
    if 0 <= start < end <= len(passage) and (not quote or passage[start:end] == quote):
        return start, end
    if quote.strip():
        found = passage.find(quote.strip())
        if found >= 0:
            return found, found + len(quote.strip())
    return None


def highlight_passage_html(citation: Citation) -> str:
    """The passage as escaped HTML with the cited span wrapped in <mark>."""
    passage = citation.passage
    span = quote_span(citation)
    if span is None:
        return escape_html(_tidy_passage_text(passage.strip()))
    start, end = span
    before = _tidy_passage_text(passage[:start]).lstrip()
    quoted = passage[start:end]
    after = _tidy_passage_text(passage[end:]).rstrip()
    return (
        f"{escape_html(before)}<mark class='newsrag-quote'>{escape_html(quoted)}</mark>"
        f"{escape_html(after)}"
    )


def meta_html(source: str, date: str | None, url: str) -> str:
    parts = [escape_html(source or "unknown outlet"), escape_html(date or "undated")]
    link = safe_url(url)
    if link is not None:
        parts.append(
            f"<a href='{escape_html(link)}' target='_blank' rel='noopener noreferrer nofollow'>"
            "original article ↗</a>"
        )
    return " · ".join(parts)


def citation_card_html(citation: Citation, answer_number: int) -> str:
    """One source card: number, title, outlet, date, link, passage with the quote highlighted."""
    anchor = source_anchor(answer_number, citation.number)
    return (
        f"<div class='newsrag-source' id='{anchor}'>"
        f"<div class='newsrag-source-title'><span class='newsrag-source-number'>"
        f"[{citation.number}]</span> {escape_html(shorten(citation.title) or 'untitled')}</div>"
        f"<div class='newsrag-source-meta'>{meta_html(citation.source, citation.date, citation.url)}"
        f"</div><div class='newsrag-passage'>{highlight_passage_html(citation)}</div></div>"
    )


def hit_card_html(hit: Hit) -> str:
    """A passage that was found but not cited (shown with a refusal), without a highlight."""
    article = hit.article
    return (
        "<div class='newsrag-source newsrag-source-uncited'>"
        f"<div class='newsrag-source-title'>{escape_html(shorten(article.title) or 'untitled')}"
        f"</div><div class='newsrag-source-meta'>{meta_html(article.source, article.date, article.url)}"
        f"</div><div class='newsrag-passage'>{escape_html(_tidy_passage_text(hit.chunk.text.strip()))}"
        "</div></div>"
    )


def answer_sources_html(answer: Answer, answer_number: int) -> str:
    """The cards of one answer: its citations, or for a refusal the closest passages found."""
    if answer.citations:
        return "".join(citation_card_html(citation, answer_number) for citation in answer.citations)
    if answer.hits:
        cards = "".join(hit_card_html(hit) for hit in answer.hits[:3])
        return f"<p class='newsrag-note'>No passage answered this; the closest found:</p>{cards}"
    return "<p class='newsrag-note'>No passage matched this question and these filters.</p>"


def sources_panel_html(exchanges: Sequence[Exchange]) -> str:
    """The sources panel: the latest answer's sources open, earlier answers' folded below."""
    numbered = [
        (number, exchange)
        for number, exchange in enumerate(exchanges, start=1)
        if exchange.answer is not None
    ]
    if not numbered:
        return (
            "<div class='newsrag-sources'><p class='newsrag-note'>Sources of the answer appear "
            "here: each cited passage with the quoted words highlighted.</p></div>"
        )
    latest_number, latest = numbered[-1]
    assert latest.answer is not None
    parts = [
        "<div class='newsrag-sources'>",
        f"<div class='newsrag-sources-question'>Sources for: {escape_html(shorten(latest.question))}"
        "</div>",
        answer_sources_html(latest.answer, latest_number),
    ]
    for number, exchange in reversed(numbered[:-1]):
        assert exchange.answer is not None
        parts.append(
            "<details class='newsrag-earlier'><summary>Earlier: "
            f"{escape_html(shorten(exchange.question, 70))}</summary>"
            f"{answer_sources_html(exchange.answer, number)}</details>"
        )
    parts.append("</div>")
    return "".join(parts)


def _linked_text(text: str, citation_numbers: Iterable[int], answer_number: int) -> str:
    """Escape text and turn each [n] that names a citation into a link to its source card."""
    known = set(citation_numbers)
    pieces: list[str] = []
    position = 0
    for match in _CITATION_MARKER.finditer(text):
        pieces.append(escape_markup(text[position : match.start()]))
        number = int(match.group(1))
        if number in known:
            pieces.append(
                f"<a class='newsrag-cite' href='#{source_anchor(answer_number, number)}'>"
                f"&#91;{number}&#93;</a>"
            )
        else:
            pieces.append(escape_markup(match.group(0)))
        position = match.end()
    pieces.append(escape_markup(text[position:]))
    return "".join(pieces)


def search_line_html(answer: Answer) -> str:
    """The line above an answer: what was searched for and which filters applied."""
    searched = answer.searched_for or answer.question
    notes = "".join(
        f"<div class='newsrag-filter-note'>{escape_markup(note)}</div>" for note in answer.notes
    )
    return (
        f"<div class='newsrag-searched'>searched for: <q>{escape_markup(searched)}</q> · "
        f"{escape_markup(answer.filters.describe())}</div>{notes}"
    )


def answer_message(answer: Answer, answer_number: int) -> str:
    """The chat message of a finished answer: search line, then the text with [n] links."""
    numbers = [citation.number for citation in answer.citations]
    text, short = answer.text, ""
    if answer.short_answer.strip() and not answer.refused:
        first, blank, rest = text.partition("\n\n")
        # Answer.text opens with the short-answer line; older answers only have the field.
        line = answer.short_answer
        if blank and answer.short_answer.strip() in first:
            line, text = first, rest
        short = (
            f"<div class='newsrag-short-answer'><b>{_linked_text(line.strip(), numbers, answer_number)}"
            "</b></div>\n\n"
        )
    body = _linked_text(text, numbers, answer_number)
    css_class = "newsrag-answer newsrag-refusal" if answer.refused else "newsrag-answer"
    return f"{search_line_html(answer)}\n\n{short}<div class='{css_class}'>{body}</div>"


def streaming_message(partial_text: str) -> str:
    """The chat message while tokens arrive: escaped text, markers become links at the end."""
    if not partial_text:
        return "<div class='newsrag-answer newsrag-streaming newsrag-searching'>searching…</div>"
    return f"<div class='newsrag-answer newsrag-streaming'>{escape_markup(partial_text)}▍</div>"


def error_message(message: str) -> str:
    """A readable error in the chat (no stack trace)."""
    return f"<div class='newsrag-error'>⚠ {escape_markup(message)}</div>"


def question_message(question: str) -> str:
    """The user's question as shown in the chat (escaped: it is echoed back)."""
    return escape_markup(question)


def chat_messages(
    exchanges: Sequence[Exchange], pending: tuple[str, str] | None = None
) -> list[dict[str, str]]:
    """Chatbot messages: question and reply per exchange, plus (question, partial text) streaming."""
    messages: list[dict[str, str]] = []
    for number, exchange in enumerate(exchanges, start=1):
        messages.append({"role": "user", "content": question_message(exchange.question)})
        if exchange.answer is not None:
            reply = answer_message(exchange.answer, number)
        else:
            reply = error_message(exchange.error)
        messages.append({"role": "assistant", "content": reply})
    if pending is not None:
        question, partial = pending
        messages.append({"role": "user", "content": question_message(question)})
        messages.append({"role": "assistant", "content": streaming_message(partial)})
    return messages


def facts_markdown(
    *,
    engine: str,
    articles: int,
    chunks: int,
    date_from: str | None,
    date_to: str | None,
    sources: Sequence[str],
) -> str:
    """The engine and index facts for the sidebar, as escaped Markdown-safe HTML."""
    span = f"{date_from} to {date_to}" if date_from and date_to else "no dated articles"
    outlets = ", ".join(sources) if sources else "none named"
    rows = [
        ("Engine", engine),
        ("Articles", f"{articles:,}"),
        ("Passages", f"{chunks:,}"),
        ("Dates", span),
        ("Outlets", outlets),
    ]
    items = "".join(
        f"<li><b>{escape_markup(name)}:</b> {escape_markup(value)}</li>" for name, value in rows
    )
    return f"<ul class='newsrag-facts'>{items}</ul>"


def conversation_markdown(exchanges: Sequence[Exchange], *, title: str = "newsrag") -> str:
    """The conversation as a Markdown document: each question, answer and its cited sources."""
    lines = [f"# {escape_markdown(title)} conversation", ""]
    lines.append(f"Exported {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}.")
    lines.append("")
    for number, exchange in enumerate(exchanges, start=1):
        lines.append(f"## {number}. {escape_markdown(' '.join(exchange.question.split()))}")
        lines.append("")
        answer = exchange.answer
        if answer is None:
            lines.extend([f"*Error:* {escape_markdown(exchange.error)}", ""])
            continue
        searched = answer.searched_for or answer.question
        lines.append(
            f"*Searched for:* {escape_markdown(searched)} · {escape_markdown(answer.filters.describe())}"
        )
        lines.append("")
        lines.extend([escape_markdown(answer.text), ""])
        if answer.citations:
            lines.extend(["**Sources**", ""])
        for citation in answer.citations:
            header = f"{citation.number}. {escape_markdown(citation.title or 'untitled')} — "
            header += escape_markdown(f"{citation.source or 'unknown outlet'}, ")
            header += escape_markdown(citation.date or "undated")
            link = safe_url(citation.url)
            if link is not None:
                header += f" — <{link.replace('>', '%3E').replace('<', '%3C')}>"
            lines.append(header)
            quote = " ".join((citation.quote or citation.passage).split())
            lines.extend([f"   > {escape_markdown(quote)}", ""])
    return "\n".join(lines).rstrip() + "\n"


# Questions that the seed corpus answers; used when the index holds exactly these articles.
SEED_EXAMPLES: dict[str, str] = {
    "Coalition continues strikes against IS remnants near Makhmour": (
        "Who is the mayor of Makhmour?"
    ),
    "In coordination with Peshmerga, Coalition airstrikes kill 10 ISIS militants in disputed Makhmour": (
        "How long did the airstrikes on Qarachokh mountain last?"
    ),
}


@dataclass(frozen=True)
class TitledArticle:
    """What example questions are built from: an article's title, outlet and date."""

    title: str
    source: str = ""
    date: str | None = None


def example_questions(articles: Iterable[TitledArticle], *, limit: int = 4) -> list[str]:
    """Questions one click away: known ones for seed articles, else asked about recent titles."""
    items = [article for article in articles if article.title.strip()]
    known = [
        SEED_EXAMPLES[item.title.strip()] for item in items if item.title.strip() in SEED_EXAMPLES
    ]
    questions = list(dict.fromkeys(known))
    # Newest first, and one article per outlet before a second from any outlet, so examples vary.
    ordered = sorted(
        (item for item in items if item.title.strip() not in SEED_EXAMPLES),
        key=lambda item: (item.date or "", item.title),
        reverse=True,
    )
    first_of_outlet: list[TitledArticle] = []
    others: list[TitledArticle] = []
    seen_outlets: set[str] = set()
    for item in ordered:
        (others if item.source in seen_outlets else first_of_outlet).append(item)
        seen_outlets.add(item.source)
    for item in [*first_of_outlet, *others]:
        if len(questions) >= limit:
            break
        question = f"What does the article “{shorten(item.title, 80)}” report?"
        if question not in questions:
            questions.append(question)
    return questions[:limit]
