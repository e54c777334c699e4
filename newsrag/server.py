"""HTTP API: FastAPI app with /api (search, ask, stream, articles, health) and OpenAI-style /v1."""

from __future__ import annotations

import hmac
import importlib.util
import ipaddress
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from newsrag.api_models import (
    MAX_K,
    AnswerModel,
    ArticleMetaModel,
    ArticleResponse,
    AskRequest,
    AssistantMessage,
    ChatChoice,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChunkModel,
    ErrorResponse,
    FiltersModel,
    HealthResponse,
    HitModel,
    IndexFactsModel,
    LimitsModel,
    ModelCard,
    ModelList,
    SearchRequest,
    SearchResponse,
)
from newsrag.api_plumbing import (
    ApiError,
    BodyLimitMiddleware,
    OpenedStream,
    answer_model,
    api_stream_events,
    call_blocking,
    install_docs,
    install_error_handlers,
    openai_stream_events,
)
from newsrag.config import Settings

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# How long a request waits for a free answer slot before it gets 429.
ANSWER_QUEUE_SECONDS = 30.0
# Requests that may wait for a slot at once; beyond that, 429 at once.
MAX_WAITING_ANSWERS = 32
MODEL_NAME = "newsrag"
ERROR_CODES = (400, 413, 422, 429, 502, 503)


class ServeConfigError(ValueError):
    """The server cannot start with these settings; the message says what to change."""


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, settings: Settings) -> None:
    """Refuse a non-loopback bind without an API key unless explicitly allowed."""
    if is_loopback(host) or settings.api_key or settings.allow_public_without_key:
        return
    raise ServeConfigError(
        f"refusing to serve on {host} without an API key: set NEWSRAG_API_KEY (clients then send "
        "'Authorization: Bearer <key>'), bind 127.0.0.1, or set "
        "NEWSRAG_ALLOW_PUBLIC_WITHOUT_KEY=true to serve openly"
    )


class Backend:
    """Opens the retriever and the assistant once, on first use, and counts answer slots."""

    def __init__(
        self,
        settings: Settings,
        *,
        assistant: Any = None,
        retriever: Any = None,
        embedder: Any = None,
    ) -> None:
        self.settings = settings
        self._assistant = assistant
        self._retriever = (
            retriever if retriever is not None else getattr(assistant, "retriever", None)
        )
        self._embedder = embedder
        self._lock = threading.Lock()
        self.answer_slots = threading.BoundedSemaphore(settings.max_concurrent_answers)
        self._waiting = 0
        self._wait_limiter: anyio.CapacityLimiter | None = None

    def retriever(self) -> Any:
        """The shared Retriever (opened on first call)."""
        with self._lock:
            if self._retriever is None:
                from newsrag.retrieval import Retriever

                self._retriever = Retriever.open(self.settings, embedder=self._embedder)
            return self._retriever

    def assistant(self) -> Any:
        """The shared Assistant (opened on first call, over the same retriever)."""
        if self._assistant is not None:
            return self._assistant
        retriever = self.retriever()
        with self._lock:
            if self._assistant is None:
                from newsrag.assistant import Assistant

                self._assistant = Assistant.open(self.settings, retriever=retriever)
            return self._assistant

    def engine_name(self) -> str:
        """The answer engine's name without opening it."""
        if self._assistant is not None:
            return str(self._assistant.engine_name)
        return self.settings.engine

    def acquire_answer_slot(self) -> Callable[[], None]:
        """Wait (bounded) for an answer slot; 429 when all stay busy. Returns the release function."""
        busy = ApiError(
            429,
            f"all {self.settings.max_concurrent_answers} answer slots are busy "
            "(NEWSRAG_MAX_CONCURRENT_ANSWERS): retry shortly",
            headers={"Retry-After": "5"},
        )
        if not self.answer_slots.acquire(blocking=False):
            with self._lock:
                if self._waiting >= MAX_WAITING_ANSWERS:
                    raise busy  # a flood: refuse at once instead of piling up waiting threads
                self._waiting += 1
            try:
                acquired = self.answer_slots.acquire(timeout=ANSWER_QUEUE_SECONDS)
            finally:
                with self._lock:
                    self._waiting -= 1
            if not acquired:
                raise busy
        released = threading.Event()

        def release() -> None:
            if not released.is_set():
                released.set()
                self.answer_slots.release()

        return release

    async def take_answer_slot(self) -> Callable[[], None]:
        """acquire_answer_slot off the event loop, in threads of its own (searches keep theirs)."""
        if self._wait_limiter is None:
            self._wait_limiter = anyio.CapacityLimiter(MAX_WAITING_ANSWERS + 1)
        return await anyio.to_thread.run_sync(self.acquire_answer_slot, limiter=self._wait_limiter)


# ---- answers and streams ---------------------------------------------------------------------


