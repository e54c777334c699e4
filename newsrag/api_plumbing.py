"""HTTP plumbing of the API: JSON errors, body limit, server-sent event streams, offline docs."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsrag.api_models import AnswerModel, ErrorResponse

logger = logging.getLogger("newsrag.server")

API_PREFIXES = ("/api/", "/v1/")


class ApiError(Exception):
    """An error answered as JSON {"error": ..., "detail": ...} with this status."""

    def __init__(
        self, status: int, message: str, detail: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail
        self.headers = headers


def translate_error(error: Exception) -> ApiError | None:
    """Map the library's errors to HTTP: bad question 400, index problems 503, LLM down 502."""
    from newsrag.assistant import AnswerEngineError
    from newsrag.embedding import EmbeddingModelError
    from newsrag.manifest import ManifestError
    from newsrag.prompts import PromptError
    from newsrag.retrieval import IndexMissingError, QueryError
    from newsrag.store import StoreError

    if isinstance(error, ApiError):
        return error
    if isinstance(error, QueryError):
        return ApiError(400, str(error))
    if isinstance(error, IndexMissingError | ManifestError | StoreError):
        return ApiError(503, f"the index is not available: {error}")
    if isinstance(error, PromptError | EmbeddingModelError):
        return ApiError(503, f"answering is not available: {error}")
    if isinstance(error, AnswerEngineError):
        return ApiError(502, f"the answer engine failed: {error}")
    return None


# ---- body size -------------------------------------------------------------------------------


class BodyLimitMiddleware:
    """Answer 413 to API requests whose body exceeds max_bytes (declared or streamed)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(API_PREFIXES):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        # Bodies are small (<= max_bytes): read them whole, then replay them to the app.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            body.extend(message.get("body", b""))
            if len(body) > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        replay: list[Message] = [{"type": "http.request", "body": bytes(body), "more_body": False}]
        await self.app(scope, _replay(replay, then=receive), send)

    async def _refuse(self, send: Send) -> None:
        response = error_response(
            ApiError(413, f"request body over {self.max_bytes:,} bytes: send a smaller request")
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(response.body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()  # after the body: wait for the client to disconnect
        return {"type": "http.disconnect"}

    return receive


# ---- errors ----------------------------------------------------------------------------------


def error_response(error: ApiError) -> JSONResponse:
    """The JSON body of every error."""
    return JSONResponse(
        ErrorResponse(error=error.message, detail=error.detail).model_dump(mode="json"),
        status_code=error.status,
        headers=error.headers,
    )


def _validation_detail(error: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    problems = [
        {
            "loc": [str(part) for part in item.get("loc", ())],
            "msg": str(item.get("msg", "")),
            "type": str(item.get("type", "")),
        }
        for item in error.errors()
    ]
    first = problems[0] if problems else {"loc": [], "msg": "invalid request", "type": ""}
    if first["type"] == "json_invalid":
        return "invalid request: the body is not valid JSON", problems
    if first["loc"] == ["body"]:
        return (
            "invalid request: send a JSON object as the body, with Content-Type: application/json",
            problems,
        )
    where = ".".join(part for part in first["loc"] if part != "body") or "request"
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return f"invalid request: {where}: {first['msg']}{more}", problems


def install_error_handlers(app: FastAPI) -> None:
    """Every error is JSON {"error": "...", "detail": ...}; nothing escapes as an HTML 500."""

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        message, problems = _validation_detail(error)
        return error_response(ApiError(422, message, problems))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(error.headers) if error.headers else None
        return error_response(ApiError(error.status_code, str(error.detail), headers=headers))

    @app.exception_handler(Exception)
    async def on_crash(request: Request, error: Exception) -> JSONResponse:
        known = translate_error(error)
        if known is not None:
            return error_response(known)
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(ApiError(500, f"internal error ({type(error).__name__})"))


def install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc, served offline when fastapi-offline is installed."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    spec = importlib.util.find_spec("fastapi_offline")
    static = Path(spec.origin).parent / "static" if spec and spec.origin else None
    offline = static is not None and (static / "swagger-ui-bundle.js").exists()
    if offline and static is not None:
        app.mount("/docs-static", StaticFiles(directory=static), name="docs-static")
    cdn = "https://cdn.jsdelivr.net/npm"

    def asset(root: str, name: str, online: str) -> str:
        # Without fastapi-offline, FastAPI's CDN defaults: the browser fetches them.
        return f"{root}/docs-static/{name}" if offline else online

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", ""))
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title="newsrag API",
            swagger_js_url=asset(
                root, "swagger-ui-bundle.js", f"{cdn}/swagger-ui-dist@5/swagger-ui-bundle.js"
            ),
            swagger_css_url=asset(
                root, "swagger-ui.css", f"{cdn}/swagger-ui-dist@5/swagger-ui.css"
            ),
            swagger_favicon_url=asset(
                root, "favicon.png", "https://fastapi.tiangolo.com/img/favicon.png"
            ),
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", ""))
        return get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title="newsrag API",
            redoc_js_url=asset(
                root, "redoc.standalone.js", f"{cdn}/redoc@2/bundles/redoc.standalone.js"
            ),
            redoc_favicon_url=asset(
                root, "favicon.png", "https://fastapi.tiangolo.com/img/favicon.png"
            ),
        )


# ---- answers and streams ---------------------------------------------------------------------


async def call_blocking(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run model or store work in the threadpool; library errors become ApiErrors."""
    try:
        return await run_in_threadpool(function, *args, **kwargs)
    except Exception as error:
        known = translate_error(error)
        if known is None:
            raise
        raise known from error


