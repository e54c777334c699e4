"""Both serving modes: one error shape and status map, examples that answer, limits on bad clients."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from newsrag.api_plumbing import BodyLimitMiddleware
from newsrag.config import Settings
from newsrag.server import create_app
from tests.conftest import free_port, stop_process
from tests.test_server import API_KEY, assert_error, start_server, wait_until_ready

MODES = ["api-only", "with-ui"]


@pytest.fixture(scope="module")
def settings(seed_index: Settings) -> Settings:
    from tests.conftest import REPO_ROOT

    return seed_index.model_copy(update={"prompts_dir": REPO_ROOT / "prompts"})


@pytest.fixture(scope="module")
def assistant(settings: Settings, seed_retriever):
    from newsrag.assistant import Assistant

    return Assistant.open(settings, retriever=seed_retriever)


def build(mode: str, settings: Settings, assistant: Any) -> FastAPI:
    """The app `newsrag serve --api-only` serves, or the one `make run` serves (UI mounted)."""
    app = create_app(settings, assistant=assistant)
    if mode == "with-ui":
        from newsrag.ui import mount_ui

        app = mount_ui(app, assistant=assistant, settings=settings)
    return app


@pytest.fixture(scope="module", params=MODES)
def client(request: pytest.FixtureRequest, settings: Settings, assistant) -> Iterator[TestClient]:
    with TestClient(build(request.param, settings, assistant)) as test_client:
        yield test_client


def test_unknown_routes_and_wrong_methods(client: TestClient) -> None:
    wrong = assert_error(client.get("/api/search"), 405, "use POST")
    assert wrong["code"] == "method_not_allowed"
    assert client.get("/api/search").headers["allow"] == "POST"
    assert_error(client.delete("/v1/models"), 405, "use GET")
    assert_error(client.post("/api/articles/abc"), 405, "use GET")
    for path in ("/api/nothing", "/v1/nothing", "/api/articles/a/b"):
        assert assert_error(client.get(path), 404, path)["code"] == "not_found"
    assert_error(client.get("/no/such/page.json"), 404)
    assert_error(client.post("/api/search", json={"query": "x", "k": 0}), 422, "k")


def test_openapi_examples_return_real_answers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    executed = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            examples = content.get("application/json", {}).get("examples", {})
            for name, example in examples.items():
                response = client.request(method, path, json=example["value"])
                assert response.status_code == 200, (path, name, response.text)
                executed += 1
                if path == "/api/search":
                    assert response.json()["hits"], (path, name)
                elif path == "/api/ask":
                    assert not response.json()["refused"], (path, name)
                    assert response.json()["citations"]
                elif path == "/v1/chat/completions":
                    message = response.json()["choices"][0]["message"]
                    assert not message["refused"] and message["citations"], name
    assert executed >= 6  # search x2, ask x2, ask/stream x2, chat x2
    # The schemas carry a whole example body too (ReDoc shows it), free of placeholder values.
    schemas = spec["components"]["schemas"]
    for name in ("AskRequest", "SearchRequest", "ChatCompletionRequest"):
        assert schemas[name]["examples"], name
        assert "string" not in str(schemas[name]["examples"])


def test_health_shows_no_absolute_path(client: TestClient, settings: Settings) -> None:
    text = client.get("/api/health").text
    assert str(settings.index_dir.resolve()) not in text and str(settings.index_dir) not in text
    assert client.get("/api/health").json()["index"]["store"] == "chroma dir INDEX_DIR/chroma"


@pytest.mark.parametrize("mode", MODES)
def test_wrong_keys_are_rate_limited(mode: str, settings: Settings, assistant) -> None:
    keyed = settings.model_copy(update={"api_key": API_KEY, "max_failed_auth_per_minute": 3})
    with TestClient(build(mode, keyed, assistant)) as test_client:
        for _ in range(3):
            assert_error(
                test_client.get("/api/health", headers={"Authorization": "Bearer no"}), 401
            )
        limited = test_client.get("/api/health", headers={"Authorization": "Bearer no"})
        error = assert_error(limited, 429, "too many failed API keys")
        assert int(limited.headers["retry-after"]) >= 1
        assert error["code"] == "too_many_failed_attempts"
        # Even the right key waits: a guesser learns nothing more from this address for a while.
        right = {"Authorization": f"Bearer {API_KEY}"}
        assert_error(test_client.get("/v1/models", headers=right), 429)


def test_wrong_ui_passwords_are_rate_limited(settings: Settings, assistant) -> None:
    keyed = settings.model_copy(update={"api_key": API_KEY, "max_failed_auth_per_minute": 3})
    with TestClient(build("with-ui", keyed, assistant)) as test_client:
        for _ in range(3):
            wrong = test_client.post("/login", data={"username": "me", "password": "guess"})
            assert wrong.status_code == 400
        limited = test_client.post("/login", data={"username": "me", "password": API_KEY})
        assert_error(limited, 429, "too many failed logins")


# ---- a body that never arrives ------------------------------------------------------------------


def send_partial_body(port: int, path: str) -> bytes:
    """Declare a 100-byte body, send 10 bytes, then read whatever the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {API_KEY}\r\nContent-Length: 100\r\n\r\n".encode()
            + b'{"questio'
        )
        received = b""
        while chunk := connection.recv(65536):  # the server closes after its answer
            received += chunk
        return received


@pytest.mark.server
def test_a_body_shorter_than_declared_gets_408(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    index_dir = tmp_path_factory.mktemp("slow-body-index")
    shutil.copytree(settings.index_dir, index_dir, dirs_exist_ok=True)
    port = free_port()
    process = start_server(
        index_dir,
        port=port,
        env={"NEWSRAG_API_KEY": API_KEY, "NEWSRAG_REQUEST_BODY_TIMEOUT": "1"},
    )
    try:
        wait_until_ready(process, port, API_KEY, limit=180)
        for path in ("/api/ask", "/v1/chat/completions"):
            answer = send_partial_body(port, path)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
            error = json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
            assert error["code"] == "request_timeout"
            assert "NEWSRAG_REQUEST_BODY_TIMEOUT" in error["message"]
    finally:
        stop_process(process)


def test_ui_bodies_that_stall_get_408() -> None:
    # The inner app stands in for Gradio's upload routes (it reads its body part by part).
    sent: list[dict[str, Any]] = []

    async def reading_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RuntimeError("client disconnected")  # what Starlette raises here
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def stalling_client() -> dict[str, Any]:
        parts = [{"type": "http.request", "body": b"a", "more_body": True}]

        async def receive() -> dict[str, Any]:
            if parts:
                return parts.pop()
            await asyncio.sleep(3600)  # the rest of the body never comes
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        middleware = BodyLimitMiddleware(reading_app, max_bytes=10, read_timeout=0.2)
        scope = {"type": "http", "path": "/gradio_api/upload", "method": "POST", "headers": []}
        await asyncio.wait_for(middleware(scope, receive, send), timeout=60)
        return sent[0]

    start = asyncio.run(stalling_client())
    assert start["status"] == 408 and b"request_timeout" in sent[1]["body"]