def make_turn(role: str, content: str) -> Any:
    """A newsrag.assistant.Turn."""
    from newsrag.assistant import Turn

    return Turn(role=role, content=content)  # type: ignore[arg-type]


def ask_keywords(request: AskRequest) -> dict[str, Any]:
    """The keyword arguments of Assistant.ask for this request."""
    return {
        "history": [make_turn(turn.role, turn.content) for turn in request.history],
        "k": request.k,
        "since": request.since,
        "until": request.until,
        "sources": request.sources or None,
        "as_of": request.as_of,
    }


async def open_stream(backend: Backend, question: str, keywords: dict[str, Any]) -> OpenedStream:
    """Take an answer slot, start Assistant.ask_stream and read its first event."""
    assistant = await call_blocking(backend.assistant)
    release = await backend.take_answer_slot()
    try:
        # ask_stream retrieves before returning (bad questions raise here): not on the event loop.
        events = await call_blocking(lambda: iter(assistant.ask_stream(question, **keywords)))
        first = await call_blocking(next, events, None)
    except BaseException:
        release()
        raise
    return OpenedStream(first=first, events=events, release=release)


def openai_messages_to_question(request: ChatCompletionRequest) -> tuple[str, list[Any]]:
    """Last user message -> question; earlier user/assistant messages -> history turns."""
    conversation = [
        message for message in request.messages if message.role in ("user", "assistant")
    ]
    if not conversation or conversation[-1].role != "user":
        raise ApiError(400, "the last message must be a user message with the question")
    question = conversation[-1].text()
    history = [make_turn(message.role, message.text()) for message in conversation[:-1]]
    return question, history


# ---- app ---------------------------------------------------------------------------------------


