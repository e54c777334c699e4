"""Article -> Chunks with llama-index's sentence-aware splitter, each with offsets into the article."""

from __future__ import annotations

import re
from collections.abc import Callable

from newsrag.config import Settings
from newsrag.models import Article, Chunk, content_hash

# Tokens kept free in each chunk for the title/date header that is embedded with it.
HEADER_TOKEN_RESERVE = 32
MAX_TITLE_CHARS = 160


def embed_text_for(article: Article, passage: str) -> str:
    """What the model embeds and BM25 indexes: title, outlet and date, then the passage."""
    facts = [part for part in (article.source, article.date) if part]
    title = article.title[:MAX_TITLE_CHARS]
    header = f"{title} ({', '.join(facts)})" if facts else title
    return f"{header}\n{passage}" if header else passage


def chunk_id_for(article_id: str, ordinal: int, embed_text: str) -> str:
    """Stable id: article id, ordinal and a hash of exactly what is embedded."""
    return f"{article_id}-{ordinal:04d}-{content_hash(embed_text)[:10]}"


class Chunker:
    """Splits article text on sentence boundaries into ~chunk_size-token passages with offsets."""

    def __init__(self, *, settings: Settings, tokenizer: Callable[[str], list[int]]) -> None:
        from llama_index.core.node_parser import SentenceSplitter

        size = max(settings.chunk_size - HEADER_TOKEN_RESERVE, 16)
        # Only the bare text is split: metadata never counts against the chunk budget.
        self.splitter = SentenceSplitter(
            chunk_size=size,
            chunk_overlap=min(settings.chunk_overlap, size // 2),
            tokenizer=tokenizer,
            include_metadata=False,
            include_prev_next_rel=False,
        )

    def chunk(self, article: Article) -> list[Chunk]:
        """Split one article; chunk.text == article.text[chunk.start:chunk.end] always."""
        if not article.text.strip():
            return []
        pieces = self.splitter.split_text(article.text)
        chunks: list[Chunk] = []
        cursor = 0
        for piece in pieces:
            if not piece.strip():
                continue
            span = locate(article.text, piece, cursor)
            if span is None:
                continue
            start, end = span
            passage = article.text[start:end]
            ordinal = len(chunks)
            embed_text = embed_text_for(article, passage)
            chunks.append(
                Chunk(
                    id=chunk_id_for(article.id, ordinal, embed_text),
                    article_id=article.id,
                    ordinal=ordinal,
                    text=passage,
                    start=start,
                    end=end,
                    embed_text=embed_text,
                )
            )
            # Overlapping chunks start before the previous end, but never before its start.
            cursor = start + 1
        return chunks


def locate(text: str, piece: str, cursor: int) -> tuple[int, int] | None:
    """Find piece in text at or after cursor; tolerate whitespace the splitter changed."""
    position = text.find(piece, cursor)
    if position < 0:
        position = text.find(piece)
    if position >= 0:
        return position, position + len(piece)
    words = piece.split()
    if not words:
        return None
    # The splitter may collapse or trim whitespace: match the same words with any whitespace.
    pattern = r"\s+".join(re.escape(word) for word in words)
    match = re.compile(pattern).search(text, cursor) or re.compile(pattern).search(text)
    return (match.start(), match.end()) if match else None
