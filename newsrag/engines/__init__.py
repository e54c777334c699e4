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

# engine name (Settings.engine) -> "extractive" or "llm": how the assistant builds it.
ENGINES: dict[str, str] = {"extractive": "extractive", "openai": "llm", "ollama": "llm"}


def engine_kind(name: str) -> str:
    """The kind of a registered engine name; an unknown one is an AnswerEngineError."""
    try:
        return ENGINES[name]
    except KeyError:
        raise AnswerEngineError(
            f"unknown engine {name!r}: use one of {', '.join(sorted(ENGINES))} (NEWSRAG_ENGINE)"
        ) from None


BUILDERS: dict[str, Callable[..., Any]] = {"extractive": ExtractiveEngine, "llm": LLMEngine}

__all__ = [
    "ENGINES",
    "AnswerEngine",
    "AnswerEngineError",
    "Draft",
    "ExtractiveEngine",
    "LLMEngine",
    "LanguageModel",
    "Retrieval",
    "engine_kind",
]
