"""One error shape for every route: OpenAI's {"error": {"message", "type", "code", "param"}}."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsrag.api_models import ErrorBody, ErrorResponse
from newsrag.errors import EXIT_INDEX, EXIT_NOTHING, NewsragError, outcome

logger = logging.getLogger("newsrag.server")

API_PREFIXES = ("/api/", "/v1/")
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
# OpenAI's error types: every client error is an invalid_request_error (401 included, with code
# invalid_api_key), a rate limit is "requests", and anything on the server side is server_error.
ERROR_TYPES = {401: "invalid_request_error", 429: "requests"}
DEFAULT_CODES = {
    400: "invalid_request",
    401: "invalid_api_key",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "request_too_large",
    422: "invalid_request_body",
    429: "rate_limit_exceeded",
    500: "internal_error",
    502: "answer_engine_failed",
    503: "service_unavailable",
}


def error_type(status: int) -> str:
    """The OpenAI error type of a status code."""
    return ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


class ApiError(NewsragError):
    """An error answered as {"error": {"message", "type", "code", "param", "detail"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        detail: Any = None,
        headers: dict[str, str] | None = None,
        *,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = self.http_status = status
        self.exit_code = EXIT_NOTHING if status < 500 else EXIT_INDEX
        self.message = message
        self.detail = detail
        self.headers = headers
        self.code = code or DEFAULT_CODES.get(status, f"http_{status}")
        self.param = param

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        error = ErrorBody(
            message=self.message,
            type=error_type(self.status),
            code=self.code,
            param=self.param,
            detail=self.detail,
        )
        return ErrorResponse(error=error).model_dump(mode="json")


def translate_error(error: Exception) -> ApiError | None:
    """Map the library's errors to HTTP by errors.outcome (docs/errors.md); None: an internal error."""
    if isinstance(error, ApiError):
        return error
    found = outcome(error)
    if found is None or found.http_status == 500:
        return None
    return ApiError(found.http_status, found.api_message, code=found.api_code)


def error_response(error: ApiError) -> JSONResponse:
    """The JSON response of every error."""
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def _validation_error(error: RequestValidationError) -> ApiError:
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
        return ApiError(
            422, "invalid request: the body is not valid JSON", problems, code="invalid_json"
        )
    if first["loc"] == ["body"]:
        message = (
            "invalid request: send a JSON object as the body, with Content-Type: application/json"
        )
        return ApiError(422, message, problems, code="invalid_json")
    where = ".".join(part for part in first["loc"] if part != "body") or "request"
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    message = f"invalid request: {where}: {first['msg']}{more}"
    return ApiError(422, message, problems, code="invalid_value", param=where)


def readable_detail(status: int, detail: str, path: str) -> str:
    """Starlette's bare "Not Found" / "Method Not Allowed" as a line that says what to do."""
    if status == 404 and detail == "Not Found":
        return f"no route {path}: see /docs for the routes"
    if status == 405 and detail == "Method Not Allowed":
        return f"this method is not allowed on {path}: see /docs for the routes"
    return detail


def install_error_handlers(app: FastAPI) -> None:
    """Every error is the one JSON shape; nothing escapes as an HTML 500 or {"detail": ...}."""

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(_validation_error(error))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(error.headers) if error.headers else None
        message = readable_detail(error.status_code, str(error.detail), request.url.path)
        return error_response(ApiError(error.status_code, message, headers=headers))

    # NewsragError too: one raised in the route itself (building the Question) is answered here
    # like one from the threadpool (call_blocking), by errors.outcome's table.
    @app.exception_handler(NewsragError)
    @app.exception_handler(Exception)
    async def on_crash(request: Request, error: Exception) -> JSONResponse:
        known = translate_error(error)
        if known is not None:
            return error_response(known)
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(ApiError(500, f"internal error ({type(error).__name__})"))


def _template_regex(template: str) -> re.Pattern[str]:
    """An OpenAPI path template ("/api/articles/{article_id}") as a regex of concrete paths."""
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile(
        "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    )


def install_fallback_routes(app: FastAPI) -> None:
    """404/405 for unknown /api and /v1 routes, also when a UI is mounted at "/" after them."""

    async def unknown(request: Request) -> JSONResponse:
        # A path that a documented route serves with other methods is a 405, as without the mount.
        path = request.url.path
        allowed = sorted(
            method.upper()
            for template, operations in request.app.openapi().get("paths", {}).items()
            if _template_regex(template).fullmatch(path)
            for method in operations
        )
        if allowed:
            methods = ", ".join(allowed)
            raise ApiError(
                405,
                f"{request.method} is not allowed on {path}: use {methods}",
                headers={"Allow": methods},
            )
        raise ApiError(404, f"no route {path}: see /docs for the routes")

    for prefix in API_PREFIXES:
        app.add_api_route(
            prefix + "{rest:path}", unknown, methods=ALL_METHODS, include_in_schema=False
        )


class ErrorShapeMiddleware:
    """Rewrite {"detail": "..."} 404/405 answers of mounted apps (the UI) into the one shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def reshape(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = dict(message.get("headers") or [])
                json_body = headers.get(b"content-type", b"").startswith(b"application/json")
                if status in (404, 405) and json_body:
                    held.append(message)  # wait for the body before deciding
                    return
            elif held and message["type"] == "http.response.body":
                held.append(message)
                if message.get("more_body", False):
                    return
                await _send_reshaped(held, send, str(scope.get("path", "")))
                held.clear()
                return
            await send(message)

        await self.app(scope, receive, reshape)


async def _send_reshaped(messages: list[Message], send: Send, path: str) -> None:
    start, parts = messages[0], messages[1:]
    body = b"".join(part.get("body", b"") for part in parts)
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and set(data) == {"detail"}:
        status = int(start["status"])
        message = readable_detail(status, str(data["detail"]), path)
        body = json.dumps(ApiError(status, message).body()).encode()
        headers = [
            (name, value)
            for name, value in start.get("headers") or []
            if name.lower() != b"content-length"
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        start = {**start, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
