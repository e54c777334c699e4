"""Pydantic request and response models of the HTTP API (newsrag.server)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from newsrag.config import Settings
from newsrag.models import Question, Turn
from newsrag.question import MAX_K, make_question

# Hard caps that hold whatever the settings say; the body limit (64 KB) bounds them first anyway.
MAX_TEXT_CHARS = 100_000
MAX_SOURCES = 50
MAX_HISTORY_TURNS = 50
MAX_MESSAGES = 100

SourceName = Annotated[str, Field(max_length=200)]


class Strict(BaseModel):
    """Requests reject unknown fields, so a typo is a clear 422 instead of being ignored."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    """OpenAI's error object, used by every route."""

    message: str = Field(description="What went wrong and what to do, in one line.")
    type: str = Field(description="invalid_request_error, requests (rate limits) or server_error.")
    code: str | None = Field(default=None, description="A stable machine-readable reason.")
    param: str | None = Field(default=None, description="The request field at fault, if one.")
    detail: Any = Field(default=None, description="Per-field problems, when the input was invalid.")


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body: {"error": {"message", "type", "code", "param", "detail"}}."""

    error: ErrorBody


# ---- shared pieces ---------------------------------------------------------------------------


class FiltersModel(BaseModel):
    """The date range and outlets a search was limited to."""

    since: dt.date | None = None
    until: dt.date | None = None
    sources: list[str] = Field(default_factory=list)


class ArticleMetaModel(BaseModel):
    """An article's metadata."""

    id: str
    title: str
    date: str | None = Field(default=None, description="ISO YYYY-MM-DD, null when undated.")
    source: str = ""
    url: str = ""
    place: str = ""
    author: str = ""
    editor: str = ""


class ChunkModel(BaseModel):
    """A passage: text == article text[start:end]."""

    id: str
    article_id: str
    ordinal: int
    text: str
    start: int
    end: int


class HitModel(BaseModel):
    """One retrieved passage with the scores that ranked it."""

    chunk: ChunkModel
    article: ArticleMetaModel
    score: float = Field(description="Fused score, higher is better.")
    dense_score: float | None = None
    keyword_score: float | None = None
    dense_rank: int | None = None
    keyword_rank: int | None = None
    explain: dict[str, Any] | None = Field(
        default=None,
        description="With explain: each side's normalised score, the fused score, each prior.",
    )


class CitationModel(BaseModel):
    """Source [number] of an answer: the passage and the quoted span, with offsets into the article."""

    number: int
    article_id: str
    chunk_id: str
    title: str
    source: str
    date: str | None
    url: str
    passage: str
    passage_start: int
    passage_end: int
    quote: str
    quote_start: int
    quote_end: int


class AnswerSentenceModel(BaseModel):
    """One answer sentence, its citation numbers and whether they support it."""

    text: str
    citations: list[int]
    supported: bool
    support_score: float = 0.0


class AnswerModel(BaseModel):
    """An answer whose claims carry [n] markers that point at `citations`."""

    question: str
    short_answer: str = Field(default="", description="The direct answer; empty when none.")
    short_answer_citation: int | None = Field(
        default=None, description="The citation number the short answer is copied from."
    )
    text: str = Field(description="The short answer line, a blank line, the cited sentences.")
    citations: list[CitationModel]
    sentences: list[AnswerSentenceModel]
    searched_for: str = Field(description="The standalone query that was searched.")
    filters: FiltersModel
    refused: bool = Field(description="True when the articles do not answer the question.")
    engine: str
    notes: list[str] = Field(default_factory=list, description="What the filters did.")
    timings: dict[str, float] = Field(default_factory=dict)
    hits: list[HitModel] | None = Field(default=None, description="With include_hits only.")


# ---- /api ------------------------------------------------------------------------------------


