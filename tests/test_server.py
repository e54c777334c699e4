"""HTTP API: every route through FastAPI's TestClient, then a real `newsrag serve` process."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from newsrag.config import Settings
from newsrag.server import (
    MAX_BODY_BYTES,
    ServeConfigError,
    check_bind,
    create_app,
    is_loopback,
    open_stream,
)
from tests.conftest import REPO_ROOT, SEEDS_DIR, free_port, stop_process

MAYOR = "Who is the mayor of Makhmour?"
API_KEY = "test-key-3f9a"


@pytest.fixture(scope="module")
def settings(seed_index: Settings) -> Settings:
    """The seed index, with the repository's prompts wherever pytest runs from."""
    return seed_index.model_copy(update={"prompts_dir": REPO_ROOT / "prompts"})


@pytest.fixture(scope="module")
def assistant(settings: Settings, seed_retriever):
    from newsrag.assistant import Assistant

    return Assistant.open(settings, retriever=seed_retriever)


@pytest.fixture(scope="module")
def client(settings: Settings, assistant) -> Iterator[TestClient]:
    with TestClient(create_app(settings, assistant=assistant)) as test_client:
        yield test_client


def read_events(text: str) -> list[tuple[str, Any]]:
    """Parse a text/event-stream body into (event, data) pairs."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


ERROR_FIELDS = {"message", "type", "code", "param", "detail"}


def assert_error(response: httpx.Response, status: int, *phrases: str) -> dict[str, Any]:
    """OpenAI's error object {"error": {"message", "type", "code", ...}} naming these phrases."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_FIELDS, body
    error = body["error"]
    assert isinstance(error["message"], str) and isinstance(error["code"], str)
    expected_type = {401: "invalid_request_error", 429: "requests"}.get(
        status, "server_error" if status >= 500 else "invalid_request_error"
    )
    assert error["type"] == expected_type, body
    for phrase in phrases:
        assert phrase in error["message"], body
    return error


# ---- routes --------------------------------------------------------------------------------


