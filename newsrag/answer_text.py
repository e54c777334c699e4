"""Plain-text answers for the terminal and Markdown clients: text, searched-for, filters, sources and quotes."""

from __future__ import annotations

from newsrag.answering import strip_markers
from newsrag.models import Answer

__all__ = ["quoted", "render_answer_text", "render_sources"]


def render_answer_text(answer: Answer, *, show_hits: int = 3) -> str:
    """Plain-text form of an answer for a terminal: text, searched-for, filters, sources."""
    lines = [answer.text]
    flagged = [sentence for sentence in answer.sentences if not sentence.supported]
    for sentence in flagged:
        reason = "no citation" if not sentence.citations else "weakly supported by its citation"
        lines.append(f"  (check: {reason}: {strip_markers(sentence.text)[:80]})")
    if answer.searched_for and answer.searched_for != answer.question:
        lines.append(f"(searched for: {answer.searched_for})")
    if not answer.filters.is_empty():
        lines.append(f"(filters: {answer.filters.describe()})")
    lines += [f"(note: {note})" for note in answer.notes]
    if answer.citations:
        lines.append("")
        lines.append(render_sources(answer))
    elif answer.refused and answer.hits:
        lines.append("")
        lines.append("Closest passages:")
        for hit in answer.hits[:show_hits]:
            facts = ", ".join(
                part for part in (hit.article.source, hit.article.date or "undated") if part
            )
            passage = " ".join(hit.chunk.text.split())
            lines.append(f"- {hit.article.title} — {facts}")
            lines.append(f"    {passage[:240]}{'…' if len(passage) > 240 else ''}")
    return "\n".join(lines)


OPENING_QUOTES = '"“„«‘'
CLOSING_QUOTES = '"”»’'
QUOTE_MARKS = set('"“”„«»')


def quoted(text: str) -> str:
    """Text in quotation marks, once: a quote already in its own marks is left as it is, and one
    with quotation marks inside gets single marks around it (nested quotes), never doubled ones."""
    line = " ".join(text.split())
    inner = line[1:-1]
    if line[:1] in OPENING_QUOTES and line[-1:] in CLOSING_QUOTES and not set(inner) & QUOTE_MARKS:
        return line
    if set(line) & QUOTE_MARKS:
        return f"‘{line}’"
    return f"“{line}”"


def render_sources(answer: Answer) -> str:
    """The "Sources:" block of an answer: number, title, outlet, date, URL and quote ("" if none)."""
    if not answer.citations:
        return ""
    lines = ["Sources:"]
    for citation in answer.citations:
        facts = ", ".join(part for part in (citation.source, citation.date or "undated") if part)
        lines.append(f"[{citation.number}] {citation.title} — {facts}")
        if citation.url:
            lines.append(f"    {citation.url}")
        lines.append(f"    {quoted(citation.quote)}")
    return "\n".join(lines)
