"""The Assistant: question (+ history) -> standalone query -> dates -> hits -> cited Answer.

One object serves the CLI, the UI, the HTTP server and the evaluation. Engines:
- "extractive" (default): picks the best article sentences and cites them (answering.py).
- "openai": any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp server, LM Studio) through
  llama-index's OpenAILike; "ollama": llama-index's Ollama. Tokens stream; the prompt fences the
  numbered passages as data (prompts/). Endpoint down, failing or slower than settings.llm_timeout
  (per read and for the whole answer) -> AnswerEngineError, one line.
Both engines pass through the same refusal decision and citation check. While an LLM streams,
"token" events carry its raw text; the final "answer" event's text is the checked one (bad
markers dropped, citations renumbered 1..N in order of first use): show that one at the end.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from newsrag import answering, chat, prompts
from newsrag.config import Settings
from newsrag.dates import merge_filters, parse_question_dates
from newsrag.embedding import Embedder
from newsrag.keyword import Tokenizer
from newsrag.models import Answer, Filters, Hit
from newsrag.retrieval import IndexFacts, QueryError, Retriever, clean_query, make_filters

# "latest"/"recent" questions: score * (1 + RECENCY_WEIGHT * r), r = 0 (oldest hit) .. 1 (newest).
RECENCY_WEIGHT = 0.5
CONDENSE_MAX_TOKENS = 96
_FENCE_TAG = re.compile(r"</?\s*passage\b[^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class Turn:
    """One message of a conversation."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class StreamEvent:
    """Tokens first (text pieces of the answer), then exactly one "answer" event."""

    kind: Literal["token", "answer"]
    text: str = ""
    answer: Answer | None = None


class AnswerEngineError(RuntimeError):
    """The answer engine failed (LLM endpoint down, slow, refusing); the message is one line."""


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
        """Build the client for settings.engine ("openai" or "ollama"); nothing is contacted yet."""
        tokens = max_tokens or settings.llm_max_tokens
        if settings.engine == "openai":
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


def rerank_recent(hits: Sequence[Hit]) -> list[Hit]:
    """Hits re-ranked with a recency boost relative to the newest and oldest dated hit."""
    dates = {
        hit.chunk.id: dt.date.fromisoformat(hit.article.date)
        for hit in hits
        if hit.article.date and re.fullmatch(r"\d{4}-\d{2}-\d{2}", hit.article.date)
    }
    if len(set(dates.values())) < 2:
        return list(hits)
    oldest, newest = min(dates.values()), max(dates.values())
    span = (newest - oldest).days

    def boosted(hit: Hit) -> Hit:
        day = dates.get(hit.chunk.id)
        recency = (day - oldest).days / span if day else 0.0
        # abs(): a fused score can be negative (cosine), and a boost must never lower a score.
        return replace(hit, score=hit.score + abs(hit.score) * RECENCY_WEIGHT * recency)

    return sorted((boosted(hit) for hit in hits), key=lambda hit: (-hit.score, hit.chunk.id))


@dataclass
class Retrieval:
    """Everything decided before the answer text is written (Assistant.retrieve)."""

    question: str
    searched_for: str
    filters: Filters
    hits: list[Hit]
    candidates: list[answering.Candidate]
    evidence: float
    cache: answering.VectorCache
    timings: dict[str, float]
    started: float


