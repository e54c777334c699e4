"""OpenAI-compatible /v1: models, chat completions (streamed or not), usage, a Markdown Sources list."""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse

from newsrag.answer_text import quoted
from newsrag.api_errors import ApiError
from newsrag.api_models import (
    AssistantMessage,
    ChatChoice,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ErrorResponse,
    ModelCard,
    ModelList,
    Usage,
)
from newsrag.api_plumbing import (
    OpenedStream,
    answer_deltas,
    answer_model,
    call_blocking,
    make_turn,
    open_stream,
    sse,
    stream_error,
)

MODEL_NAME = "newsrag"
SOURCES_MODEL_NAME = "newsrag-sources"
MODELS = (MODEL_NAME, SOURCES_MODEL_NAME)
# Markdown characters escaped in article text, so a title or quote cannot become a link, an image,
# emphasis, a table or raw HTML in a chat front-end that renders Markdown.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~!&])")
# Without the model's tokenizer: words and single punctuation marks (a documented approximation).
_SIMPLE_TOKENS = re.compile(r"\w+|[^\w\s]")
CHAT_EXAMPLES = {
    "question": {
        "summary": "A question about the sample corpus",
        "value": {
            "model": "newsrag",
            "messages": [{"role": "user", "content": "Who is the mayor of Makhmour?"}],
        },
    },
    "follow-up with sources": {
        "summary": "A follow-up, with the Markdown Sources list",
        "value": {
            "model": "newsrag-sources",
            "messages": [
                {"role": "user", "content": "Tell me about the airstrikes on Qarachokh mountain."},
                {"role": "assistant", "content": "Coalition jets struck Qarachokh [1]."},
                {"role": "user", "content": "How long did they last?"},
            ],
        },
    },
}


# ---- content ------------------------------------------------------------------------------------


def escape_markdown(text: str) -> str:
    """Article text as literal Markdown: one line, special characters backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def safe_link(url: str) -> str | None:
    """An http(s) URL fit for a Markdown link target, or None (other schemes are not linked)."""
    if not re.match(r"^https?://", url.strip(), re.IGNORECASE):
        return None
    return urllib.parse.quote(url.strip(), safe=":/?#@!$&'*+,;=%~-._").replace("'", "%27")


def _without_outer_quotes(text: str) -> str:
    return " ".join(text.split()).strip('"“”„«»')


def sources_markdown(citations: Sequence[Any]) -> str:
    """A Markdown "Sources" list (number, linked title, outlet, date, quote), "" without citations."""
    if not citations:
        return ""
    lines = ["", "", "**Sources**", ""]
    for citation in citations:
        title = escape_markdown(citation.title or "untitled")
        link = safe_link(citation.url or "")
        heading = f"[{title}]({link})" if link else title
        facts = ", ".join(
            escape_markdown(part) for part in (citation.source, citation.date or "undated") if part
        )
        quote = escape_markdown(quoted(citation.quote))
        lines.append(f"{citation.number}. {heading} — {facts}: {quote}")
    return "\n".join(lines)


# ---- usage --------------------------------------------------------------------------------------


class TokenCounter:
    """Counts tokens with the embedding model's tokenizer (words and punctuation without one)."""

    def __init__(self, assistant: Any) -> None:
        from newsrag.chunking import untruncated_copy

        model = getattr(
            getattr(getattr(assistant, "retriever", None), "embedder", None), "model", None
        )
        backend = getattr(getattr(model, "tokenizer", None), "backend_tokenizer", None)
        self._backend = untruncated_copy(backend) if backend is not None else None
        self._lock = threading.Lock()  # a Rust tokenizer is not to be shared across threads

    def count(self, text: str) -> int:
        """Tokens in text."""
        if not text:
            return 0
        if self._backend is None:
            return len(_SIMPLE_TOKENS.findall(text))
        with self._lock:
            return len(self._backend.encode(text, add_special_tokens=False).ids)

    def usage(self, prompt: str, completion: str) -> Usage:
        """The usage object."""
        prompt_tokens, completion_tokens = self.count(prompt), self.count(completion)
        return Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )


# ---- routes -------------------------------------------------------------------------------------


def messages_to_question(request: ChatCompletionRequest) -> tuple[str, list[Any]]:
    """Last user message -> question; earlier user/assistant messages -> history turns."""
    conversation = [
        message for message in request.messages if message.role in ("user", "assistant")
    ]
    if not conversation or conversation[-1].role != "user":
        raise ApiError(
            400, "the last message must be a user message with the question", param="messages"
        )
    question = conversation[-1].text()
    history = [make_turn(message.role, message.text()) for message in conversation[:-1]]
    return question, history


