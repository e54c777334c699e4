"""HTTP plumbing of the API: body limit and read timeout, failed-login limit, offline docs, SSE."""

from __future__ import annotations

import collections
import contextlib
import importlib.util
import itertools
import json
import logging
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from sse_starlette import ServerSentEvent
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsrag.api_errors import API_PREFIXES, ApiError, translate_error
from newsrag.api_models import AnswerModel
from newsrag.models import Question, Turn

__all__ = ["ApiError", "translate_error"]  # re-exported: older imports name them here

logger = logging.getLogger("newsrag.server")

# Clients tracked by the failed-login limiter at most (the oldest are forgotten first).
MAX_TRACKED_CLIENTS = 10_000


# ---- body size and read timeout ----------------------------------------------------------------


class BodyLimitMiddleware:
    """413 for API bodies over max_bytes; 408 for any body that stalls past read_timeout seconds.

    API bodies (<= max_bytes) are read whole, within read_timeout in all; other bodies (the UI's
    uploads) may take longer in all but may not pause longer than read_timeout between parts.

    Kept, not Starlette's RequestBodyLimitMiddleware: that one answers a plain-text "Content Too
    Large" on every path (the UI's uploads are bigger), and has no read timeout; the 408 for a
    stalled body needs this read of the whole body anyway, so the size limit rides on it.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, read_timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not str(scope.get("path", "")).startswith(API_PREFIXES):
            await self._pass_through(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _refuse(send, ApiError(413, self._too_large()))
            return
        try:
            with anyio.fail_after(self.read_timeout):
                body, ended = await self._read_body(receive)
        except TimeoutError:
            await _refuse(send, self._timed_out())
            return
        if body is None:
            await _refuse(send, ApiError(413, self._too_large()))
            return
        if ended is not None:  # the client left before its body was read
            await self.app(scope, _replay([ended]), send)
            return
        replay: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
        await self.app(scope, _replay(replay, then=receive), send)

    async def _read_body(self, receive: Receive) -> tuple[bytes | None, Message | None]:
        """The whole body (None when over max_bytes), or the message that ended the request."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"", message
            body.extend(message.get("body", b""))
            if len(body) > self.max_bytes:
                return None, None
            if not message.get("more_body", False):
                return bytes(body), None

    async def _pass_through(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run a non-API request with an idle timeout on each read of its body."""
        state = {"started": False, "timed_out": False, "body_done": False}

        async def timed_receive() -> Message:
            if state["body_done"]:
                return await receive()  # after the body: the wait for a disconnect is unbounded
            try:
                with anyio.fail_after(self.read_timeout):
                    message = await receive()
            except TimeoutError:
                state["timed_out"] = True
                return {"type": "http.disconnect"}  # the app stops reading; we answer 408
            if message["type"] != "http.request" or not message.get("more_body", False):
                state["body_done"] = True
            return message

        async def guarded_send(message: Message) -> None:
            if state["timed_out"] and not state["started"]:
                return  # the app's own answer to the "disconnect" is replaced by the 408
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not state["timed_out"]:
                raise
        if state["timed_out"] and not state["started"]:
            await _refuse(send, self._timed_out())

    def _too_large(self) -> str:
        return f"request body over {self.max_bytes:,} bytes: send a smaller request"

    def _timed_out(self) -> ApiError:
        return ApiError(
            408,
            f"the request body did not arrive within {self.read_timeout:g} s "
            "(NEWSRAG_REQUEST_BODY_TIMEOUT): send the whole body it declares",
        )


async def _refuse(send: Send, error: ApiError) -> None:
    body = json.dumps(error.body()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    headers += [
        (name.lower().encode(), value.encode()) for name, value in (error.headers or {}).items()
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# ---- failed API keys and logins ---------------------------------------------------------------


class FailedAuthLimiter:
    """At most `limit` failed keys or logins per client address per `window` seconds; then 429."""

    def __init__(self, *, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> collections.deque[float]:
        times = self._failures.get(client)
        if times is None:
            return collections.deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def wait_seconds(self, client: str) -> float:
        """0 when this client may try again, else the seconds until its oldest failure expires."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.limit:
                return 0.0
            return max(1.0, times[0] + self.window - now)

    def failed(self, client: str) -> None:
        """Count one failure for this client."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            times.append(now)
            self._failures[client] = times
            self._failures.move_to_end(client)
            while len(self._failures) > MAX_TRACKED_CLIENTS:
                self._failures.popitem(last=False)

    def check(self, client: str, what: str) -> None:
        """Raise the 429 when this client has failed too often."""
        wait = self.wait_seconds(client)
        if wait:
            raise ApiError(
                429,
                f"too many failed {what} from this address: wait {wait:.0f} s",
                headers={"Retry-After": str(int(wait + 0.999))},
                code="too_many_failed_attempts",
            )


def client_address(scope: Scope) -> str:
    """The peer's address (behind a proxy, the proxy's)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class LoginLimitMiddleware:
    """Failed UI logins (POST /login answered 400 by Gradio) count against the same limiter."""

    def __init__(self, app: ASGIApp, *, limiter: FailedAuthLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or scope.get("method") != "POST" or path.rstrip("/") != "/login":
            await self.app(scope, receive, send)
            return
        client = client_address(scope)
        try:
            self.limiter.check(client, "logins")
        except ApiError as error:
            await _refuse(send, error)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (400, 401):
                self.limiter.failed(client)
            await send(message)

        await self.app(scope, receive, watch)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()  # after the body: wait for the client to disconnect
        return {"type": "http.disconnect"}

    return receive


REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


def docs_static_folder() -> Path:
    """The Swagger UI and ReDoc assets shipped in the fastapi-offline wheel (a dependency)."""
    spec = importlib.util.find_spec("fastapi_offline")
    folder = Path(spec.origin).parent / "static" if spec and spec.origin else None
    if folder is None or not (folder / "swagger-ui-bundle.js").exists():
        raise RuntimeError(
            "the API docs need the fastapi-offline package: pip install fastapi-offline"
        )
    return folder


def install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc, every asset served from here (no CDN, no fonts).

    fastapi-offline's assets, not its FastAPIOffline factory: the factory's ReDoc bundle still
    loads its logo from cdn.redoc.ly (an outside request from the docs page), it adds an OAuth2
    redirect route the API does not have, and it would have to build the app create_app builds.
    """
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.responses import HTMLResponse, Response
    from fastapi.staticfiles import StaticFiles

    folder = docs_static_folder()
    redoc_bundle: list[bytes] = []

    @app.get("/docs-static/redoc.standalone.js", include_in_schema=False)
    async def redoc_script() -> Response:
        # ReDoc's sidebar shows a logo from cdn.redoc.ly: the bundle served here shows none.
        if not redoc_bundle:
            original = (folder / "redoc.standalone.js").read_bytes()
            redoc_bundle.append(original.replace(REDOC_LOGO, EMPTY_IMAGE))
        return Response(redoc_bundle[0], media_type="text/javascript")

    app.mount("/docs-static", StaticFiles(directory=folder), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", ""))
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title="newsrag API",
            swagger_js_url=f"{root}/docs-static/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-static/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs-static/favicon.png",
            # No validator badge: it would send the spec to validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None, "tryItOutEnabled": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", ""))
        return get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title="newsrag API",
            redoc_js_url=f"{root}/docs-static/redoc.standalone.js",
            redoc_favicon_url=f"{root}/docs-static/favicon.png",
            with_google_fonts=False,  # Google Fonts would be fetched from the internet
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


def make_turn(role: str, content: str) -> Turn:
    """A conversation Turn from an API message."""
    return Turn(role=role, content=content)  # type: ignore[arg-type]


@dataclass
class OpenedStream:
    """An answer stream whose first event has been read (so bad input fails before the 200).

    live: the engine's tokens are worth sending as they come (an LLM); the extractive engine has
    its whole answer at once, and the stream is cut from it instead.
    """

    first: Any
    events: Iterator[Any]
    release: Callable[[], None]
    live: bool = False

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


async def open_stream(
    backend: Any, question: Question | str, keywords: dict[str, Any] | None = None
) -> OpenedStream:
    """Take an answer slot, start Assistant.ask_stream and read its first event.

    question is the routes' Question; text and keywords are the older call style (tests).
    """
    assistant = await call_blocking(backend.assistant)
    release = await backend.take_answer_slot()
    try:
        # ask_stream retrieves before returning (bad questions raise here): not on the event loop.
        events = await call_blocking(
            lambda: iter(assistant.ask_stream(question, **(keywords or {})))
        )
        first = await call_blocking(next, events, None)
    except BaseException:
        release()
        raise
    live = getattr(assistant, "model", None) is not None
    return OpenedStream(first=first, events=events, release=release, live=live)


def stream_error(error: Exception) -> ApiError:
    """The error object for a failure after a stream has started."""
    known = translate_error(error)
    if known is not None:
        return known
    logger.exception("error while streaming an answer", exc_info=error)
    return ApiError(500, f"internal error ({type(error).__name__})")


def cut_points(content: str, answer: Any) -> list[int]:
    """Where stream pieces start: the short answer, each cited sentence, then the Sources list."""
    points = [0]
    cursor = 0
    for sentence in answer.sentences:
        found = content.find(sentence.text, cursor, len(answer.text))
        if found < 0:
            continue  # a sentence not found verbatim rides with the piece before it
        points.append(found)
        cursor = found + len(sentence.text)
    points.append(len(answer.text))
    return sorted({point for point in points if 0 <= point < len(content)})


def content_pieces(content: str, answer: Any, *, start: int = 0) -> list[str]:
    """content[start:] cut at the points above; the pieces concatenate to exactly that text."""
    points = [point for point in cut_points(content, answer) if point > start]
    edges = [start, *points, len(content)]
    return [content[left:right] for left, right in itertools.pairwise(edges) if right > left]


async def answer_deltas(
    stream: OpenedStream, *, extra: Callable[[Any], str] = lambda _answer: ""
) -> AsyncIterator[tuple[str, Any]]:
    """("text", piece) events, then ("answer", Answer); pieces join to answer.text + extra(answer).

    An LLM's tokens go out as they come (stream.live); the extractive engine's answer is complete
    at once, so its pieces are cut from it: the short answer first, then each sentence.
    """
    sent = ""
    async with contextlib.aclosing(stream.__aiter__()) as events:
        async for event in events:
            if event.kind == "token":
                if stream.live and event.text:
                    sent += event.text
                    yield "text", event.text
                continue
            if event.answer is None:
                continue
            answer = event.answer
            content = answer.text + extra(answer)
            if content.startswith(sent):
                for piece in content_pieces(content, answer, start=len(sent)):
                    yield "text", piece
            elif extra(answer):
                # The citation check rewrote the LLM's raw text: only the Sources list follows.
                yield "text", extra(answer)
            yield "answer", answer


def sse(event: str | None, data: Any) -> str:
    """One server-sent event (data as JSON unless it is text), framed by sse-starlette.

    LF line ends, as the streams always had (sse-starlette's default is CRLF). The response stays
    Starlette's StreamingResponse: sse-starlette's EventSourceResponse would add ping comments
    every 15 s and its own disconnect handling, and OpenedStream already gives the slot back.
    """
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return ServerSentEvent(text, event=event, sep="\n").encode().decode("utf-8")


async def api_stream_events(stream: OpenedStream, include_hits: bool) -> AsyncIterator[str]:
    """token events (they join to the answer's text), then one answer event; or an error event."""
    try:
        async for kind, value in answer_deltas(stream):
            if kind == "text":
                yield sse("token", {"text": value})
            else:
                model = answer_model(value, include_hits=include_hits)
                yield sse("answer", model.model_dump(mode="json"))
    except Exception as error:  # the 200 is already sent: report in the stream
        yield sse("error", stream_error(error).body())