def guard(settings: Settings) -> list[Any]:
    """The bearer-key dependency when NEWSRAG_API_KEY is set (and in the OpenAPI spec only then)."""
    if not settings.api_key:
        return []
    expected = settings.api_key.encode("utf-8")
    bearer = HTTPBearer(auto_error=False, description="The server's NEWSRAG_API_KEY.")

    def require_key(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        given = (credentials.credentials if credentials else "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):  # constant time: no timing oracle
            raise ApiError(
                401,
                "missing or wrong API key: send 'Authorization: Bearer <NEWSRAG_API_KEY>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return [Depends(require_key)]


def create_app(
    settings: Settings,
    *,
    assistant: Any = None,
    retriever: Any = None,
    embedder: Any = None,
) -> FastAPI:
    """The FastAPI app; the Gradio UI can be mounted into it (gradio.mount_gradio_app)."""
    from newsrag import __version__

    backend = Backend(settings, assistant=assistant, retriever=retriever, embedder=embedder)
    app = FastAPI(
        title="newsrag",
        version=__version__,
        description="Search news articles and get answers whose every claim cites its passage.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.backend = backend
    app.state.settings = settings
    install_error_handlers(app)
    install_docs(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)

    codes = (*ERROR_CODES, 401) if settings.api_key else ERROR_CODES
    errors: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in codes}
    api = APIRouter(prefix="/api", dependencies=guard(settings), responses=errors)
    openai = APIRouter(prefix="/v1", dependencies=guard(settings), responses=errors)

    @api.post("/search", response_model=SearchResponse, tags=["search"])
    async def search(request: SearchRequest) -> SearchResponse:
        """The best-matching passages (hybrid dense + BM25), with filters."""
        retriever = await call_blocking(backend.retriever)
        timings: dict[str, float] = {}
        hits = await call_blocking(
            retriever.search,
            request.query,
            request.k,
            since=request.since,
            until=request.until,
            sources=request.sources or None,
            timings=timings,
            mode=request.mode,
            explain=request.explain,
        )
        return SearchResponse(
            query=request.query,
            hits=[HitModel.model_validate(hit.to_dict()) for hit in hits],
            filters=FiltersModel(
                since=request.since, until=request.until, sources=list(request.sources)
            ),
            timings=timings,
        )

    @api.post("/ask", response_model=AnswerModel, tags=["answers"])
    async def ask(request: AskRequest) -> AnswerModel:
        """A short answer with [n] citations (429 when every answer slot stays busy)."""
        assistant = await call_blocking(backend.assistant)
        release = await backend.take_answer_slot()
        try:
            answer = await call_blocking(assistant.ask, request.question, **ask_keywords(request))
        finally:
            release()
        return answer_model(answer, include_hits=request.include_hits)

    @api.post(
        "/ask/stream",
        tags=["answers"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def ask_stream(request: AskRequest) -> StreamingResponse:
        """Server-sent events: `token` events ({"text"}), then one `answer` event (the Answer)."""
        await call_blocking(backend.assistant)
        stream = await open_stream(backend, request.question, ask_keywords(request))
        return StreamingResponse(
            api_stream_events(stream, request.include_hits),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @api.get(
        "/articles/{article_id}",
        response_model=ArticleResponse,
        tags=["articles"],
        responses={404: {"model": ErrorResponse}},
    )
    async def article(
        article_id: str = PathParam(min_length=1, max_length=200),
    ) -> ArticleResponse:
        """An article's metadata and its stored passages in order (404 when unknown)."""
        retriever = await call_blocking(backend.retriever)
        store = retriever.store
        chunk_ids = await call_blocking(store.ids_for_articles, [article_id])
        stored = await call_blocking(store.get, chunk_ids)
        if not stored:
            raise ApiError(404, f"no article with id {article_id!r} in the index")
        ordered = sorted(stored.values(), key=lambda item: item.chunk.ordinal)
        return ArticleResponse(
            article=ArticleMetaModel.model_validate(ordered[0].article.to_dict()),
            chunks=[ChunkModel.model_validate(item.chunk.to_dict()) for item in ordered],
        )

    @api.get("/health", response_model=HealthResponse, tags=["health"])
    async def health() -> HealthResponse:
        """Index facts, embedding model and answer engine (503 when the index is unusable)."""
        retriever = await call_blocking(backend.retriever)
        facts = await call_blocking(retriever.facts)
        return HealthResponse(
            version=__version__,
            index=IndexFactsModel.model_validate(facts.to_dict()),
            embedding_model=str(retriever.embedder.identity),
            engine=backend.engine_name(),
            auth_required=bool(settings.api_key),
            limits=LimitsModel(
                max_question_chars=settings.max_question_chars,
                max_k=MAX_K,
                max_body_bytes=MAX_BODY_BYTES,
                max_concurrent_answers=settings.max_concurrent_answers,
            ),
        )

    @openai.get("/models", response_model=ModelList, tags=["openai"])
    async def models() -> ModelList:
        """The one model this server offers: newsrag."""
        return ModelList(data=[ModelCard(id=MODEL_NAME, created=0)])

    @openai.post(
        "/chat/completions",
        response_model=ChatCompletionResponse,
        tags=["openai"],
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def chat_completions(request: ChatCompletionRequest) -> Any:
        """OpenAI-compatible chat; the assistant message carries `citations` (ignored by clients)."""
        question, history = openai_messages_to_question(request)
        keywords: dict[str, Any] = {"history": history}
        if request.stream:
            stream = await open_stream(backend, question, keywords)
            return StreamingResponse(
                openai_stream_events(stream, request.model),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        assistant = await call_blocking(backend.assistant)
        release = await backend.take_answer_slot()
        try:
            answer = await call_blocking(assistant.ask, question, **keywords)
        finally:
            release()
        citations = answer_model(answer).citations
        return ChatCompletionResponse(
            id="chatcmpl-" + uuid.uuid4().hex,
            created=int(time.time()),
            model=request.model,
            choices=[
                ChatChoice(
                    message=AssistantMessage(
                        content=answer.text, citations=citations, refused=answer.refused
                    )
                )
            ],
            citations=citations,
        )

    app.include_router(api)
    app.include_router(openai)
    return app


def open_app(settings: Settings, *, api_only: bool = True) -> FastAPI:
    """Open the index and the answer engine now (problems fail here, not on the first request)."""
    from newsrag.assistant import Assistant
    from newsrag.embedding import EmbeddingModelError
    from newsrag.prompts import PromptError

    try:
        assistant = Assistant.open(settings)
    except (PromptError, EmbeddingModelError) as error:
        raise ServeConfigError(str(error)) from error
    app = create_app(settings, assistant=assistant)
    return app if api_only else mount_ui(app, settings=settings, assistant=assistant)


def app_from_env() -> FastAPI:
    """Factory for several workers: `uvicorn newsrag.server:app_from_env --factory --workers 4`."""
    return open_app(Settings(), api_only=True)


def run_server(settings: Settings, *, api_only: bool = False) -> None:
    """Check the bind address, open everything, then serve with uvicorn until stopped."""
    import uvicorn

    check_bind(settings.host, settings)
    app = open_app(settings, api_only=api_only)
    logger.info("serving on http://%s:%d", settings.host, settings.port)
    uvicorn.run(app, host=settings.host, port=settings.port, timeout_graceful_shutdown=5)


def mount_ui(app: FastAPI, *, settings: Settings, assistant: Any) -> FastAPI:
    """Mount the Gradio UI (newsrag.ui.mount_ui) when it exists; the API alone otherwise."""
    # Before Gradio is imported: no telemetry or version checks leave the machine.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if importlib.util.find_spec("newsrag.ui") is None:
        logger.warning("newsrag.ui is not installed: serving the API only")
        return app
    from newsrag import ui

    mount = getattr(ui, "mount_ui", None)
    if mount is None:
        logger.warning("newsrag.ui has no mount_ui(): serving the API only")
        return app
    mounted = mount(app, assistant=assistant, settings=settings)
    return mounted if isinstance(mounted, FastAPI) else app