class Assistant:
    """Answers questions over one index; open once, ask many times (thread-safe reads)."""

    def __init__(
        self,
        *,
        settings: Settings,
        retriever: Retriever,
        prompt_templates: prompts.Prompts,
        model: LanguageModel | None = None,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.prompts = prompt_templates
        self.model = model
        self._local = threading.local()  # Snowball stemmers must not be shared across threads
        self.vector_cache = answering.VectorCache(retriever.embedder)
        self.engine_name = model.name if model else "extractive"
        # Rewrites are one short line: a client with a small token budget.
        self.condense_model = (
            LanguageModel.from_settings(settings, max_tokens=CONDENSE_MAX_TOKENS)
            if model is not None and settings.engine != "extractive"
            else None
        )

    @property
    def tokenizer(self) -> Tokenizer:
        """This thread's keyword tokenizer."""
        tokenizer = getattr(self._local, "tokenizer", None)
        if tokenizer is None:
            tokenizer = self._local.tokenizer = Tokenizer()
        return tokenizer

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        retriever: Retriever | None = None,
        embedder: Embedder | None = None,
    ) -> Assistant:
        """Load the templates (a broken one is a PromptError), open the index and the engine."""
        templates = prompts.Prompts.load(settings.prompts_dir)
        retriever = retriever or Retriever.open(settings, embedder=embedder)
        model = LanguageModel.from_settings(settings) if settings.engine != "extractive" else None
        return cls(settings=settings, retriever=retriever, prompt_templates=templates, model=model)

    def facts(self) -> IndexFacts:
        """What the index holds."""
        return self.retriever.facts()

    def ask(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        k: int | None = None,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
        sources: Sequence[str] | None = None,
        as_of: dt.date | None = None,
    ) -> Answer:
        """Answer a question: short, each sentence cited [n], or a plain refusal."""
        events = self.ask_stream(
            question, history=history, k=k, since=since, until=until, sources=sources, as_of=as_of
        )
        for event in events:
            if event.kind == "answer" and event.answer is not None:
                return event.answer
        raise AnswerEngineError("the answer stream ended without an answer")  # pragma: no cover

    def ask_stream(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        k: int | None = None,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
        sources: Sequence[str] | None = None,
        as_of: dt.date | None = None,
    ) -> Iterator[StreamEvent]:
        """Like ask, as events; bad questions raise QueryError here, before any event."""
        retrieval = self.retrieve(
            question, history=history, k=k, since=since, until=until, sources=sources, as_of=as_of
        )
        return self.answer_events(retrieval)

    def _condenser(self) -> Callable[[str, str], str] | None:
        """The LLM rewrite of a follow-up (None for the extractive engine: rules do it)."""
        if self.model is None:
            return None
        condenser = self.condense_model or self.model

        def condense(history_text: str, question: str) -> str:
            prompt = self.prompts.condense_prompt(history=history_text, question=question)
            return condenser.complete("", prompt)

        return condense

    def retrieve(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        k: int | None = None,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
        sources: Sequence[str] | None = None,
        as_of: dt.date | None = None,
    ) -> Retrieval:
        """Standalone query, filters, hits and scored sentences (evidence) for a question."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        text = clean_query(question, max_chars=self.settings.max_question_chars)
        explicit = make_filters(since=since, until=until, sources=sources)
        limit = self.settings.top_k if k is None else int(k)
        if not 1 <= limit <= 100:
            raise QueryError(f"k must be between 1 and 100, not {limit}")

        step = time.perf_counter()
        searched_for = chat.standalone_question(
            text,
            history,
            condense=self._condenser(),
            render_history=lambda turns: prompts.render_history(
                [(turn.role, turn.content) for turn in turns]
            ),
        )
        timings["condense"] = time.perf_counter() - step

        intent = parse_question_dates(searched_for, as_of=as_of or dt.date.today())
        filters = merge_filters(intent, explicit)
        fetch = min(100, limit * 3) if intent.prefer_recent else limit
        hits = self.retriever.search(intent.query, fetch, filters=filters, timings=timings)
        if intent.prefer_recent:
            hits = rerank_recent(hits)[:limit]

        step = time.perf_counter()
        cache = self.vector_cache
        candidates = answering.score_candidates(
            intent.query,
            hits,
            cache=cache,
            tokenizer=self.tokenizer,
            semantic_limit=self.settings.answer_scored_sentences or None,
        )
        timings["sentence_scoring"] = time.perf_counter() - step
        return Retrieval(
            question=text,
            searched_for=searched_for,
            filters=filters,
            hits=hits,
            candidates=candidates,
            evidence=answering.evidence_strength(candidates),
            cache=cache,
            timings=timings,
            started=started,
        )

    def _finish(self, prepared: Retrieval, **fields: Any) -> Answer:
        timings = dict(prepared.timings)
        timings["total"] = time.perf_counter() - prepared.started
        return Answer(
            question=prepared.question,
            searched_for=prepared.searched_for,
            filters=prepared.filters,
            engine=self.engine_name,
            hits=tuple(prepared.hits),
            timings={key: round(value, 6) for key, value in timings.items()},
            **fields,
        )

    def _refusal(self, prepared: Retrieval) -> Answer:
        text = self.prompts.refusal(prepared.question)
        if not prepared.hits and not prepared.filters.is_empty():
            text += " No article matches the filters " + _describe_filters(prepared.filters) + "."
        return self._finish(prepared, text=text, refused=True)

    def answer_events(self, prepared: Retrieval) -> Iterator[StreamEvent]:
        """Tokens, then the Answer, for a retrieval (refused below settings.refusal_threshold)."""
        if not prepared.hits or prepared.evidence < self.settings.refusal_threshold:
            answer = self._refusal(prepared)
            yield StreamEvent("token", text=answer.text)
            yield StreamEvent("answer", answer=answer)
            return
        step = time.perf_counter()
        if self.model is None:
            selected = answering.select_sentences(
                prepared.candidates, limit=self.settings.answer_sentences, cache=prepared.cache
            )
            draft = answering.compose_extractive(selected)
            prepared.timings["compose"] = time.perf_counter() - step
        else:
            pieces: list[str] = []
            system, user = self.build_prompt(prepared.searched_for, prepared.hits)
            for piece in self.model.stream(system, user):
                pieces.append(piece)
                yield StreamEvent("token", text=piece)
            # A model that echoes the fence markup: keep its words, drop the tags.
            draft = _FENCE_TAG.sub("", "".join(pieces)).strip()
            prepared.timings["llm"] = time.perf_counter() - step
            if self._is_refusal(draft):
                answer = self._refusal(prepared)
                yield StreamEvent("answer", answer=answer)
                return
        step = time.perf_counter()
        checked = answering.check_citations(
            draft, prepared.hits, cache=prepared.cache, tokenizer=self.tokenizer
        )
        prepared.timings["citation_check"] = time.perf_counter() - step
        if self.model is None:
            for sentence in checked.sentences:
                yield StreamEvent("token", text=sentence.text + " ")
        answer = self._finish(
            prepared, text=checked.text, citations=checked.citations, sentences=checked.sentences
        )
        yield StreamEvent("answer", answer=answer)

    def build_prompt(self, question: str, hits: Sequence[Hit]) -> tuple[str, str]:
        """The (system, user) messages for the LLM: rules, then the fenced, numbered passages."""
        system = self.prompts.system_prompt(today=dt.date.today().isoformat())
        user = self.prompts.qa_prompt(question=question, passages=prompts.fence_passages(hits))
        return system, user

    def _is_refusal(self, draft: str) -> bool:
        """True when the LLM replied with (or opened with) the refusal sentence."""

        def letters(text: str) -> str:
            return " ".join(re.findall(r"[a-z0-9]+", text.casefold()))

        refusal = letters(self.prompts.refusal())
        reply = letters(answering.strip_markers(draft))
        return bool(refusal) and (reply.startswith(refusal) or not reply)


def _describe_filters(filters: Filters) -> str:
    parts = []
    if filters.since:
        parts.append(f"since {filters.since.isoformat()}")
    if filters.until:
        parts.append(f"until {filters.until.isoformat()}")
    if filters.sources:
        parts.append("from " + ", ".join(filters.sources))
    return "(" + "; ".join(parts) + ")"
