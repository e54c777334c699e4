"""newsrag: chat and Q&A over news articles, every claim cited to its passage.

The public Python API. Names are imported lazily on first use, so `import newsrag` stays cheap and
builds no model:

    from newsrag import Settings, Retriever, Assistant
    settings = Settings(index_dir="index")
    hits = Retriever.open(settings).search("Who is the mayor of Makhmour?", k=3)
    answer = Assistant.open(settings).ask("Who is the mayor of Makhmour?")
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsrag.assistant import AnswerEngineError, Assistant, StreamEvent
    from newsrag.config import Settings
    from newsrag.conversations import ConversationStore
    from newsrag.embedding import Embedder
    from newsrag.errors import NewsragError
    from newsrag.feeds import FetchError, FetchReport, fetch_sources
    from newsrag.ingest import IngestReport
    from newsrag.manifest import IngestLockedError, ManifestError, ModelMismatchError
    from newsrag.models import (
        Answer,
        AnswerSentence,
        Article,
        ArticleMeta,
        Chunk,
        Citation,
        Filters,
        Hit,
        Question,
        Turn,
    )
    from newsrag.question import QueryError, make_question
    from newsrag.retrieval import IndexFacts, IndexMissingError, Retriever
    from newsrag.store import StoreError

__version__ = "0.1.0"

# Public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    "Settings": "newsrag.config",
    "Retriever": "newsrag.retrieval",
    "IndexFacts": "newsrag.retrieval",
    "QueryError": "newsrag.question",
    "Question": "newsrag.models",
    "make_question": "newsrag.question",
    "NewsragError": "newsrag.errors",
    "IndexMissingError": "newsrag.retrieval",
    "Assistant": "newsrag.assistant",
    "Turn": "newsrag.models",
    "StreamEvent": "newsrag.assistant",
    "AnswerEngineError": "newsrag.assistant",
    "IngestReport": "newsrag.ingest",
    "Article": "newsrag.models",
    "ArticleMeta": "newsrag.models",
    "Chunk": "newsrag.models",
    "Hit": "newsrag.models",
    "Answer": "newsrag.models",
    "AnswerSentence": "newsrag.models",
    "Citation": "newsrag.models",
    "Filters": "newsrag.models",
    "ManifestError": "newsrag.manifest",
    "ModelMismatchError": "newsrag.manifest",
    "IngestLockedError": "newsrag.manifest",
    "StoreError": "newsrag.store",
    "ConversationStore": "newsrag.conversations",
    "FetchError": "newsrag.feeds",
    "FetchReport": "newsrag.feeds",
    "fetch_sources": "newsrag.feeds",
}

__all__ = [
    "Answer",
    "AnswerEngineError",
    "AnswerSentence",
    "Article",
    "ArticleMeta",
    "Assistant",
    "Chunk",
    "Citation",
    "ConversationStore",
    "FetchError",
    "FetchReport",
    "Filters",
    "Hit",
    "IndexFacts",
    "IndexMissingError",
    "IngestLockedError",
    "IngestReport",
    "ManifestError",
    "ModelMismatchError",
    "NewsragError",
    "QueryError",
    "Question",
    "Retriever",
    "Settings",
    "StoreError",
    "StreamEvent",
    "Turn",
    "__version__",
    "fetch_sources",
    "ingest",
    "ingest_paths",
    "make_question",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first access (PEP 562)."""
    if name == "ingest":
        importlib.import_module("newsrag.ingest")  # binds the callable module, see _Package
        return globals()["ingest"]
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'newsrag' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


def ingest_paths(
    paths: str | Path | Sequence[str | Path],
    *,
    settings: Settings,
    prune: bool = False,
    rebuild: bool = False,
    progress: bool = False,
    embedder: Embedder | None = None,
) -> IngestReport:
    """Index the articles in these files or folders (incremental); returns what was done."""
    from newsrag.ingest import ingest as run_ingest

    targets = [paths] if isinstance(paths, str | Path) else list(paths)
    return run_ingest(
        [Path(target) for target in targets],
        settings=settings,
        prune=prune,
        rebuild=rebuild,
        progress=progress,
        embedder=embedder,
    )


# `newsrag.ingest` is both the submodule and the public function: importing a submodule rebinds the
# package attribute to the module, so the module itself is made callable (it calls ingest_paths).
# `newsrag.ingest(...)`, `from newsrag import ingest` and `newsrag.ingest.IngestReport` all work.
class _CallableIngestModule(types.ModuleType):
    def __call__(
        self,
        paths: str | Path | Sequence[str | Path],
        *,
        settings: Settings,
        prune: bool = False,
        rebuild: bool = False,
        progress: bool = False,
        embedder: Embedder | None = None,
    ) -> IngestReport:
        return ingest_paths(
            paths,
            settings=settings,
            prune=prune,
            rebuild=rebuild,
            progress=progress,
            embedder=embedder,
        )


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name == "ingest" and type(value) is types.ModuleType:
            value.__class__ = _CallableIngestModule
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:
    ingest = ingest_paths
