"""Search latency of retrieval configurations side by side (interleaved, so load hits all alike).

Usage (from the repo root):
    .venv/bin/python bench/search_latency.py --index /work/bench-index/rtqa-dev \\
        --config "previous default:recency_weight=0" --config "default:" --as-of

Every configuration opens the same index once (shared model, Chroma client and BM25 matrix);
then each question is searched (top 5) by every configuration in turn, in a rotating order, and
p50/p95 of the whole search call are reported per configuration. Nothing is cached.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    add_bench_arguments,
    bench_folder,
    default_index_dir,
    load_questions,
    markdown_table,
)
from bench.fastmode import load_average
from bench.query import percentile
from bench.retrieval import parse_overrides


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; returns the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_bench_arguments(parser)
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="NAME:K=V,K=V",
        help="a configuration: a name, then Settings overrides (repeatable)",
    )
    parser.add_argument("--questions", type=int, default=117, help="first N questions")
    parser.add_argument("--as-of", action="store_true", help="search as of each question's date")
    arguments = parser.parse_args(argv)

    from newsrag.config import Settings
    from newsrag.embedding import Embedder
    from newsrag.retrieval import Retriever

    folder = bench_folder(arguments.bench, arguments.dataset)
    index_dir = arguments.index or default_index_dir(arguments.dataset)
    questions = load_questions(folder / "questions.jsonl")[: arguments.questions]
    configs = arguments.config or ["default:"]
    embedder = Embedder.load(settings=Settings())
    base = Retriever.open(Settings(index_dir=index_dir), embedder=embedder)
    retrievers = []
    for text in configs:
        name, _, pairs = text.partition(":")
        overrides = parse_overrides([pair for pair in pairs.split(",") if pair.strip()])
        settings = Settings(index_dir=index_dir, **overrides)
        retrievers.append(
            (
                name,
                Retriever(
                    settings=settings, embedder=embedder, store=base.store, keyword=base.keyword
                ),
            )
        )
    for _, retriever in retrievers:  # warm-up
        for question in questions[:3]:
            retriever.search(question.question)
    seconds: dict[str, list[float]] = {name: [] for name, _ in retrievers}
    load_before = load_average()
    for number, question in enumerate(questions):
        as_of = question.date if arguments.as_of and question.date else None
        turn = retrievers[number % len(retrievers) :] + retrievers[: number % len(retrievers)]
        for name, retriever in turn:
            started = time.perf_counter()
            retriever.search(question.question, as_of=as_of)
            seconds[name].append(time.perf_counter() - started)
    load_after = load_average()
    facts = base.facts()
    print(
        f"search latency on {index_dir}: {facts.chunks} chunks, {len(questions)} questions, "
        f"{'with' if arguments.as_of else 'without'} as_of, interleaved; "
        f"load {load_before} → {load_after}"
    )
    rows = [
        [name, f"{percentile(values, 0.5):.1f}", f"{percentile(values, 0.95):.1f}"]
        for name, values in seconds.items()
    ]
    print(markdown_table(["configuration", "p50 ms", "p95 ms"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
