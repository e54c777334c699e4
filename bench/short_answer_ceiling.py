"""Where short answers are lost: passages, sentences, typed spans, and the span ranking's top k.

Usage (from the repo root):
    .venv/bin/python bench/short_answer_ceiling.py --index /work/bench-index/rtqa-dev
    .venv/bin/python bench/short_answer_ceiling.py --bench /work/bench-index/slices \\
        --dataset rtqa-2022-aug-dec --index /work/bench-index/slices-index/rtqa-2022-aug-dec \\
        --questions-from 2022-08-01 --questions-until 2022-09-30

Every answerable question is retrieved as the assistant does (as of its own date, default
settings) and the gold answer is looked for at each stage: the top-5 passages, the sentences the
short answer reads (the best SENTENCES_CONSIDERED), any candidate span (short_answer.py's
ranking, or the phrase stand-in for questions with no type), and the ranked spans' top 1 / 3 / 5.
The gap between "top 1" and "top 5" is what a better chooser among the same spans could win; the
gap between "sentences" and "any span" is what better span boundaries or types could win.
Refusals are not applied (bench/answers.py measures them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    BenchDataError,
    add_bench_arguments,
    bench_settings,
    built_slice,
    contains_answer,
    markdown_table,
)
from bench.retrieval import add_slice_arguments

STAGES = (
    "top-5 passages",
    "sentences read",
    "any candidate span",
    "ranked span top 1 (the short answer)",
    "ranked span top 3",
    "ranked span top 5",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_arguments(parser)
    add_slice_arguments(parser)
    arguments = parser.parse_args(argv)

    from newsrag.assistant import Assistant
    from newsrag.embedding import Embedder
    from newsrag.short_answer import SENTENCES_CONSIDERED

    try:
        questions, index_dir = built_slice(arguments)
    except (BenchDataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = bench_settings(index_dir, refusal_threshold=-1.0)
    assistant = Assistant.open(settings, embedder=Embedder.load(settings=settings))
    counts = dict.fromkeys(STAGES, 0)
    for question in questions:
        as_of = dt.date.fromisoformat(question.date) if question.date else None
        retrieval = assistant.retrieve(question.question, as_of=as_of)
        ranked = [retrieval.short, *retrieval.alternatives] if retrieval.short else []
        found = [contains_answer(answer.text, question.answer) for answer in ranked]
        reached = {
            "top-5 passages": any(
                contains_answer(hit.chunk.text, question.answer) for hit in retrieval.hits[:5]
            ),
            "sentences read": any(
                contains_answer(candidate.raw, question.answer)
                for candidate in retrieval.candidates[:SENTENCES_CONSIDERED]
            ),
            "any candidate span": any(found),
            "ranked span top 1 (the short answer)": any(found[:1]),
            "ranked span top 3": any(found[:3]),
            "ranked span top 5": any(found[:5]),
        }
        for stage, ok in reached.items():
            counts[stage] += ok
    total = len(questions)
    span = f"{arguments.questions_from or 'first'}..{arguments.questions_until or 'last'}"
    print(f"{arguments.dataset}: {total} answerable questions {span}, as of their own dates")
    rows = [[stage, counts[stage], f"{counts[stage] / total:.3f}"] for stage in STAGES]
    print(markdown_table(["the gold answer is in", "questions", "share"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
