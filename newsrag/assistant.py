"""The Assistant: question (+ history) -> standalone query -> dates -> hits -> cited Answer.

One object serves the CLI, the UI, the HTTP server and the evaluation. Engines:
- "extractive" (default): picks the best article sentences and cites them (answering.py).
- "reader": the extractive answer, its short answer a phrase the model at the OpenAI-compatible
  endpoint copies from the best sentences (engines/reader.py); the extractive one where it cannot.
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
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from newsrag import chat, prompts
from newsrag.citations import check_citations
from newsrag.config import Settings
from newsrag.date_boosts import (
    EVENT_PUBLISHED_BOOST,
    EVENT_TEXT_BOOST,
    RECENCY_WEIGHT,
    boost_event_dates,
    rerank_recent,
)
from newsrag.dates import DateIntent, merge_filters, parse_question_dates
from newsrag.embedding import Embedder
from newsrag.engines import (
    AnswerEngineError,
    Draft,
    ExtractiveEngine,
    LanguageModel,
    LLMEngine,
    build_engine,
    engine_kind,
)
from newsrag.engines.base import Retrieval
from newsrag.engines.extractive import short_answers_for
from newsrag.engines.reader import READER_MAX_TOKENS
from newsrag.keyword import Tokenizer
from newsrag.manifest import Manifest, manifest_stamp
from newsrag.metadata_answers import metadata_answer
from newsrag.models import Answer, Filters, Hit, Question, Turn
from newsrag.question import make_question
from newsrag.relevance import coverage, evidence_strength, predicate_terms, score_candidates
from newsrag.retrieval import IndexFacts, Retriever
from newsrag.sentences import VectorCache
from newsrag.short_answer import EntityFinder, ShortAnswer, answer_type

__all__ = [  # the date re-rankings live in date_boosts.py: re-exported for callers
    "EVENT_PUBLISHED_BOOST",
    "EVENT_TEXT_BOOST",
    "RECENCY_WEIGHT",
    "AnswerEngineError",
    "Assistant",
    "LanguageModel",
    "Retrieval",
    "StreamEvent",
    "Turn",
    "boost_event_dates",
    "rerank_recent",
]

CONDENSE_MAX_TOKENS = 96
# Answer types whose answer is always a named entity or number: without one there is no answer.
# (A place or a thing may be a phrase: "close to the villages".)
TYPES_WITH_ENTITIES = frozenset({"person", "number", "money", "percent", "date", "age", "duration"})


@dataclass(frozen=True)
class StreamEvent:
    """Tokens first (text pieces of the answer), then exactly one "answer" event."""

    kind: Literal["token", "answer"]
    text: str = ""
    answer: Answer | None = None


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
        self.vector_cache = VectorCache(retriever.embedder)
        self.entity_finder = EntityFinder(settings.ner_model)
        self.extractive = ExtractiveEngine(
            sentences=settings.answer_sentences, finder=self.entity_finder
        )
        self.engine_name = model.name if model else "extractive"
        # Rewrites are one short line: a client with a small token budget. The reader engine
        # rewrites follow-ups by rules, as the extractive one does.
        self.condense_model = (
            LanguageModel.from_settings(settings, max_tokens=CONDENSE_MAX_TOKENS)
            if model is not None and engine_kind(settings.engine) == "llm"
            else None
        )
        self._undated: tuple[int, int] = (-1, 0)

    @property
    def engine(self) -> Any:
        """The answer engine over self.model (read each time: evaluation may wrap the model)."""
        return build_engine(
            self.settings.engine,
            model=self.model,
            templates=self.prompts,
            extractive=self.extractive,
        )

    @property
    def llm_engine(self) -> LLMEngine | None:
        """The engine when a language model writes the answer (it streams its own tokens)."""
        engine = self.engine
        return engine if isinstance(engine, LLMEngine) else None

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
        model = None
        if engine_kind(settings.engine) != "extractive":
            tokens = READER_MAX_TOKENS if engine_kind(settings.engine) == "reader" else None
            model = LanguageModel.from_settings(settings, max_tokens=tokens)
        return cls(settings=settings, retriever=retriever, prompt_templates=templates, model=model)

    def facts(self) -> IndexFacts:
        """What the index holds."""
        return self.retriever.facts()

    def question(self, question: str | Question, **loose: Any) -> Question:
        """The Question to answer: as given, or built (and checked) from text and keywords.

        The keyword style (history, k, since, until, sources, as_of, engine_options) is kept
        for callers and tests; it goes through question.make_question like every front-end.
        """
        if isinstance(question, Question):
            if loose:
                raise TypeError(f"a Question carries its own {', '.join(sorted(loose))}")
            return question
        return make_question(question, settings=self.settings, **loose)

    def ask(self, question: str | Question, **loose: Any) -> Answer:
        """Answer a question: a short answer, sentences each cited [n], or a plain refusal."""
        for event in self.ask_stream(question, **loose):
            if event.kind == "answer" and event.answer is not None:
                return event.answer
        raise AnswerEngineError("the answer stream ended without an answer")  # pragma: no cover

    def ask_stream(self, question: str | Question, **loose: Any) -> Iterator[StreamEvent]:
        """Like ask, as events; bad questions raise QueryError here, before any event."""
        return self.answer_events(self.retrieve(question, **loose))

    def _condenser(self) -> Callable[[str, str], str] | None:
        """The LLM rewrite of a follow-up (None for the extractive engine: rules do it)."""
        if self.model is None:
            return None
        condenser = self.condense_model or self.model

        def condense(history_text: str, question: str) -> str:
            prompt = self.prompts.condense_prompt(history=history_text, question=question)
            return condenser.complete("", prompt)

        return condense

    def undated_articles(self) -> int:
        """Articles of the index without a publication date (re-read when the manifest changes)."""
        stamp = manifest_stamp(Path(self.settings.index_dir))
        if stamp is None:
            return 0
        if stamp != self._undated[0]:
            manifest = Manifest.load(Path(self.settings.index_dir))
            count = sum(1 for record in manifest.articles.values() if not record.date)
            self._undated = (stamp, count)
        return self._undated[1]

    def retrieve(self, question: str | Question, **loose: Any) -> Retrieval:
        """Standalone query, filters, hits and scored sentences (evidence) for a question."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        asked = self.question(question, **loose)
        text, history, explicit = asked.text, asked.history, asked.filters
        limit = self.settings.top_k if asked.k is None else asked.k
        as_of = asked.as_of

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
        notes = [*intent.effects, *(f"{problem}: ignored" for problem in intent.invalid)]
        asked_on = as_of or dt.date.today()
        hits = self._search(asked, intent, filters, limit, timings, asked_on)
        prepared = self._prepare(text, searched_for, intent, filters, hits, timings, started, notes)
        prepared.options = asked.engine_options
        dated_filter = filters.since is not None or filters.until is not None
        if dated_filter:
            undated = self.undated_articles()
            if undated:
                notes.append(
                    f"{undated} undated article{'s' if undated != 1 else ''} not searched "
                    "(the date filter needs a publication date)"
                )
        if dated_filter and not prepared.answerable and (intent.since or intent.until):
            # The question's own date words left no answer: say so, and search all dates instead.
            unfiltered = Filters(
                since=explicit.since, until=explicit.until, sources=explicit.sources
            )
            wider = self._search(asked, intent, unfiltered, limit, timings, asked_on)
            fallback = self._prepare(
                text, searched_for, intent, unfiltered, wider, timings, started, notes
            )
            if fallback.answerable:
                fallback.options = asked.engine_options
                notes.append(
                    f"nothing ({filters.describe()}) answers this: searched all dates instead"
                )
                return fallback
        return prepared

    def _search(
        self,
        asked: Question,
        intent: DateIntent,
        filters: Filters,
        limit: int,
        timings: dict[str, float],
        as_of: dt.date,
    ) -> list[Hit]:
        """Hits for the date-free query: the retriever's soft recency prior relative to the day
        asked (off when the question names a period: the retriever sees the filter), then
        "latest" and event-day boosts over a wider fetch."""
        rerank = intent.prefer_recent or bool(intent.event_dates)
        fetch = min(100, limit * 3) if rerank else limit
        # The date-free query, already checked: the retriever does not check it again.
        search = replace(
            asked, text=intent.query, history=(), filters=filters, k=fetch, as_of=as_of
        )
        hits = self.retriever.search(
            search,
            timings=timings,
            recency=not intent.event_dates,  # a named day is the date that matters
        )
        if intent.prefer_recent:
            hits = rerank_recent(hits)
        if intent.event_dates:
            hits = boost_event_dates(hits, intent.event_dates)
        return hits[:limit]

    def _prepare(
        self,
        text: str,
        searched_for: str,
        intent: DateIntent,
        filters: Filters,
        hits: list[Hit],
        timings: dict[str, float],
        started: float,
        notes: list[str],
    ) -> Retrieval:
        step = time.perf_counter()
        candidates = score_candidates(
            intent.query,
            hits,
            cache=self.vector_cache,
            tokenizer=self.tokenizer,
            semantic_limit=self.settings.answer_scored_sentences or None,
        )
        timings["sentence_scoring"] = time.perf_counter() - step
        kind = answer_type(searched_for)
        evidence = evidence_strength(candidates)
        step = time.perf_counter()
        ranked = (
            short_answers_for(
                searched_for,
                candidates,
                finder=self.entity_finder,
                kind=kind,
                hits=hits,
                cache=self.vector_cache,
            )
            if candidates
            else []
        )
        short = ranked[0] if ranked else None
        timings["short_answer"] = time.perf_counter() - step
        terms = predicate_terms(intent.query, self.tokenizer)
        sentences = [short.sentence.text] if short else []
        sentences += [candidate.text for candidate in candidates[:1]]
        covered = max((coverage(terms, text, self.tokenizer) for text in sentences), default=0.0)
        # A word of the question no retrieved passage holds ("elected", "population"): the
        # passages are about the same names, not about what is asked.
        passages = " ".join(hit.chunk.text for hit in hits)
        in_passages = coverage(terms, passages, self.tokenizer) if hits else 0.0
        return Retrieval(
            question=text,
            searched_for=searched_for,
            filters=filters,
            hits=hits,
            candidates=candidates,
            evidence=evidence,
            cache=self.vector_cache,
            timings=timings,
            started=started,
            notes=notes,
            answer_type=kind,
            answerable=self.answerable(hits, evidence, kind, short, covered, in_passages),
            short=short,
            alternatives=tuple(ranked[1:]),
            coverage=covered,
            passage_coverage=in_passages,
        )

    def answerable(
        self,
        hits: Sequence[Hit],
        evidence: float,
        kind: str,
        short: ShortAnswer | None,
        covered: float,
        in_passages: float = 1.0,
    ) -> bool:
        """Do the passages answer what is asked? (calibrated: docs/benchmarks.md "Answers")

        Relevant enough (evidence), the expected type present when the question has one (a
        "who" question needs a person's name), and the words it asks about (beyond the names and
        places it shares with the passage) covered by the answer's sentence.
        """
        if not hits or evidence < self.settings.refusal_threshold:
            return False
        needs_type = kind in TYPES_WITH_ENTITIES and self.settings.answer_needs_type
        if needs_type and (short is None or not short.typed):
            return False
        return (
            covered >= self.settings.answer_min_coverage
            and in_passages >= self.settings.answer_min_passage_coverage
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
            notes=tuple(prepared.notes),
            **fields,
        )

    def _refusal(self, prepared: Retrieval) -> Answer:
        text = self.prompts.refusal(prepared.question)
        if not prepared.hits and not prepared.filters.is_empty():
            text += f" No article matches the filters ({prepared.filters.describe()})."
        return self._finish(prepared, text=text, refused=True)

    def answer_events(self, prepared: Retrieval) -> Iterator[StreamEvent]:
        """Tokens, then the Answer, for a retrieval (refused when the evidence does not answer)."""
        metadata = metadata_answer(prepared.searched_for, prepared.hits)
        if metadata is not None:
            answer = self._finish(prepared, **metadata)
            yield StreamEvent("token", text=answer.text)
            yield StreamEvent("answer", answer=answer)
            return
        if not prepared.answerable:
            answer = self._refusal(prepared)
            yield StreamEvent("token", text=answer.text)
            yield StreamEvent("answer", answer=answer)
            return
        step = time.perf_counter()
        engine = self.engine
        llm_engine = engine if isinstance(engine, LLMEngine) else None
        draft: Draft | None = None
        for item in engine.write(prepared):
            if isinstance(item, Draft):
                draft = item
            else:
                yield StreamEvent("token", text=item)
        step_name = "llm" if llm_engine else "compose" if engine is self.extractive else "reader"
        prepared.timings[step_name] = time.perf_counter() - step
        if draft is None or draft.refused:
            answer = self._refusal(prepared)
            yield StreamEvent("answer", answer=answer)
            return
        if llm_engine is not None and not draft.short_answer and prepared.short is not None:
            # The model wrote sentences only: the short answer found in the same passages leads.
            found = prepared.short
            draft = replace(draft, short_answer=found.text, short_answer_hit=found.hit_index + 1)
        step = time.perf_counter()
        lead = (
            f"{draft.short_answer} [{draft.short_answer_hit}]\n\n"
            if draft.short_answer and draft.short_answer_hit
            else ""
        )
        checked = check_citations(
            lead + draft.text, prepared.hits, cache=prepared.cache, tokenizer=self.tokenizer
        )
        prepared.timings["citation_check"] = time.perf_counter() - step
        sentences = checked.sentences
        short, short_number = "", None
        if lead and sentences and sentences[0].citations:
            short, short_number = draft.short_answer, sentences[0].citations[0]
        if llm_engine is None:
            for sentence in sentences:
                yield StreamEvent(
                    "token",
                    text=sentence.text + ("\n\n" if short and sentence is sentences[0] else " "),
                )
        answer = self._finish(
            prepared,
            text=checked.text,
            citations=checked.citations,
            sentences=sentences,
            short_answer=short,
            short_answer_citation=short_number,
        )
        yield StreamEvent("answer", answer=answer)

    def build_prompt(self, question: str, hits: Sequence[Hit]) -> tuple[str, str]:
        """The (system, user) messages for the LLM: rules, then the fenced, numbered passages."""
        engine = self.llm_engine or LLMEngine(_NoModel(), self.prompts)  # type: ignore[arg-type]
        return engine.build_prompt(question, hits)

    def _is_refusal(self, draft: str) -> bool:
        """True when the LLM replied with (or opened with) the refusal sentence."""
        engine = self.llm_engine or LLMEngine(_NoModel(), self.prompts)  # type: ignore[arg-type]
        return engine.is_refusal(draft)


class _NoModel:
    """Stands in for a model where only the LLM engine's prompt code is used."""

    name = "none"
