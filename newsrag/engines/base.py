"""The answer-engine seam: what every engine receives (a Retrieval) and returns (a Draft)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from newsrag.models import Filters, Hit
from newsrag.sentences import Candidate, VectorCache
from newsrag.short_answer import ShortAnswer


@dataclass
class Retrieval:
    """Everything decided before the answer text is written (Assistant.retrieve)."""

    question: str
    searched_for: str
    filters: Filters
    hits: list[Hit]
    candidates: list[Candidate]
    evidence: float
    cache: VectorCache
    timings: dict[str, float]
    started: float
    notes: list[str] = field(default_factory=list)  # what the filters did, one line each
    answer_type: str = ""  # expected answer type of the question (short_answer.answer_type)
    answerable: bool = True  # the evidence addresses what is asked (Assistant.answerable)
    short: ShortAnswer | None = None  # the short answer found in the candidates, if any
    alternatives: tuple[ShortAnswer, ...] = ()  # the next-best short answers, best first
    coverage: float = 0.0  # share of the question's predicate terms the answer's sentence holds
    passage_coverage: float = 0.0  # ... that the retrieved passages hold
    options: tuple[tuple[str, Any], ...] = ()  # Question.engine_options, for the engine to read


@dataclass(frozen=True)
class Draft:
    """An engine's answer before the citation check: [n] markers are 1-based hit numbers."""

    text: str  # sentences, each with its [n] markers
    short_answer: str = ""  # verbatim from the passage of hit short_answer_hit
    short_answer_hit: int | None = None  # 1-based hit number
    refused: bool = False  # the engine found no answer in the passages


class AnswerEngine(Protocol):
    """One way of writing an answer from retrieved passages (registered in engines/__init__.py)."""

    name: str

    def write(self, retrieval: Retrieval) -> Iterator[str | Draft]:
        """Text pieces as they are produced (may be none), then exactly one Draft."""
        ...