def answer_model(answer: Any, *, include_hits: bool = False) -> AnswerModel:
    """Answer dataclass -> response model."""
    return AnswerModel.model_validate(answer.to_dict(include_hits=include_hits))


@dataclass
class OpenedStream:
    """An answer stream whose first event has been read (so bad input fails before the 200)."""

    first: Any
    events: Iterator[Any]
    release: Callable[[], None]

    async def __aiter__(self) -> AsyncGenerator[Any, None]:
        try:
            event: Any = self.first
            while event is not None:
                yield event
                event = await call_blocking(next, self.events, None)
        finally:
            # No awaits here: on a client disconnect this runs inside a cancelled scope.
            self.release()
            close = getattr(self.events, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # still running in a worker thread
                    close()


def stream_error_message(error: Exception) -> str:
    """One line for an error that happens after a stream has started."""
    if isinstance(error, ApiError):
        return error.message
    logger.exception("error while streaming an answer", exc_info=error)
    return f"internal error ({type(error).__name__})"


def sse(event: str, data: Any) -> str:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def api_stream_events(stream: OpenedStream, include_hits: bool) -> AsyncIterator[str]:
    """token events, then one answer event; an error mid-stream is an error event."""
    try:
        async with contextlib.aclosing(stream.__aiter__()) as events:
            async for event in events:
                if event.kind == "token":
                    yield sse("token", {"text": event.text})
                elif event.answer is not None:
                    model = answer_model(event.answer, include_hits=include_hits)
                    yield sse("answer", model.model_dump(mode="json"))
    except Exception as error:  # the 200 is already sent: report in the stream
        yield sse("error", {"error": stream_error_message(error)})


async def openai_stream_events(stream: OpenedStream, model: str) -> AsyncIterator[str]:
    """OpenAI chat.completion.chunk events; the last chunk carries the citations; then [DONE]."""
    completion_id = "chatcmpl-" + uuid.uuid4().hex
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None, **extra: Any) -> str:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""}, None)
    try:
        async with contextlib.aclosing(stream.__aiter__()) as events:
            async for event in events:
                if event.kind == "token" and event.text:
                    yield chunk({"content": event.text}, None)
                elif event.answer is not None:
                    citations = answer_model(event.answer).model_dump(mode="json")["citations"]
                    yield chunk({"citations": citations}, "stop", citations=citations)
    except Exception as error:  # the 200 is already sent: report in the stream
        message = stream_error_message(error)
        yield f"data: {json.dumps({'error': {'message': message}})}\n\n"
    yield "data: [DONE]\n\n"
