"""Answer latency with and without head-noun ranking of short answers, interleaved in one run.

Each question is answered twice in turn, once with short_answer.HEAD_KINDS empty (the ranking of
issue 12's first round) and once with the default, on the same Assistant, the order alternating
per question (the second run finds the first's cached sentence vectors and entities), so the
ratio of medians is what the head-noun step costs.

    .venv/bin/python bench/head_noun_latency.py --index /work/bench-index/rtqa-dev --questions 60
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    add_bench_arguments,
    bench_folder,
    bench_settings,
    default_index_dir,
    load_questions,
)


def main() -> int:
    """Print p50/p95 of both variants and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_arguments(parser)
    parser.add_argument("--questions", type=int, default=60)
    args = parser.parse_args()

    from newsrag import short_answer
    from newsrag.assistant import Assistant
    from newsrag.embedding import Embedder

    settings = bench_settings(args.index or default_index_dir(args.dataset))
    assistant = Assistant.open(settings, embedder=Embedder.load(settings=settings))
    questions = load_questions(bench_folder(args.bench, args.dataset) / "questions.jsonl")
    default_kinds = short_answer.HEAD_KINDS
    seconds: dict[str, list[float]] = {"without head nouns": [], "default": []}
    variants = [("without head nouns", frozenset[str]()), ("default", default_kinds)]
    for number, item in enumerate(questions[: args.questions]):
        as_of = dt.date.fromisoformat(item.date) if item.date else None
        # Alternate which variant goes first: the second finds the first's cached sentences.
        for name, kinds in variants if number % 2 == 0 else variants[::-1]:
            short_answer.HEAD_KINDS = kinds
            started = time.perf_counter()
            assistant.ask(item.question, as_of=as_of)
            seconds[name].append(time.perf_counter() - started)
    short_answer.HEAD_KINDS = default_kinds
    for name, values in seconds.items():
        ordered = sorted(values)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        print(f"{name}: p50 {statistics.median(values) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")
    ratio = statistics.median(seconds["default"]) / statistics.median(seconds["without head nouns"])
    print(f"ratio of medians (default / without): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