def test_search_returns_ranked_hits_with_filters(client: TestClient) -> None:
    response = client.post("/api/search", json={"query": MAYOR, "k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert 1 <= len(body["hits"]) <= 3
    top = body["hits"][0]
    assert "Rizgar Mohammed" in top["chunk"]["text"]
    assert top["article"]["source"] == "Kurdistan 24"
    assert [hit["score"] for hit in body["hits"]] == sorted(
        (hit["score"] for hit in body["hits"]), reverse=True
    )
    assert "embed_query" in body["timings"]

    later = client.post("/api/search", json={"query": "airstrikes", "since": "2020-01-01"})
    assert later.status_code == 200 and later.json()["hits"] == []
    assert later.json()["filters"]["since"] == "2020-01-01"
    other = client.post("/api/search", json={"query": "airstrikes", "sources": ["Reuters"]})
    assert other.json()["hits"] == []
    keyword = client.post("/api/search", json={"query": "Qarachokh", "mode": "keyword"})
    assert keyword.json()["hits"][0]["keyword_rank"] == 1


def test_ask_returns_a_cited_answer(client: TestClient) -> None:
    response = client.post("/api/ask", json={"question": MAYOR, "include_hits": True})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "Rizgar Mohammed" in answer["text"] and not answer["refused"]
    assert answer["engine"] == "extractive" and answer["hits"]
    numbers = [citation["number"] for citation in answer["citations"]]
    assert numbers and all(f"[{number}]" in answer["text"] for number in numbers)
    cited = answer["citations"][0]
    assert cited["quote"] in cited["passage"] and cited["source"] == "Kurdistan 24"

    without = client.post("/api/ask", json={"question": MAYOR}).json()
    assert without["hits"] is None and without["text"] == answer["text"]


def test_ask_follow_up_uses_history(client: TestClient) -> None:
    history = [
        {"role": "user", "content": "How long did the airstrikes on Qarachokh mountain last?"},
        {"role": "assistant", "content": "They lasted two days [1]."},
    ]
    response = client.post("/api/ask", json={"question": "Who is the mayor?", "history": history})
    assert response.status_code == 200, response.text
    assert response.json()["searched_for"]


def test_refusal_when_nothing_matches_the_filters(client: TestClient) -> None:
    response = client.post("/api/ask", json={"question": MAYOR, "since": "2030-01-01"})
    assert response.status_code == 200
    assert response.json()["refused"] is True and response.json()["citations"] == []


def test_ask_stream_sends_tokens_then_the_answer(client: TestClient) -> None:
    with client.stream("POST", "/api/ask/stream", json={"question": MAYOR}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_events(response.read().decode("utf-8"))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "answer" and kinds.count("answer") == 1
    assert kinds[:-1] and set(kinds[:-1]) == {"token"}
    answer = events[-1][1]
    assert "Rizgar Mohammed" in answer["text"] and answer["citations"]
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    assert streamed == answer["text"]  # the tokens join to exactly the answer's text


def test_stream_bad_question_is_a_400_before_streaming(client: TestClient) -> None:
    response = client.post("/api/ask/stream", json={"question": "   \x00  "})
    assert_error(response, 400, "empty")


def test_article_by_id_and_404(client: TestClient) -> None:
    hit = client.post("/api/search", json={"query": MAYOR, "k": 1}).json()["hits"][0]
    response = client.get(f"/api/articles/{hit['article']['id']}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["article"]["editor"] == "Nadia Riva" and body["article"]["place"] == "Erbil"
    assert body["article"]["date"] is None  # the Makhmour report is undated
    ordinals = [chunk["ordinal"] for chunk in body["chunks"]]
    assert ordinals == list(range(len(ordinals)))
    assert hit["chunk"]["id"] in {chunk["id"] for chunk in body["chunks"]}
    assert_error(client.get("/api/articles/a000000000000000"), 404, "no article")


def test_health_reports_index_model_and_engine(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["engine"] == "extractive"
    assert body["index"]["articles"] == 2 and body["index"]["sources"] == ["Kurdistan 24"]
    assert body["embedding_model"] == body["index"]["model"]
    assert body["auth_required"] is False
    assert body["limits"]["max_body_bytes"] == MAX_BODY_BYTES


def test_docs_are_served_without_a_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    assert "cdn.jsdelivr.net" not in page.text
    assert client.get("/docs-static/swagger-ui-bundle.js").status_code == 200
    assert client.get("/redoc").status_code == 200
    spec = client.get("/openapi.json").json()
    for path in ("/api/search", "/api/ask", "/api/ask/stream", "/v1/chat/completions"):
        assert path in spec["paths"]
    assert "/api/articles/{article_id}" in spec["paths"]


# ---- bad input: 4xx JSON, never 5xx ------------------------------------------------------------


def test_bad_input_is_a_clear_4xx(client: TestClient) -> None:
    too_long = "x" * 2001
    assert_error(
        client.post("/api/search", json={"query": too_long}), 400, "NEWSRAG_MAX_QUESTION_CHARS"
    )
    assert_error(client.post("/api/ask", json={"question": too_long}), 400, "2,000 limit")
    for k in (0, 101, "many"):
        assert_error(client.post("/api/search", json={"query": "x", "k": k}), 422, "k")
    assert_error(
        client.post("/api/search", json={"query": "x", "since": "2020", "until": "2019"}),
        422,
        "since",
    )
    assert_error(
        client.post(
            "/api/search", json={"query": "x", "since": "2020-01-02", "until": "2019-01-01"}
        ),
        400,
        "swap",
    )
    assert_error(client.post("/api/search", json={"query": "x", "kk": 3}), 422, "kk")
    assert_error(client.post("/api/search", json={"query": ""}), 422, "query")
    assert_error(
        client.post("/api/search", content=b"{nope", headers={"content-type": "application/json"}),
        422,
        "not valid JSON",
    )
    assert_error(client.post("/api/search", content=b"query=x"), 422, "JSON object")
    assert_error(client.post("/api/ask", json={"question": "x", "history": [{"role": "x"}]}), 422)
    assert_error(client.get("/api/search"), 405)
    assert_error(client.get("/api/nothing"), 404)


def test_body_over_the_limit_is_413(client: TestClient) -> None:
    big = json.dumps({"query": "x" * (MAX_BODY_BYTES + 10)})
    response = client.post("/api/search", content=big, headers={"content-type": "application/json"})
    assert_error(response, 413, "bytes")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        yield b'{"query": "'
        for _ in range(20):
            yield b"y" * 8192
        yield b'"}'

    chunked = client.post(
        "/api/ask", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(chunked, 413)


def test_concurrent_answer_limit_is_429(settings: Settings, assistant, monkeypatch) -> None:
    import newsrag.server as server

    monkeypatch.setattr(server, "ANSWER_QUEUE_SECONDS", 0.2)
    limited = settings.model_copy(update={"max_concurrent_answers": 1})
    app = create_app(limited, assistant=assistant)
    with TestClient(app) as test_client:
        slots = app.state.backend.answer_slots
        assert slots.acquire(timeout=1)  # another answer is running
        try:
            busy = test_client.post("/api/ask", json={"question": MAYOR})
            assert_error(busy, 429, "NEWSRAG_MAX_CONCURRENT_ANSWERS")
            assert busy.headers["retry-after"]
            assert_error(test_client.post("/api/ask/stream", json={"question": MAYOR}), 429)
        finally:
            slots.release()
        # The slot comes back after every kind of answer, so answers keep flowing.
        assert test_client.post("/api/ask", json={"question": MAYOR}).status_code == 200
        assert test_client.post("/api/ask/stream", json={"question": MAYOR}).status_code == 200
        assert test_client.post("/api/ask", json={"question": MAYOR}).status_code == 200
        assert test_client.post("/api/ask", json={"question": ""}).status_code == 422
        assert test_client.post("/api/ask", json={"question": "\x01"}).status_code == 400
        assert slots.acquire(timeout=1)
        slots.release()


def test_a_flood_of_answers_is_refused_without_waiting(
    settings: Settings, assistant, monkeypatch
) -> None:
    import threading

    import newsrag.server as server
    from newsrag.api_plumbing import ApiError

    monkeypatch.setattr(server, "ANSWER_QUEUE_SECONDS", 600.0)
    monkeypatch.setattr(server, "MAX_WAITING_ANSWERS", 0)
    backend = server.Backend(
        settings.model_copy(update={"max_concurrent_answers": 1}), assistant=assistant
    )
    release = backend.acquire_answer_slot()
    outcome: list[object] = []

    def second_request() -> None:
        try:
            outcome.append(backend.acquire_answer_slot())
        except ApiError as error:
            outcome.append(error.status)

    waiter = threading.Thread(target=second_request, daemon=True)
    waiter.start()
    waiter.join(timeout=60)  # a waiting request would sit here for the 600 s queue time
    release()
    assert outcome == [429]


def test_a_stream_closed_early_gives_its_slot_back(settings: Settings, assistant) -> None:
    from newsrag.server import Backend

    backend = Backend(
        settings.model_copy(update={"max_concurrent_answers": 1}), assistant=assistant
    )

    async def read_one_event_then_leave() -> None:
        stream = await open_stream(backend, MAYOR, {})
        events = stream.__aiter__()
        first = await events.__anext__()
        assert first.kind == "token"
        assert not backend.answer_slots.acquire(blocking=False)  # held while streaming
        await events.aclose()

    asyncio.run(read_one_event_then_leave())
    assert backend.answer_slots.acquire(blocking=False)


def test_engine_failure_is_a_502_not_a_crash(settings: Settings, seed_retriever) -> None:
    from newsrag.assistant import Assistant

    # A real OpenAI-compatible engine pointed at a port where nothing listens.
    down = settings.model_copy(
        update={
            "engine": "openai",
            "llm_base_url": f"http://127.0.0.1:{free_port()}/v1",
            "llm_timeout": 5.0,
        }
    )
    assistant = Assistant.open(down, retriever=seed_retriever)
    with TestClient(create_app(down, assistant=assistant)) as test_client:
        assert_error(test_client.post("/api/ask", json={"question": MAYOR}), 502, "answer engine")
        streamed = test_client.post("/api/ask/stream", json={"question": MAYOR})
        assert_error(streamed, 502)
        assert test_client.get("/api/health").json()["engine"].startswith("openai:")


def test_missing_index_is_a_503(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(index_dir=tmp_path / "none"))) as test_client:
        assert_error(test_client.get("/api/health"), 503, "newsrag ingest")
        assert_error(test_client.post("/api/search", json={"query": "x"}), 503)


# ---- access ----------------------------------------------------------------------------------


def test_api_key_guards_every_api_route(settings: Settings, assistant) -> None:
    # 21 wrong keys below: a limit above that (the limit itself is tested in test_api_limits.py).
    keyed = settings.model_copy(update={"api_key": API_KEY, "max_failed_auth_per_minute": 100})
    routes = [
        ("POST", "/api/search", {"query": MAYOR}),
        ("POST", "/api/ask", {"question": MAYOR}),
        ("POST", "/api/ask/stream", {"question": MAYOR}),
        ("GET", "/api/articles/a000000000000000", None),
        ("GET", "/api/health", None),
        ("GET", "/v1/models", None),
        ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": MAYOR}]}),
    ]
    with TestClient(create_app(keyed, assistant=assistant)) as test_client:
        for method, path, body in routes:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}):
                response = test_client.request(method, path, json=body, headers=headers)
                assert_error(response, 401, "API key")
                assert response.headers["www-authenticate"] == "Bearer"
            good = test_client.request(
                method, path, json=body, headers={"Authorization": f"Bearer {API_KEY}"}
            )
            assert good.status_code in (200, 404), (path, good.text)
        # Docs stay readable, so a client can find out how to authenticate.
        assert test_client.get("/openapi.json").status_code == 200
        assert test_client.get("/docs").status_code == 200
        health = test_client.get("/api/health", headers={"Authorization": f"Bearer {API_KEY}"})
        assert health.json()["auth_required"] is True


def test_public_bind_needs_a_key_or_an_explicit_opt_in() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        assert is_loopback(host)
        check_bind(host, Settings())
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.org"):
        assert not is_loopback(host)
        with pytest.raises(ServeConfigError, match="NEWSRAG_API_KEY"):
            check_bind(host, Settings())
        check_bind(host, Settings(api_key="k"))
        check_bind(host, Settings(allow_public_without_key=True))


def test_serve_refuses_a_public_host_without_key(tmp_path: Path, monkeypatch) -> None:
    from newsrag.cli import app

    monkeypatch.delenv("NEWSRAG_API_KEY", raising=False)
    monkeypatch.delenv("NEWSRAG_ALLOW_PUBLIC_WITHOUT_KEY", raising=False)
    result = CliRunner().invoke(
        app, ["serve", "--api-only", "--host", "0.0.0.0", "--index", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "NEWSRAG_API_KEY" in result.output
    missing = CliRunner().invoke(
        app, ["serve", "--api-only", "--port", str(free_port()), "--index", str(tmp_path)]
    )
    assert missing.exit_code == 3 and "newsrag ingest" in missing.output


# ---- a real server process -------------------------------------------------------------------


def start_server(index_dir: Path, *, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`newsrag serve --api-only` as a subprocess on 127.0.0.1:port."""
    executable = Path(sys.executable).with_name("newsrag")
    return subprocess.Popen(
        [str(executable), "serve", "--api-only", "--port", str(port), "--index", str(index_dir)],
        env={**os.environ, "NEWSRAG_PROMPTS_DIR": str(REPO_ROOT / "prompts"), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_until_ready(process: subprocess.Popen[bytes], port: int, key: str, limit: float) -> None:
    """Poll /api/health until it answers 200; fail with the server's output otherwise."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"newsrag serve exited with {process.returncode}: {output[-2000:]}")
        try:
            response = httpx.get(
                f"http://127.0.0.1:{port}/api/health",
                headers={"Authorization": f"Bearer {key}"} if key else {},
                timeout=2,
            )
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"newsrag serve did not answer on port {port} within {limit:.0f} s")


@pytest.fixture(scope="module")
def live_server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `newsrag serve --api-only` on a free port over a copy of the seed index."""
    index_dir = tmp_path_factory.mktemp("live-index")
    shutil.copytree(settings.index_dir, index_dir, dirs_exist_ok=True)
    port = free_port()
    process = start_server(index_dir, port=port, env={"NEWSRAG_API_KEY": API_KEY})
    try:
        wait_until_ready(process, port, API_KEY, limit=180)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)


@pytest.mark.server
def test_real_server_serves_every_route(live_server: str) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=live_server, headers=auth, timeout=60) as http:
        health = http.get("/api/health").json()
        assert health["index"]["articles"] == 2 and health["auth_required"] is True
        hits = http.post("/api/search", json={"query": MAYOR, "k": 2}).json()["hits"]
        assert "Rizgar Mohammed" in hits[0]["chunk"]["text"]
        article = http.get(f"/api/articles/{hits[0]['article']['id']}")
        assert article.status_code == 200 and article.json()["chunks"]
        answer = http.post("/api/ask", json={"question": MAYOR}).json()
        assert "Rizgar Mohammed" in answer["text"] and answer["citations"]
        with http.stream("POST", "/api/ask/stream", json={"question": MAYOR}) as response:
            events = read_events(response.read().decode("utf-8"))
        assert events[-1][0] == "answer" and events[-1][1]["text"] == answer["text"]
        assert http.get("/v1/models").json()["data"][0]["id"] == "newsrag"
        assert_error(http.post("/api/search", json={"query": "x", "k": 500}), 422, "k")
        assert_error(http.post("/api/search", content=b"x" * (MAX_BODY_BYTES + 1)), 413, "bytes")
        assert http.get("/docs").status_code == 200
    assert_error(httpx.get(f"{live_server}/api/health", timeout=10), 401, "API key")


# ---- scale-out: a Chroma server ----------------------------------------------------------------


@pytest.mark.server
def test_answers_through_the_api_from_a_chroma_server(
    chroma_server, tmp_path: Path, embedder, settings: Settings
) -> None:
    from newsrag import ingest
    from newsrag.assistant import Assistant

    host, port = chroma_server
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in SEEDS_DIR.glob("*.txt"):
        shutil.copy(path, corpus / path.name)
    remote = settings.model_copy(
        update={
            "corpus_dir": corpus,
            "index_dir": tmp_path / "index",
            "chroma_host": host,
            "chroma_port": port,
        }
    )
    report = ingest(corpus, settings=remote, embedder=embedder)
    assert report.added == 2
    assert not (tmp_path / "index" / "chroma").exists()  # the vectors live on the server

    assistant = Assistant.open(remote, embedder=embedder)
    with TestClient(create_app(remote, assistant=assistant)) as test_client:
        health = test_client.get("/api/health").json()
        assert health["index"]["store"] == f"chroma server {host}:{port}"
        answer = test_client.post("/api/ask", json={"question": MAYOR}).json()
        assert "Rizgar Mohammed" in answer["text"] and answer["citations"]
        article_id = answer["citations"][0]["article_id"]
        article = test_client.get(f"/api/articles/{article_id}").json()
        assert article["article"]["editor"] == "Nadia Riva"


def test_worker_factory_fails_fast_without_an_index(tmp_path: Path, monkeypatch) -> None:
    from newsrag.retrieval import IndexMissingError
    from newsrag.server import app_from_env

    monkeypatch.setenv("NEWSRAG_INDEX_DIR", str(tmp_path))
    monkeypatch.setenv("NEWSRAG_PROMPTS_DIR", str(REPO_ROOT / "prompts"))
    with pytest.raises(IndexMissingError, match="newsrag ingest"):
        app_from_env()
