"""OpenAI-compatible /v1: the official `openai` client against a real `newsrag serve` process."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient
from markdown_it import MarkdownIt

from newsrag.api_openai import sources_markdown
from newsrag.config import Settings
from newsrag.models import Citation
from newsrag.server import create_app
from tests.test_server import API_KEY, MAYOR, assert_error, live_server, settings

__all__ = ["live_server", "settings"]  # fixtures shared with test_server.py

pytestmark = pytest.mark.server
# Answered with two cited sentences on the sample corpus: a stream of several deltas.
COALITION = "What did the coalition do near Makhmour?"
FOLLOW_UP = [
    {"role": "user", "content": "Tell me about the airstrikes on Qarachokh mountain."},
    {"role": "assistant", "content": "Coalition jets struck Qarachokh [1]."},
    {"role": "user", "content": [{"type": "text", "text": "How long did they last?"}]},
]


@pytest.fixture(scope="module")
def client(live_server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_server}/v1", api_key=API_KEY, max_retries=0, timeout=60)


def streamed(client: openai.OpenAI, **request: Any) -> tuple[list[str], list[Any]]:
    """The content deltas of a streamed completion, and every chunk."""
    chunks = list(client.chat.completions.create(stream=True, **request))
    deltas = [
        choice.delta.content for chunk in chunks for choice in chunk.choices if choice.delta.content
    ]
    return deltas, chunks


def test_models_lists_newsrag_and_newsrag_sources(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == ["newsrag", "newsrag-sources"]
    assert client.models.retrieve("newsrag-sources").id == "newsrag-sources"
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("gpt-4o")
    assert missing.value.code == "model_not_found"


def test_chat_completion_carries_citations_and_usage(client: openai.OpenAI, embedder) -> None:
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
    assert "**Sources**" not in message.content  # plain model: citations only as [n]
    # The extra field an OpenAI client ignores, but keeps for those who look.
    citations = (message.model_extra or {})["citations"]
    assert citations and citations[0]["source"] == "Kurdistan 24"
    assert all(f"[{citation['number']}]" in message.content for citation in citations)
    assert completion.model == "newsrag" and completion.id.startswith("chatcmpl-")
    # usage: the embedding model's own tokenizer, counted here independently.
    tokenizer = embedder.model.tokenizer

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    usage = completion.usage
    assert usage is not None
    assert usage.completion_tokens == count(message.content)
    assert usage.prompt_tokens == count(f"You are a helpful assistant.\n{MAYOR}")
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stream_sends_the_short_answer_then_each_sentence(
    client: openai.OpenAI, live_server: str
) -> None:
    question = [{"role": "user", "content": COALITION}]
    deltas, chunks = streamed(client, model="newsrag", messages=question)
    assert len(deltas) > 1, deltas  # incremental: more than one content delta
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = [choice.finish_reason for chunk in chunks for choice in chunk.choices]
    assert finish[-1] == "stop" and finish.count("stop") == 1
    last = chunks[-1].choices[0]
    assert last.delta.content is None
    citations = (last.delta.model_extra or {})["citations"]
    assert citations and "Makhmour" in citations[0]["passage"]
    # The answer's sentences each arrive as their own delta, after the short answer.
    import httpx

    answer = httpx.post(
        f"{live_server}/api/ask",
        json={"question": COALITION},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=60,
    ).json()
    sentences = [sentence["text"] for sentence in answer["sentences"]]
    assert [delta.strip() for delta in deltas[-len(sentences) :]] == sentences
    assert "".join(deltas) == answer["text"]
    # The short answer line (with its [n]) is the first delta, alone.
    assert answer["short_answer"]
    first_line = answer["text"].split("\n\n", 1)[0]
    assert first_line.startswith(answer["short_answer"])
    assert deltas[0] == first_line + "\n\n"


@pytest.mark.parametrize("model", ["newsrag", "newsrag-sources"])
def test_stream_deltas_concatenate_to_the_answer(client: openai.OpenAI, model: str) -> None:
    for messages in ([{"role": "user", "content": COALITION}], FOLLOW_UP):
        whole = client.chat.completions.create(model=model, messages=messages)
        deltas, _ = streamed(client, model=model, messages=messages)
        assert "".join(deltas) == whole.choices[0].message.content


def test_sources_list_by_model_or_flag(client: openai.OpenAI) -> None:
    by_model = client.chat.completions.create(
        model="newsrag-sources", messages=[{"role": "user", "content": MAYOR}]
    )
    by_flag = client.chat.completions.create(
        model="newsrag",
        messages=[{"role": "user", "content": MAYOR}],
        extra_body={"include_sources": True},
    )
    content = by_model.choices[0].message.content or ""
    assert content == by_flag.choices[0].message.content
    text, sources = content.split("\n\n**Sources**\n\n")
    citations = (by_model.choices[0].message.model_extra or {})["citations"]
    lines = sources.splitlines()
    assert len(lines) == len(citations)
    for line, citation in zip(lines, citations, strict=True):
        assert line.startswith(f"{citation['number']}. ") and "Kurdistan 24" in line
        assert f"[{citation['number']}]" in text
    off = client.chat.completions.create(
        model="newsrag-sources",
        messages=[{"role": "user", "content": MAYOR}],
        extra_body={"include_sources": False},
    )
    assert off.choices[0].message.content == text


def test_stream_usage_on_request(client: openai.OpenAI) -> None:
    deltas, chunks = streamed(
        client,
        model="newsrag",
        messages=[{"role": "user", "content": MAYOR}],
        stream_options={"include_usage": True},
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0 and deltas


def test_multi_turn_conversation(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="newsrag", messages=FOLLOW_UP)
    assert "two days" in (completion.choices[0].message.content or "")


def test_errors_are_openai_error_objects(live_server: str) -> None:
    intruder = openai.OpenAI(base_url=f"{live_server}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        intruder.models.list()
    assert refused.value.code == "invalid_api_key" and refused.value.type == "invalid_request_error"
    assert "API key" in refused.value.message
    client = openai.OpenAI(base_url=f"{live_server}/v1", api_key=API_KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="last message must be a user message") as bad:
        client.chat.completions.create(
            model="newsrag", messages=[{"role": "assistant", "content": "hello"}]
        )
    assert bad.value.param == "messages" and bad.value.type == "invalid_request_error"
    with pytest.raises(openai.BadRequestError, match="NEWSRAG_MAX_QUESTION_CHARS") as long:
        client.chat.completions.create(
            model="newsrag", messages=[{"role": "user", "content": "why " * 1000}]
        )
    assert long.value.code == "question_not_searchable"
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": MAYOR}]
        )
    assert unknown.value.code == "model_not_found" and unknown.value.param == "model"
    with pytest.raises(openai.UnprocessableEntityError) as invalid:
        client.chat.completions.create(model="newsrag", messages=[])
    assert invalid.value.param == "messages" and invalid.value.code == "invalid_value"
    # Streamed requests fail the same way, before the stream starts.
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="newsrag", messages=[{"role": "system", "content": "x"}], stream=True
        )


def test_sources_markdown_cannot_inject_markup() -> None:
    hostile = Citation(
        number=1,
        article_id="a",
        chunk_id="a-0",
        title="<script>alert(1)</script> [click](javascript:alert(1)) ![x](http://e/x.png)",
        source="**Evil** _outlet_",
        date=None,
        url="javascript:alert(2)",
        passage="p",
        passage_start=0,
        passage_end=1,
        quote="“<img src=x onerror=alert(3)>”",
        quote_start=0,
        quote_end=1,
    )
    rendered = MarkdownIt("commonmark").render(sources_markdown([hostile]))
    assert rendered.startswith("<p><strong>Sources</strong></p>")  # our heading, the only markup
    item = rendered.split("<li>", 1)[1]
    for markup in ("<script", "<img", "<a ", "<strong>", "<em>", "javascript:alert(2)"):
        assert markup not in item, rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered  # shown as text
    assert rendered.count("“") == 1  # the quote's own quotation marks are not doubled
    linked = sources_markdown([dataclasses.replace(hostile, url="https://k24.net/a (1)")])
    assert '<a href="https://k24.net/a%20%281%29">' in MarkdownIt("commonmark").render(linked)


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
    ) as streamed_response:
        lines = [line for line in streamed_response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]" and len(lines) >= 4
