"""Query latency: search and extractive answers on a built index, per stage, with peak RSS.

Usage (from the repo root):
    .venv/bin/python bench/query.py --dataset rtqa-2022 --index /work/bench-index/rtqa-2022
    .venv/bin/python bench/query.py --questions 100 --profile    # + a cProfile of the query loop

Everything is opened once (as a server does); then every question is searched (hybrid, top 5)
and answered (extractive engine). Reports p50/p95 of the whole call and of each stage the
Retriever / Answer timings carry, the one-time open cost, and this process's peak RSS (it holds
what `newsrag serve` holds: model, Chroma client, BM25 matrix, assistant). With --profile, lists
calls made inside the query loop to anything that loads or builds (model, store, BM25, manifest):
there should be none.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    add_bench_arguments,
    bench_folder,
    default_index_dir,
    load_questions,
    markdown_table,
    write_results,
)
from bench.fastmode import load_average

# Functions that load or build something: none may run per query.
LOADERS = (
    "Embedder.load",
    "SentenceTransformer.__init__",
    "VectorStore.open",
    "Retriever.open",
    "Assistant.open",
    "_ensure_loaded",  # BM25 matrix: a cheap pointer check per query, a load only when changed
    "KeywordIndex.rebuild",
    "Manifest.load",
    "Prompts.load",
    "from_pretrained",
    "bm25s.BM25.load",
)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of seconds, in milliseconds."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))
    return 1000 * ordered[index]


def stage_rows(name: str, totals: list[float], stages: dict[str, list[float]]) -> list[list[Any]]:
    """Table rows: the whole call, then each stage, with p50/p95 in ms."""
    rows = [[name, f"{percentile(totals, 0.5):.1f}", f"{percentile(totals, 0.95):.1f}"]]
    for stage, values in stages.items():
        rows.append(
            [f"  {stage}", f"{percentile(values, 0.5):.1f}", f"{percentile(values, 0.95):.1f}"]
        )
    return rows


def loader_calls(profile: cProfile.Profile) -> dict[str, dict[str, float]]:
    """How often each loader ran inside the profiled loop, and its total seconds."""
    stats = pstats.Stats(profile)
    found: dict[str, dict[str, float]] = {}
    entries = stats.stats.items()  # type: ignore[attr-defined]
    for (filename, _, function), (_, calls, _, cumulative, _) in entries:
        qualified = f"{Path(filename).stem}.{function}"
        for loader in LOADERS:
            if qualified.endswith(loader) or function == loader:
                found[f"{qualified} ({Path(filename).name})"] = {
                    "calls": calls,
                    "seconds": round(cumulative, 4),
                }
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the latency benchmark; returns the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_bench_arguments(parser, dataset="rtqa-2022")
    parser.add_argument("--questions", type=int, default=200, help="first N questions")
    parser.add_argument("--profile", action="store_true", help="cProfile the query loop")
    parser.add_argument(
        "--as-of", action="store_true", help="search as of each question's own date"
    )
    parser.add_argument(
        "--search-only", action="store_true", help="measure search only (no answers)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a retrieval setting (repeatable)",
    )
    arguments = parser.parse_args(argv)
    from bench.retrieval import parse_overrides
    from newsrag.config import Settings
    from newsrag.embedding import Embedder
    from newsrag.retrieval import Retriever

    folder = bench_folder(arguments.bench, arguments.dataset)
    index_dir = arguments.index or default_index_dir(arguments.dataset)
    questions = load_questions(folder / "questions.jsonl", answerable_only=False)
    questions = questions[: arguments.questions]
    settings = Settings(index_dir=index_dir, **parse_overrides(arguments.overrides))

    opened = time.perf_counter()
    embedder = Embedder.load(settings=settings)
    retriever = Retriever.open(settings, embedder=embedder)
    assistant: Any = None
    try:
        from newsrag.assistant import Assistant

        if not arguments.search_only:
            assistant = Assistant.open(settings, retriever=retriever)
    except ImportError:
        print("newsrag.assistant is not there yet: answers are not measured", file=sys.stderr)
    open_seconds = time.perf_counter() - opened
    facts = retriever.facts()
    for question in questions[:3]:  # warm-up: first calls fill caches and page in the index
        retriever.search(question.question)
        if assistant is not None:
            assistant.ask(question.question)
    rss_after_open = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    profile = cProfile.Profile() if arguments.profile else None
    search_totals: list[float] = []
    search_stages: dict[str, list[float]] = defaultdict(list)
    answer_totals: list[float] = []
    answer_stages: dict[str, list[float]] = defaultdict(list)
    load_before = load_average()
    if profile is not None:
        profile.enable()
    for question in questions:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        as_of = question.date if arguments.as_of and question.date else None
        retriever.search(question.question, timings=timings, as_of=as_of)
        search_totals.append(time.perf_counter() - started)
        for stage, seconds in timings.items():
            search_stages[stage].append(seconds)
        if assistant is not None:
            started = time.perf_counter()
            answer = assistant.ask(question.question)
            answer_totals.append(time.perf_counter() - started)
            for stage, seconds in answer.timings.items():
                answer_stages[stage].append(seconds)
    if profile is not None:
        profile.disable()
    load_after = load_average()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(
        f"query latency on {index_dir}: {facts.chunks} chunks, {facts.articles} articles, "
        f"{len(questions)} questions; load {load_before} → {load_after}"
    )
    rows = stage_rows("search (hybrid, top 5)", search_totals, search_stages)
    if assistant is not None:
        rows += stage_rows("answer (extractive)", answer_totals, answer_stages)
    print(markdown_table(["call / stage", "p50 ms", "p95 ms"], rows))
    print(
        f"\nopen once: {open_seconds:.1f} s; peak RSS {peak_rss:.0f} MiB "
        f"({rss_after_open:.0f} MiB after opening and warm-up)"
    )
    loaders: dict[str, dict[str, float]] = {}
    if profile is not None:
        loaders = loader_calls(profile)
        print("loaders called inside the query loop:", loaders or "none")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    path = write_results(
        f"query-{arguments.dataset}",
        {
            "index": str(index_dir),
            "chunks": facts.chunks,
            "questions": len(questions),
            "search_ms": {
                "p50": percentile(search_totals, 0.5),
                "p95": percentile(search_totals, 0.95),
            },
            "answer_ms": {
                "p50": percentile(answer_totals, 0.5),
                "p95": percentile(answer_totals, 0.95),
            },
            "search_stages_ms": {s: percentile(v, 0.5) for s, v in search_stages.items()},
            "answer_stages_ms": {s: percentile(v, 0.5) for s, v in answer_stages.items()},
            "open_seconds": open_seconds,
            "peak_rss_mib": peak_rss,
            "load": [load_before, load_after],
            "loaders_in_loop": loaders,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
