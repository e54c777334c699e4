"""LLM engines: an OpenAI-compatible endpoint or Ollama through llama-index, prompts from prompts/.

Endpoint down, failing or slower than settings.llm_timeout (per read and for the whole answer) ->
AnswerEngineError, one line. The prompt fences the numbered passages as data; a model that echoes
the fence markup keeps its words, not the tags.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

from newsrag import prompts
from newsrag.config import Settings
from newsrag.engines.base import Draft, Retrieval
from newsrag.errors import EXIT_ENGINE, NewsragError
from newsrag.models import Hit
from newsrag.sentences import strip_markers

_FENCE_TAG = re.compile(r"</?\s*passage\b[^>]*>", re.IGNORECASE)


class AnswerEngineError(NewsragError, RuntimeError):
    """The answer engine failed (LLM endpoint down, slow, refusing); the message is one line."""

    exit_code, http_status, api_prefix = EXIT_ENGINE, 502, "the answer engine failed"
    hint = "check the LLM endpoint (NEWSRAG_LLM_*), or use --engine extractive"


def _one_line(text: object, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class LanguageModel:
    """A llama-index LLM (OpenAI-compatible or Ollama) with a deadline and one-line errors."""

    def __init__(self, settings: Settings, llm: Any) -> None:
        self.settings = settings
        self.llm = llm
        self.name = f"{settings.engine}:{settings.llm_model}"

    @classmethod
    def from_settings(cls, settings: Settings, *, max_tokens: int | None = None) -> LanguageModel:
        """Build the client for settings.engine ("openai", "reader" or "ollama"); nothing is
        contacted yet. The reader's client talks to the same OpenAI-compatible endpoint."""
        tokens = max_tokens or settings.llm_max_tokens
        if settings.engine in ("openai", "reader"):
            from llama_index.llms.openai_like import OpenAILike

            llm: Any = OpenAILike(
                model=settings.llm_model,
                api_base=settings.llm_base_url,
                api_key=settings.llm_api_key,
                timeout=settings.llm_timeout,
                max_retries=0,  # a retry loop would turn "down" into a long hang
                is_chat_model=True,
                max_tokens=tokens,
                temperature=0.0,
            )
        elif settings.engine == "ollama":
            from llama_index.llms.ollama import Ollama

            llm = Ollama(
                model=settings.llm_model,
                base_url=settings.llm_base_url,
                request_timeout=settings.llm_timeout,
                temperature=0.0,
                additional_kwargs={"num_predict": tokens},
            )
        else:
            raise AnswerEngineError(f"engine {settings.engine!r} is not an LLM engine")
        return cls(settings, llm)

    def describe_error(self, error: BaseException) -> AnswerEngineError:
        """Map a client exception to a one-line AnswerEngineError."""
        where = f"the language model at {self.settings.llm_base_url}"
        names = {klass.__name__ for klass in type(error).__mro__}
        text = _one_line(error, 200)
        if names & {"APITimeoutError", "TimeoutException", "TimeoutError", "ReadTimeout"}:
            message = (
                f"{where} did not answer within {self.settings.llm_timeout:g} s "
                "(NEWSRAG_LLM_TIMEOUT): try again, or use a faster model"
            )
        elif names & {"APIConnectionError", "ConnectError", "ConnectionError", "NetworkError"}:
            message = f"cannot reach {where}: is the server running? (NEWSRAG_LLM_BASE_URL; {text})"
        elif names & {"APIStatusError", "ResponseError", "HTTPStatusError"}:
            status = getattr(error, "status_code", "")
            message = f"{where} refused the request {status}: {text}"
        else:
            message = f"{where} failed: {type(error).__name__}: {text}"
        return AnswerEngineError(_one_line(message))

    def stream(self, system: str, user: str) -> Iterator[str]:
        """Text pieces of the model's reply; AnswerEngineError on failure or past the deadline."""
        from llama_index.core.llms import ChatMessage, MessageRole

        messages = [ChatMessage(role=MessageRole.USER, content=user)]
        if system:
            messages.insert(0, ChatMessage(role=MessageRole.SYSTEM, content=system))
        deadline = time.monotonic() + self.settings.llm_timeout
        try:
            for response in self.llm.stream_chat(messages):
                if time.monotonic() > deadline:
                    raise TimeoutError("the whole answer took too long")
                if response.delta:
                    yield str(response.delta)
        except AnswerEngineError:
            raise
        except Exception as error:
            raise self.describe_error(error) from error

    def complete(self, system: str, user: str) -> str:
        """The whole reply as one string."""
        return "".join(self.stream(system, user))


class LLMEngine:
    """Answers written by a language model from the fenced passages, streamed token by token."""

    def __init__(self, model: LanguageModel, templates: prompts.Prompts) -> None:
        self.model = model
        self.prompts = templates
        self.name = model.name

    def build_prompt(self, question: str, hits: Sequence[Hit]) -> tuple[str, str]:
        """The (system, user) messages: rules, then the fenced, numbered passages."""
        system = self.prompts.system_prompt(today=dt.date.today().isoformat())
        user = self.prompts.qa_prompt(question=question, passages=prompts.fence_passages(hits))
        return system, user

    def is_refusal(self, draft: str) -> bool:
        """True when the model replied with (or opened with) the refusal sentence."""

        def letters(text: str) -> str:
            return " ".join(re.findall(r"[a-z0-9]+", text.casefold()))

        refusal = letters(self.prompts.refusal())
        reply = letters(strip_markers(draft))
        return bool(refusal) and (reply.startswith(refusal) or not reply)

    def write(self, retrieval: Retrieval) -> Iterator[str | Draft]:
        """The model's tokens as they come, then the draft (refused when it says so)."""
        pieces: list[str] = []
        system, user = self.build_prompt(retrieval.searched_for, retrieval.hits)
        for piece in self.model.stream(system, user):
            pieces.append(piece)
            yield piece
        text = _FENCE_TAG.sub("", "".join(pieces)).strip()
        yield Draft(text=text, refused=self.is_refusal(text))
