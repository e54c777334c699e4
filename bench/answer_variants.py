"""Answer latency of code variants side by side: each question answered by every variant in turn.

Usage (from the repo root):
    .venv/bin/python bench/answer_variants.py --dataset rtqa-2022 --index /work/bench-index/rtqa-2022 \\
        --questions 60 --variant "no runner-ups:newsrag.engines.extractive.ALTERNATIVES_QUOTED=0" \\
        --variant "no slot:newsrag.short_answer.SLOT_BONUS=0.0"

A variant is LABEL:MODULE.NAME=VALUE[;MODULE.NAME=VALUE...] (VALUE a Python literal), set on the
module for its turn and put back after; "default" (the code as it is) always runs. One Assistant
answers every variant, the order rotating per question (a later turn finds the earlier turns'
cached sentence vectors and entities, so each variant goes first equally often). Prints p50 / p95
of the whole answer and of each stage its timings carry, and each variant's ratio of medians to
the default.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import importlib
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    add_bench_arguments,
    bench_folder,
    bench_settings,
    default_index_dir,
    load_questions,
    markdown_table,
)


def parse_variant(text: str) -> tuple[str, list[tuple[Any, str, Any]]]:
    """ "label:pkg.mod.NAME=1;pkg.mod.OTHER=2" -> (label, [(module, NAME, value), ...])."""
    label, separator, assignments = text.partition(":")
    if not separator or not assignments:
        raise SystemExit(f"--variant {text!r}: expected LABEL:MODULE.NAME=VALUE[;...]")
    changes = []
    for assignment in assignments.split(";"):
        target, _, value = assignment.partition("=")
        module_name, _, name = target.strip().rpartition(".")
        module = importlib.import_module(module_name)
        if not hasattr(module, name):
            raise SystemExit(f"--variant {text!r}: {module_name} has no {name}")
        changes.append((module, name, ast.literal_eval(value.strip())))
    return label.strip(), changes


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(share * len(ordered)) - 1)]


def main() -> int:
    """Print one table: p50 / p95 per variant and stage, and the ratio to the default."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_arguments(parser)
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--variant", action="append", default=[], help="LABEL:MODULE.NAME=VALUE")
    args = parser.parse_args()

    from newsrag.assistant import Assistant
    from newsrag.embedding import Embedder

    variants = [("default", []), *(parse_variant(text) for text in args.variant)]
    settings = bench_settings(args.index or default_index_dir(args.dataset))
    assistant = Assistant.open(settings, embedder=Embedder.load(settings=settings))
    questions = load_questions(bench_folder(args.bench, args.dataset) / "questions.jsonl")
    totals: dict[str, list[float]] = defaultdict(list)
    stages: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for number, item in enumerate(questions[: args.questions]):
        as_of = dt.date.fromisoformat(item.date) if item.date else None
        turn = number % len(variants)
        for label, changes in variants[turn:] + variants[:turn]:
            saved = [(module, name, getattr(module, name)) for module, name, _ in changes]
            for module, name, value in changes:
                setattr(module, name, value)
            try:
                started = time.perf_counter()
                answer = assistant.ask(item.question, as_of=as_of)
                totals[label].append(time.perf_counter() - started)
            finally:
                for module, name, value in saved:
                    setattr(module, name, value)
            for stage, seconds in answer.timings.items():
                stages[label][stage].append(seconds)
    base = statistics.median(totals["default"])
    rows = []
    for label, _ in variants:
        values = totals[label]
        rows.append(
            [
                label,
                f"{statistics.median(values) * 1000:.0f}",
                f"{percentile(values, 0.95) * 1000:.0f}",
                f"{statistics.median(values) / base:.2f}",
                ", ".join(
                    f"{stage} {statistics.median(times) * 1000:.1f}"
                    for stage, times in stages[label].items()
                    if stage != "total" and statistics.median(times) >= 0.001
                ),
            ]
        )
    print(f"{args.dataset}: {min(args.questions, len(questions))} questions, each by every variant")
    print(markdown_table(["variant", "p50 ms", "p95 ms", "p50 / default", "stage p50s (ms)"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
