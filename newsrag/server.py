"""HTTP API: FastAPI app with /api (search, ask, stream, articles, health) and OpenAI-style /v1."""

from __future__ import annotations

import hmac
import importlib.util
import ipaddress
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Body, Depends, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from newsrag.api_errors import (
    ApiError,
    ErrorShapeMiddleware,
    install_error_handlers,
    install_fallback_routes,
)
from newsrag.api_models import (
    MAX_K,
    AnswerModel,
    ArticleMetaModel,
    ArticleResponse,
    AskRequest,
    ChunkModel,
    ErrorResponse,
    FiltersModel,
    HealthResponse,
    HitModel,
    IndexFactsModel,
    LimitsModel,
    SearchRequest,
    SearchResponse,
)
from newsrag.api_openai import MODEL_NAME as MODEL_NAME
from newsrag.api_openai import openai_router
from newsrag.api_plumbing import (
    BodyLimitMiddleware,
    FailedAuthLimiter,
    LoginLimitMiddleware,
    answer_model,
    api_stream_events,
    call_blocking,
    client_address,
    install_docs,
    open_stream,
)
from newsrag.config import Settings
from newsrag.errors import NewsragError
from newsrag.scale_out import index_sync_status

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# How long a request waits for a free answer slot before it gets 429.
ANSWER_QUEUE_SECONDS = 30.0
# Requests that may wait for a slot at once; beyond that, 429 at once.
MAX_WAITING_ANSWERS = 32
ERROR_CODES = (400, 408, 413, 422, 429, 502, 503)
# The examples that Swagger UI sends on "Try it out": each returns a real answer on the sample corpus.
ASK_EXAMPLES = {
    "question": {"summary": "A question", "value": {"question": "Who is the mayor of Makhmour?"}},
    "follow-up": {
        "summary": "A follow-up with history",
        "value": {
            "question": "How long did they last?",
            "history": [
                {"role": "user", "content": "Tell me about the airstrikes on Qarachokh mountain."},
                {"role": "assistant", "content": "Coalition jets struck Qarachokh [1]."},
            ],
        },
    },
}
SEARCH_EXAMPLES = {
    "search": {"summary": "A search", "value": {"query": "mayor of Makhmour", "k": 3}},
    "filtered": {
        "summary": "With a date range and an outlet",
        "value": {
            "query": "airstrikes",
            "since": "2019-01-01",
            "until": "2019-12-31",
            "sources": ["Kurdistan 24"],
        },
    },
}


class ServeConfigError(NewsragError, ValueError):
    """The server cannot start with these settings; the message says what to change."""

    hint = "change the setting named (NEWSRAG_HOST, NEWSRAG_API_KEY)"


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


# ---- app ---------------------------------------------------------------------------------------


def guard(settings: Settings, limiter: FailedAuthLimiter) -> list[Any]:
    """The bearer-key dependency when NEWSRAG_API_KEY is set (and in the OpenAPI spec only then)."""
    if not settings.api_key:
        return []
    expected = settings.api_key.encode("utf-8")
    bearer = HTTPBearer(auto_error=False, description="The server's NEWSRAG_API_KEY.")

    def require_key(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
    ) -> None:
        client = client_address(request.scope)
        limiter.check(client, "API keys")  # a guesser is stopped before the comparison
        given = (credentials.credentials if credentials else "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):  # constant time: no timing oracle
            limiter.failed(client)
            raise ApiError(
                401,
                "missing or wrong API key: send 'Authorization: Bearer <NEWSRAG_API_KEY>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return [Depends(require_key)]


def public_store(description: str, settings: Settings) -> str:
    """The store's description without the index folder's absolute path."""
    folder = str(settings.index_dir)
    for form in {folder, str(Path(folder).resolve())}:
        description = description.replace(form, "INDEX_DIR")
    return description


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
    limiter = FailedAuthLimiter(limit=settings.max_failed_auth_per_minute, window=60.0)
    app.state.backend = backend
    app.state.settings = settings
    app.state.auth_limiter = limiter
    install_error_handlers(app)
    install_docs(app)
    # Outermost last: the body limit and read timeout see every request first.
    app.add_middleware(ErrorShapeMiddleware)
    app.add_middleware(LoginLimitMiddleware, limiter=limiter)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES, read_timeout=settings.request_body_timeout
    )

    codes = (*ERROR_CODES, 401) if settings.api_key else ERROR_CODES
    errors: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in codes}
    api = APIRouter(prefix="/api", dependencies=guard(settings, limiter), responses=errors)

    @api.post("/search", response_model=SearchResponse, tags=["search"])
    async def search(
        request: Annotated[SearchRequest, Body(openapi_examples=SEARCH_EXAMPLES)],
    ) -> SearchResponse:
        """The best-matching passages (hybrid dense + BM25), with filters."""
        retriever = await call_blocking(backend.retriever)
        timings: dict[str, float] = {}
        hits = await call_blocking(
            retriever.search,
            request.to_question(retriever.settings),
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
    async def ask(
        request: Annotated[AskRequest, Body(openapi_examples=ASK_EXAMPLES)],
    ) -> AnswerModel:
        """A short answer with [n] citations (429 when every answer slot stays busy)."""
        assistant = await call_blocking(backend.assistant)
        question = request.to_question(assistant.settings)
        release = await backend.take_answer_slot()
        try:
            answer = await call_blocking(assistant.ask, question)
        finally:
            release()
        return answer_model(answer, include_hits=request.include_hits)

    @api.post(
        "/ask/stream",
        tags=["answers"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def ask_stream(
        request: Annotated[AskRequest, Body(openapi_examples=ASK_EXAMPLES)],
    ) -> StreamingResponse:
        """Server-sent events: `token` events ({"text"}, joining to the answer's text), then one
        `answer` event (the Answer); the short answer is the first token."""
        assistant = await call_blocking(backend.assistant)
        stream = await open_stream(backend, request.to_question(assistant.settings))
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
            index=IndexFactsModel.model_validate(
                {**facts.to_dict(), "store": public_store(facts.store, settings)}
            ),
            embedding_model=str(retriever.embedder.identity),
            index_sync=await call_blocking(index_sync_status, getattr(retriever, "keyword", None)),
            engine=backend.engine_name(),
            auth_required=bool(settings.api_key),
            limits=LimitsModel(
                max_question_chars=settings.max_question_chars,
                max_k=MAX_K,
                max_body_bytes=MAX_BODY_BYTES,
                max_concurrent_answers=settings.max_concurrent_answers,
            ),
        )

    app.include_router(api)
    app.include_router(
        openai_router(backend, dependencies=guard(settings, limiter), responses=errors)
    )
    install_fallback_routes(app)  # after every real route: they match first
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
