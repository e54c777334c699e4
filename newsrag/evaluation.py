"""Evaluation: run goldens through the assistant, judge each one, and report metrics and gates.

One code path for goldens and benchmarks: the metric functions are evaluation_metrics.py's (the
answer-recall helpers `contains_answer`, `first_answer_rank`, `answer_recall`, `recall_table` are
the README's metric, re-exported here for bench/), gates are gates.py's and the LLM reply cache is
evaluation_cache.py's. Reports are plain dicts (JSON-ready); evaluation_report.py renders them
(table, JUnit) and compares them with a baseline.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsrag.answering import strip_markers
from newsrag.evaluation_cache import CachedModel, cache_model_outputs
from newsrag.evaluation_metrics import (
    RECALL_KS,
    SUPPORT_COVERAGE,
    answer_recall,
    compute_metrics,
    contains_answer,
    content_words,
    first_answer_rank,
    fold_text,
    percentile,
    recall_table,
    support_coverage,
)
from newsrag.gates import Gate, apply_gates
from newsrag.goldens import Golden, GoldenSet
from newsrag.models import Answer, Filters, Hit

if TYPE_CHECKING:
    from newsrag.assistant import Assistant

__all__ = [  # the metrics, gates and reply cache live in their own modules: re-exported for callers
    "RECALL_KS",
    "REPORT_FORMAT",
    "SUPPORT_COVERAGE",
    "CachedModel",
    "answer_recall",
    "apply_gates",
    "cache_model_outputs",
    "compute_metrics",
    "contains_answer",
    "content_words",
    "evaluate_golden",
    "first_answer_rank",
    "fold_text",
    "percentile",
    "recall_table",
    "run_evaluation",
    "support_coverage",
]

REPORT_FORMAT = "newsrag-eval/1"


def _ranking(hits: Sequence[Hit], gold: str | None) -> list[dict[str, Any]]:
    return [
        {
            "rank": rank,
            "article_id": hit.article.id,
            "title": hit.article.title,
            "url": hit.article.url,
            "date": hit.article.date,
            "chunk_id": hit.chunk.id,
            "has_answer": contains_answer(hit.chunk.text, gold) if gold else None,
        }
        for rank, hit in enumerate(hits, start=1)
    ]


def _ask_all(golden: Golden, source: Assistant) -> tuple[Answer, list[float]]:
    """Ask every turn in order (earlier answers become history); the last Answer and latencies."""
    from newsrag.assistant import Turn

    history: list[Turn] = []
    latencies: list[float] = []
    answer: Answer | None = None
    for question in golden.turns:
        started = time.perf_counter()
        answer = source.ask(
            question,
            history=tuple(history),
            k=golden.k,
            since=golden.since,
            until=golden.until,
            sources=list(golden.sources) or None,
            as_of=golden.as_of,
        )
        latencies.append(time.perf_counter() - started)
        history += [
            Turn(role="user", content=question),
            Turn(role="assistant", content=answer.text),
        ]
    assert answer is not None  # a golden has at least one turn (validated on load)
    return answer, latencies


def _search(
    golden: Golden, source: Assistant, answer: Answer | None, depth: int, retrieval: str
) -> list[Hit]:
    """The ranking the retrieval metrics judge; see evaluate_golden for the two modes."""
    if retrieval == "assistant" and answer is not None:
        query, filters = answer.searched_for or golden.question, answer.filters
    else:
        # A follow-up alone ("And who leads it?") is no query: use the standalone form.
        follow_up = answer.searched_for if answer is not None and len(golden.turns) > 1 else ""
        query = follow_up or golden.question
        filters = Filters(since=golden.since, until=golden.until, sources=golden.sources)
        # The day it is asked, as the assistant is told: the recency prior sees the same date.
        return list(source.retriever.search(query, depth, filters=filters, as_of=golden.as_of))
    return list(source.retriever.search(query, depth, filters=filters))


def _check(name: str, passed: bool, detail: str = "") -> dict[str, Any]:
    return {"name": name, "passed": bool(passed), "detail": detail}


def _citation_dict(answer: Answer) -> list[dict[str, Any]]:
    return [
        {
            "number": citation.number,
            "article_id": citation.article_id,
            "title": citation.title,
            "date": citation.date,
            "url": citation.url,
            "quote": citation.quote,
        }
        for citation in answer.citations
    ]


def evaluate_golden(
    golden: Golden,
    source: Assistant,
    *,
    top_k: int,
    recall_ks: Sequence[int] = RECALL_KS,
    retrieval: str = "assistant",
) -> dict[str, Any]:
    """Ask one golden and judge it: checks (pass/fail) and the ingredients of every metric.

    retrieval='assistant' judges hit@k/MRR on what the assistant searched (its standalone query
    and filters); retrieval='question' on the raw question with the golden's own filters, like
    bench/retrieval.py (the question's date is not a filter).
    """
    from newsrag.assistant import AnswerEngineError
    from newsrag.retrieval import QueryError

    record: dict[str, Any] = {"error": None, "checks": [], "latencies": []}
    answer: Answer | None = None
    try:
        answer, record["latencies"] = _ask_all(golden, source)
    except (QueryError, AnswerEngineError) as problem:
        record["error"] = f"{type(problem).__name__}: {problem}"
    k = golden.k or top_k
    depth = max(k, max(recall_ks) if golden.answer else 0)
    try:
        hits = _search(golden, source, answer, depth, retrieval)
    except QueryError:
        hits = []  # the ask failed the same way: already recorded
    gold = golden.answer if golden.answerable else None
    ranking = _ranking(hits, gold)
    record["ranking"] = ranking
    checks: list[dict[str, Any]] = record["checks"]
    if record["error"]:
        checks.append(_check("answered without error", False, record["error"]))
    text = strip_markers(answer.text) if answer else ""
    refused = answer.refused if answer else None
    expects_answer = golden.expects_answer()
    answered = answer is not None and not answer.refused
    # Refusal.
    refusal_correct = None
    if expects_answer is not None and answer is not None:
        refusal_correct = refused != expects_answer
        wanted = "answered" if expects_answer else "refused"
        checks.append(
            _check(wanted, refusal_correct, "" if refusal_correct else f"it was not {wanted}")
        )
    # Contains / not_contains.
    contains_hits = 0
    for pattern in golden.contains:
        found = answer is not None and pattern.found_in(text)
        contains_hits += found
        checks.append(_check(f"contains {pattern.raw!r}", found, "" if found else "missing"))
    for pattern in golden.not_contains:
        absent = answer is not None and not pattern.found_in(text)
        contains_hits += absent
        checks.append(_check(f"not_contains {pattern.raw!r}", absent, "" if absent else "present"))
    # The short answer: each `short` pattern must be in it.
    short_text = answer.short_answer if answer is not None and not answer.refused else ""
    short_hits = 0
    for pattern in golden.short:
        found = bool(short_text) and pattern.found_in(short_text)
        short_hits += found
        checks.append(
            _check(f"short {pattern.raw!r}", found, "" if found else f"short answer {short_text!r}")
        )
    # Expected articles: retrieved in the top k, and cited when it should answer.
    top = ranking[:k]
    first_rank = None
    cited_count = 0
    citations = answer.citations if answer else ()
    for article in golden.articles:
        ranks = [
            row["rank"]
            for row in top
            if article.matches(row["article_id"], row["title"], row["url"])
        ]
        first_rank = min([*([first_rank] if first_rank else []), *ranks], default=None)
        checks.append(
            _check(
                f"retrieved {article.raw!r}", bool(ranks), "" if ranks else f"not in the top {k}"
            )
        )
        if expects_answer:
            cited = any(
                article.matches(item.article_id, item.title, item.url) for item in citations
            )
            cited_count += cited
            checks.append(_check(f"cited {article.raw!r}", cited, "" if cited else "not cited"))
    retrieval_judged = bool(golden.articles) and expects_answer is not False
    # Citations: precise when the passage supports the sentence citing it or holds the evidence.
    evidence = [item.raw for item in golden.contains if item.regex is None]
    evidence += [gold] if gold else []
    precise = 0
    for citation in citations if answered else ():
        citing = (
            [s.text for s in answer.sentences if citation.number in s.citations] if answer else []
        )
        if any(
            support_coverage(sentence, citation.passage) >= SUPPORT_COVERAGE for sentence in citing
        ) or any(contains_answer(citation.passage, item) for item in evidence):
            precise += 1
    sentences = answer.sentences if answered and answer else ()
    record["parts"] = {
        "hit": (first_rank is not None) if retrieval_judged else None,
        "reciprocal_rank": (1.0 / first_rank if first_rank else 0.0) if retrieval_judged else None,
        "contains": [contains_hits, len(golden.contains) + len(golden.not_contains)],
        "short": [short_hits, len(golden.short)],
        "citations": [precise, len(citations) if answered else 0],
        "expected_cited": [cited_count, len(golden.articles) if expects_answer else 0],
        "refusal_correct": refusal_correct,
        "sentences": [sum(not s.supported for s in sentences), len(sentences)],
        "gold": None
        if not gold
        else {
            "rank": first_answer_rank((hit.chunk.text for hit in hits), gold),
            "in_answer": answer is not None and not answer.refused and contains_answer(text, gold),
            "in_short": bool(short_text) and contains_answer(short_text, gold),
            "in_citation": answered and any(contains_answer(c.passage, gold) for c in citations),
        },
    }
    record["passed"] = all(check["passed"] for check in checks)
    record["answer"] = None
    if answer is not None:
        record["answer"] = {
            "text": answer.text,
            "refused": answer.refused,
            "searched_for": answer.searched_for,
            "filters": answer.filters.to_dict(),
            "engine": answer.engine,
            "citations": _citation_dict(answer),
            "sentences": [sentence.to_dict() for sentence in answer.sentences],
        }
    return record


def run_evaluation(
    golden_set: GoldenSet,
    source: Assistant,
    *,
    gates: Sequence[Gate] = (),
    repeat: int = 1,
    retrieval: str | None = None,
    recall_ks: Sequence[int] = RECALL_KS,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Run every golden `repeat` times; the JSON-ready report with metrics and judged gates.

    Gates: the file's thresholds, then `gates` (command line) on top; with none at all, every
    golden must pass (pass_rate >= 1). With an LLM engine and cache_dir, model replies are
    cached per prompt and run number (the extractive engine is deterministic: nothing to cache).
    """
    wrappers = cache_model_outputs(source, cache_dir) if cache_dir else []
    mode = retrieval or ("question" if golden_set.kind == "bench" else "assistant")
    settings = source.retriever.settings
    results = []
    for position, golden in enumerate(golden_set.goldens, start=1):
        runs = []
        for sample in range(max(1, repeat)):
            for wrapper in wrappers:
                wrapper.sample = sample
            runs.append(
                evaluate_golden(
                    golden, source, top_k=settings.top_k, recall_ks=recall_ks, retrieval=mode
                )
            )
        texts = {run["answer"]["text"] if run["answer"] else None for run in runs}
        result = {
            "id": golden.id,
            "entry": golden.entry,
            "line": golden.line,
            "question": golden.question,
            "turns": list(golden.turns),
            "tags": list(golden.tags),
            "passed": all(run["passed"] for run in runs),
            "runs_passed": sum(run["passed"] for run in runs),
            "stable": len(texts) == 1,
            "runs": runs,
        }
        results.append(result)
        if progress is not None:
            progress(position, len(golden_set.goldens), result)
    metrics = compute_metrics(results, recall_ks)
    all_gates = [*golden_set.gates, *gates] or [Gate("pass_rate", minimum=1.0, origin="default")]
    judged = apply_gates(metrics, all_gates)
    facts = source.retriever.facts()
    return {
        "format": REPORT_FORMAT,
        "file": str(golden_set.path),
        "kind": golden_set.kind,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "engine": source.engine_name,
        "retrieval": mode,
        "repeat": max(1, repeat),
        "index": {
            "path": str(settings.index_dir),
            "articles": facts.articles,
            "chunks": facts.chunks,
            "model": facts.model,
        },
        "settings": {
            name: getattr(settings, name)
            for name in (
                "top_k",
                "chunk_size",
                "chunk_overlap",
                "engine",
                "llm_model",
                "refusal_threshold",
            )
        },
        "metrics": metrics,
        "gates": judged,
        "passed": all(gate["passed"] for gate in judged),
        "counts": {
            "goldens": len(results),
            "passed": sum(result["passed"] for result in results),
            "errors": sum(any(run["error"] for run in result["runs"]) for result in results),
        },
        "cache": None
        if not wrappers
        else {
            "folder": str(cache_dir),
            "hits": sum(wrapper.hits for wrapper in wrappers),
            "misses": sum(wrapper.misses for wrapper in wrappers),
        },
        "results": results,
    }
