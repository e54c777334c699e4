"""OpenAI-compatible /v1: the official `openai` client against a real `newsrag serve` process."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from fastapi.testclient import TestClient

from newsrag.config import Settings
from newsrag.server import create_app
from tests.test_server import API_KEY, MAYOR, assert_error, live_server, settings

__all__ = ["live_server", "settings"]  # fixtures shared with test_server.py

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def client(live_server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_server}/v1", api_key=API_KEY, max_retries=0, timeout=60)


def test_models_lists_newsrag(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == ["newsrag"]


def test_chat_completion_carries_citations(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="newsrag",
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": MAYOR},
        ],
        temperature=0.2,  # accepted and ignored
    )
    message = completion.choices[0].message
    assert message.role == "assistant" and completion.choices[0].finish_reason == "stop"
    assert message.content and "Rizgar Mohammed" in message.content
    # The extra field an OpenAI client ignores, but keeps for those who look.
    citations = (message.model_extra or {})["citations"]
    assert citations and citations[0]["source"] == "Kurdistan 24"
    assert all(f"[{citation['number']}]" in message.content for citation in citations)
    assert completion.model == "newsrag" and completion.id.startswith("chatcmpl-")


def test_streamed_chat_completion(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="newsrag", messages=[{"role": "user", "content": MAYOR}], stream=True
    )
    pieces: list[str] = []
    finish: list[str | None] = []
    citations = None
    for chunk in stream:
        choice = chunk.choices[0]
        pieces.append(choice.delta.content or "")
        finish.append(choice.finish_reason)
        extra = choice.delta.model_extra or {}
        if "citations" in extra:
            citations = extra["citations"]
    assert "Rizgar Mohammed" in "".join(pieces)
    assert finish[-1] == "stop" and finish.count("stop") == 1
    assert citations and "Rizgar Mohammed" in citations[0]["passage"]


def test_multi_turn_conversation(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="newsrag",
        messages=[
            {"role": "user", "content": "Tell me about the airstrikes on Qarachokh mountain."},
            {"role": "assistant", "content": "Coalition jets struck Qarachokh [1]."},
            {"role": "user", "content": [{"type": "text", "text": "How long did they last?"}]},
        ],
    )
    assert "two days" in (completion.choices[0].message.content or "")


def test_wrong_key_and_bad_requests_are_client_errors(live_server: str) -> None:
    intruder = openai.OpenAI(base_url=f"{live_server}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        intruder.models.list()
    client = openai.OpenAI(base_url=f"{live_server}/v1", api_key=API_KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="last message must be a user message"):
        client.chat.completions.create(
            model="newsrag", messages=[{"role": "assistant", "content": "hello"}]
        )
    with pytest.raises(openai.BadRequestError, match="NEWSRAG_MAX_QUESTION_CHARS"):
        client.chat.completions.create(
            model="newsrag", messages=[{"role": "user", "content": "why " * 1000}]
        )


@pytest.fixture(scope="module")
def local(settings: Settings, seed_retriever) -> Iterator[TestClient]:
    from newsrag.assistant import Assistant

    assistant = Assistant.open(settings, retriever=seed_retriever)
    with TestClient(create_app(settings, assistant=assistant)) as test_client:
        yield test_client


def test_message_shapes_in_process(local: TestClient) -> None:
    url = "/v1/chat/completions"
    assert_error(local.post(url, json={"messages": []}), 422, "messages")
    assert_error(local.post(url, json={"messages": [{"role": "wizard", "content": "x"}]}), 422)
    assert_error(
        local.post(url, json={"messages": [{"role": "system", "content": MAYOR}]}), 400, "user"
    )
    parts = [{"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": MAYOR}]
    response = local.post(url, json={"messages": [{"role": "user", "content": parts}]})
    assert response.status_code == 200 and "Rizgar" in response.json()["citations"][0]["passage"]
    with local.stream(
        "POST", url, json={"messages": [{"role": "user", "content": MAYOR}], "stream": True}
    ) as streamed:
        lines = [line for line in streamed.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]" and len(lines) >= 3