def check_model(name: str) -> None:
    """404 model_not_found for a model this server does not offer."""
    if name not in MODELS:
        raise ApiError(
            404,
            f"the model {name!r} does not exist: use {' or '.join(MODELS)} (GET /v1/models)",
            code="model_not_found",
            param="model",
        )


def wants_sources(request: ChatCompletionRequest) -> bool:
    """The request flag, else the model name."""
    if request.include_sources is not None:
        return request.include_sources
    return request.model == SOURCES_MODEL_NAME


def openai_router(
    backend: Any, *, dependencies: list[Any], responses: dict[int | str, Any]
) -> APIRouter:
    """The /v1 routes over a server.Backend."""
    router = APIRouter(prefix="/v1", dependencies=dependencies, responses=responses)
    counters: dict[str, TokenCounter] = {}  # made on the first request: the model loads lazily

    def counter(assistant: Any) -> TokenCounter:
        if "tokens" not in counters:
            counters["tokens"] = TokenCounter(assistant)
        return counters["tokens"]

    @router.get("/models", response_model=ModelList, tags=["openai"])
    async def models() -> ModelList:
        """newsrag, and newsrag-sources (the same answers with a Markdown Sources list)."""
        return ModelList(data=[ModelCard(id=name, created=0) for name in MODELS])

    @router.get(
        "/models/{model}",
        response_model=ModelCard,
        tags=["openai"],
        responses={404: {"model": ErrorResponse}},
    )
    async def model(model: Annotated[str, PathParam(max_length=200)]) -> ModelCard:
        """One model (404 model_not_found when unknown)."""
        check_model(model)
        return ModelCard(id=model, created=0)

    @router.post(
        "/chat/completions",
        response_model=ChatCompletionResponse,
        tags=["openai"],
        responses={200: {"content": {"text/event-stream": {}}}, 404: {"model": ErrorResponse}},
    )
    async def chat_completions(
        request: Annotated[ChatCompletionRequest, Body(openapi_examples=CHAT_EXAMPLES)],
    ) -> Any:
        """OpenAI chat: the answer cited [n]; citations also in the extra `citations` field."""
        check_model(request.model)
        question, history = messages_to_question(request)
        assistant = await call_blocking(backend.assistant)
        tokens = counter(assistant)
        prompt = "\n".join(message.text() for message in request.messages)
        sources = wants_sources(request)

        def extra(answer: Any) -> str:
            return sources_markdown(answer.citations) if sources else ""

        if request.stream:
            stream = await open_stream(backend, assistant.question(question, history=history))
            include_usage = bool(request.stream_options and request.stream_options.include_usage)
            events = openai_stream_events(
                stream,
                request.model,
                extra=extra,
                usage=(lambda content: tokens.usage(prompt, content)) if include_usage else None,
            )
            return StreamingResponse(
                events,
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        release = await backend.take_answer_slot()
        try:
            answer = await call_blocking(
                assistant.ask, assistant.question(question, history=history)
            )
        finally:
            release()
        citations = answer_model(answer).citations
        content = answer.text + extra(answer)
        message = AssistantMessage(content=content, citations=citations, refused=answer.refused)
        return ChatCompletionResponse(
            id="chatcmpl-" + uuid.uuid4().hex,
            created=int(time.time()),
            model=request.model,
            choices=[ChatChoice(message=message)],
            usage=await call_blocking(tokens.usage, prompt, content),
            citations=citations,
        )

    return router


async def openai_stream_events(
    stream: OpenedStream,
    model: str,
    *,
    extra: Callable[[Any], str],
    usage: Callable[[str], Usage] | None,
) -> AsyncIterator[str]:
    """chat.completion.chunk events: role, content pieces, a final chunk (citations, finish_reason)."""
    completion_id = "chatcmpl-" + uuid.uuid4().hex
    created = int(time.time())

    def chunk(choices: list[dict[str, Any]], **fields: Any) -> str:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": choices,
            **fields,
        }
        return sse(None, body)

    def choice(delta: dict[str, Any], finish: str | None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

    yield chunk(choice({"role": "assistant", "content": ""}, None))
    content = ""
    try:
        async for kind, value in answer_deltas(stream, extra=extra):
            if kind == "text":
                content += value
                yield chunk(choice({"content": value}, None))
                continue
            citations = answer_model(value).model_dump(mode="json")["citations"]
            final = choice({"citations": citations}, "stop")
            yield chunk(final, citations=citations, refused=value.refused)
        if usage is not None:
            counted = await call_blocking(usage, content)
            yield chunk([], usage=counted.model_dump())
    except Exception as error:  # the 200 is already sent: OpenAI's error object in the stream
        yield sse(None, stream_error(error).body())
    yield sse(None, "[DONE]")
