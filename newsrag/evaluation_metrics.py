"""Evaluation metrics: the answer-recall helpers shared with bench/ and every metric of a report.

One code path for goldens and benchmarks: `contains_answer`, `first_answer_rank`, `answer_recall`
and `recall_table` are the README's metric and are what bench/retrieval.py calls (through
newsrag.evaluation, which re-exports them); `compute_metrics` turns per-golden records into metrics.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from newsrag.answering import strip_markers
from newsrag.goldens import fold
from newsrag.stopwords import EVALUATION_STOPWORDS

RECALL_KS = (1, 3, 5, 10)
SUPPORT_COVERAGE = 0.5  # share of a sentence's content words its cited passage must hold
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def fold_text(text: str) -> str:
    """Case-fold and collapse whitespace runs (the bench README's matching rule)."""
    return fold(text)


def contains_answer(text: str, answer: str) -> bool:
    """True when the folded gold answer occurs in the folded text (an empty answer never does)."""
    folded_answer = fold(answer)
    return bool(folded_answer) and folded_answer in fold(text)


def first_answer_rank(texts: Iterable[str], answer: str) -> int | None:
    """1-based rank of the first text that contains the answer, or None."""
    for rank, text in enumerate(texts, start=1):
        if contains_answer(text, answer):
            return rank
    return None


def answer_recall(ranks: Sequence[int | None], k: int) -> float:
    """Share of questions whose first answer-bearing chunk is within the top k (0.0 when none)."""
    if not ranks:
        return 0.0
    return sum(1 for rank in ranks if rank is not None and rank <= k) / len(ranks)


def recall_table(ranks: Sequence[int | None], ks: Sequence[int] = RECALL_KS) -> dict[int, float]:
    """answer-recall@k for every k."""
    return {k: answer_recall(ranks, k) for k in ks}


def percentile(values: Sequence[float], share: float) -> float | None:
    """Linear-interpolated percentile (share in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def content_words(text: str) -> set[str]:
    """Lower-cased words of 3+ characters that are not stopwords."""
    return {
        word
        for word in (match.group(0).casefold() for match in _WORD.finditer(text))
        if len(word) >= 3 and word not in EVALUATION_STOPWORDS
    }


def support_coverage(sentence: str, passage: str) -> float:
    """Share of the sentence's content words found in the passage (1.0 for a wordless sentence)."""
    words = content_words(strip_markers(sentence))
    return len(words & content_words(passage)) / len(words) if words else 1.0


def _ratio(pairs: Iterable[Sequence[int]]) -> float | None:
    found = total = 0
    for hit_count, count in pairs:
        found += hit_count
        total += count
    return found / total if total else None


def _mean(values: Iterable[float | bool | None]) -> float | None:
    kept = [float(value) for value in values if value is not None]
    return sum(kept) / len(kept) if kept else None


def compute_metrics(
    results: Sequence[dict[str, Any]], recall_ks: Sequence[int] = RECALL_KS
) -> dict[str, float | None]:
    """Every metric from the per-golden results of a report (None where nothing measures it)."""
    runs = [run for result in results for run in result["runs"]]
    parts = [run["parts"] for run in runs]
    latencies = [seconds for run in runs for seconds in run["latencies"]]
    golds = [part["gold"] for part in parts if part["gold"] is not None]
    ranks = [gold["rank"] for gold in golds]
    metrics: dict[str, float | None] = {
        "pass_rate": _mean(result["passed"] for result in results),
        "hit_at_k": _mean(part["hit"] for part in parts),
        "mrr": _mean(part["reciprocal_rank"] for part in parts),
        "contains_rate": _ratio(part["contains"] for part in parts),
        "citation_precision": _ratio(part["citations"] for part in parts),
        "citation_recall": _ratio(part["expected_cited"] for part in parts),
        "refusal_accuracy": _mean(part["refusal_correct"] for part in parts),
        "unsupported_sentence_rate": _ratio(part["sentences"] for part in parts),
        "latency_p50": percentile(latencies, 0.5),
        "latency_p95": percentile(latencies, 0.95),
    }
    for k, value in recall_table(ranks, recall_ks).items():
        metrics[f"answer_recall@{k}"] = value if golds else None
    metrics["answer_containment"] = _mean(gold["in_answer"] for gold in golds)
    metrics["citation_containment"] = _mean(gold["in_citation"] for gold in golds)
    metrics["short_answer_containment"] = _mean(gold.get("in_short") for gold in golds)
    metrics["short_answer_rate"] = _ratio(part.get("short", [0, 0]) for part in parts)
    return metrics