class SearchRequest(Strict):
    """POST /api/search."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"query": "mayor of Makhmour", "k": 3}]}
    )

    query: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, examples=["mayor of Makhmour"])
    k: int | None = Field(default=None, ge=1, le=MAX_K, description="Passages (default: top_k).")
    since: dt.date | None = Field(default=None, description="Only articles on/after this date.")
    until: dt.date | None = Field(default=None, description="Only articles on/before this date.")
    sources: list[SourceName] = Field(default_factory=list, max_length=MAX_SOURCES)
    mode: Literal["hybrid", "dense", "keyword"] = "hybrid"
    explain: bool = Field(default=False, description="Say per hit why it ranked where it did.")

    def to_question(self, settings: Settings) -> Question:
        """The checked Question this request searches for (a QueryError when it cannot be)."""
        return _question(self, self.query, settings)


class SearchResponse(BaseModel):
    """The best passages, best first."""

    query: str
    hits: list[HitModel]
    filters: FiltersModel
    timings: dict[str, float] = Field(default_factory=dict)


class TurnModel(Strict):
    """One earlier message of the conversation."""

    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_TEXT_CHARS)


class AskRequest(Strict):
    """POST /api/ask and /api/ask/stream."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "Who is the mayor of Makhmour?"}]},
    )

    question: str = Field(
        min_length=1, max_length=MAX_TEXT_CHARS, examples=["Who is the mayor of Makhmour?"]
    )
    history: list[TurnModel] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS)
    k: int | None = Field(default=None, ge=1, le=MAX_K)
    since: dt.date | None = None
    until: dt.date | None = None
    sources: list[SourceName] = Field(default_factory=list, max_length=MAX_SOURCES)
    as_of: dt.date | None = Field(
        default=None, description="Today's date for relative dates ('last July'); default: today."
    )
    include_hits: bool = Field(default=False, description="Also return the retrieved passages.")

    def to_question(self, settings: Settings) -> Question:
        """The checked Question this request asks (a QueryError when it cannot be asked)."""
        history = [Turn(role=turn.role, content=turn.content) for turn in self.history]
        return _question(self, self.question, settings, history=history, as_of=self.as_of)


def _question(
    request: SearchRequest | AskRequest, text: str, settings: Settings, **more: Any
) -> Question:
    """make_question over the filter fields both requests share."""
    return make_question(
        text,
        settings=settings,
        k=request.k,
        since=request.since,
        until=request.until,
        sources=request.sources,
        **more,
    )


class ArticleResponse(BaseModel):
    """GET /api/articles/{id}: metadata and every stored passage, in order."""

    article: ArticleMetaModel
    chunks: list[ChunkModel]


class IndexFactsModel(BaseModel):
    """What the index holds."""

    articles: int
    chunks: int
    model: str | None
    date_from: str | None
    date_to: str | None
    sources: list[str]
    store: str
    size_bytes: int
    last_ingest: dict[str, Any] = Field(default_factory=dict)


class LimitsModel(BaseModel):
    """Request limits in force."""

    max_question_chars: int
    max_k: int
    max_body_bytes: int
    max_concurrent_answers: int


class HealthResponse(BaseModel):
    """GET /api/health."""

    status: Literal["ok"] = "ok"
    version: str
    index: IndexFactsModel
    embedding_model: str
    engine: str
    auth_required: bool
    limits: LimitsModel
    # Server mode: the ingest version this worker's BM25 cache serves, the server's, how far behind.
    index_sync: dict[str, Any] | None = None


# ---- OpenAI-compatible /v1 -------------------------------------------------------------------


class ContentPart(BaseModel):
    """A part of a message's content; only text parts are read."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=50)
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class ChatMessage(BaseModel):
    """An OpenAI chat message (system messages are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        """The message's text, parts joined."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text or "" for part in self.content or [] if part.type == "text")


class StreamOptions(BaseModel):
    """OpenAI's stream_options."""

    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """POST /v1/chat/completions: OpenAI's fields; sampling options are accepted and ignored."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": "newsrag",
                    "messages": [{"role": "user", "content": "Who is the mayor of Makhmour?"}],
                }
            ]
        },
    )
    model: str = Field(
        default="newsrag",
        max_length=200,
        description="newsrag, or newsrag-sources to get a Markdown Sources list in the content.",
    )
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    include_sources: bool | None = Field(
        default=None,
        description="Append a Markdown 'Sources' list to the content (default: model newsrag-sources).",
    )


class Usage(BaseModel):
    """Token counts (the embedding model's tokenizer)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    """The reply; `citations` is an extra field that OpenAI clients ignore."""

    role: Literal["assistant"] = "assistant"
    content: str
    refusal: str | None = None
    citations: list[CitationModel] = Field(default_factory=list)
    refused: bool = False


class ChatChoice(BaseModel):
    """One completion choice (there is always exactly one)."""

    index: int = 0
    message: AssistantMessage
    logprobs: None = None
    finish_reason: Literal["stop"] = "stop"


class ChatCompletionResponse(BaseModel):
    """A non-streamed chat completion."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    system_fingerprint: str | None = None
    citations: list[CitationModel] = Field(default_factory=list)


class ModelCard(BaseModel):
    """One model of GET /v1/models."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "newsrag"


class ModelList(BaseModel):
    """GET /v1/models."""

    object: Literal["list"] = "list"
    data: list[ModelCard]
