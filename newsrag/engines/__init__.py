"""Answer engines, registered in one place: a new engine is one module and one line in ENGINES.

Every engine implements engines.base.AnswerEngine: it receives the Retrieval (hits, scored
sentences, expected answer type) and yields text pieces, then one Draft whose [n] markers are hit
numbers. The assistant refuses, checks citations and renumbers for all engines alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from newsrag.engines.base import AnswerEngine, Draft, Retrieval
from newsrag.engines.extractive import ExtractiveEngine
from newsrag.engines.llm import AnswerEngineError, LanguageModel, LLMEngine
from newsrag.engines.reader import ReaderEngine

# engine name (Settings.engine) -> its kind: "extractive", "llm" (writes the answer) or "reader"
# (picks the short answer of an extractive one); the kind says how the assistant builds it.
ENGINES: dict[str, str] = {
    "extractive": "extractive",
    "openai": "llm",
    "ollama": "llm",
    "reader": "reader",
}


def engine_kind(name: str) -> str:
    """The kind of a registered engine name; an unknown one is an AnswerEngineError."""
    try:
        return ENGINES[name]
    except KeyError:
        raise AnswerEngineError(
            f"unknown engine {name!r}: use one of {', '.join(sorted(ENGINES))} (NEWSRAG_ENGINE)"
        ) from None


def build_engine(
    name: str, *, model: LanguageModel | None, templates: Any, extractive: ExtractiveEngine
) -> Any:
    """The engine for a registered name: the extractive one when there is no model; a model
    given to an "extractive" assistant writes the answer (the Python API's Assistant(model=...))."""
    if model is None:
        return extractive
    kind = engine_kind(name)
    return BUILDERS["llm" if kind == "extractive" else kind](
        model=model, templates=templates, extractive=extractive
    )


BUILDERS: dict[str, Callable[..., Any]] = {
    "llm": lambda *, model, templates, extractive: LLMEngine(model, templates),
    "reader": lambda *, model, templates, extractive: ReaderEngine(model, templates, extractive),
}

__all__ = [
    "ENGINES",
    "AnswerEngine",
    "AnswerEngineError",
    "Draft",
    "ExtractiveEngine",
    "LLMEngine",
    "LanguageModel",
    "ReaderEngine",
    "Retrieval",
    "build_engine",
    "engine_kind",
]
