"""Retrieval benchmark: answer-recall@1/3/5/10 of BM25, dense and the default hybrid on a bench set.

Usage (from the repo root):
    .venv/bin/python bench/retrieval.py --index /work/bench-index/rtqa-dev
    .venv/bin/python bench/retrieval.py --set rrf_k=20 --set fusion=rrf   # try other settings
    .venv/bin/python bench/retrieval.py --ingest                          # re-ingest into a temp dir

Every answerable question is asked against one index of the whole pooled corpus; the question's own
date is not used as a filter. Prints a Markdown table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make `bench` and `newsrag` importable from the repo root.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    RECALL_KS,
    BenchDataError,
    BenchQuestion,
    add_bench_arguments,
    bench_folder,
    bench_settings,
    default_index_dir,
    ensure_index,
    first_answer_rank,
    index_is_built,
    load_questions,
    markdown_table,
    median_ms,
    recall_table,
    write_results,
)

MODES = ("keyword", "dense", "hybrid")
MODE_LABELS = {"keyword": "BM25 alone", "dense": "dense alone", "hybrid": "hybrid (default)"}
# Issue 2's reference figures (plain bm25s, all-MiniLM-L6-v2, 256-token chunks) on rtqa-dev.
REFERENCE = {
    "reference BM25": {1: 0.504, 5: 0.675},
    "reference dense": {1: 0.402, 5: 0.632},
    "reference plain RRF": {1: 0.462, 5: 0.684},
}
SEARCH_DEPTH = max(RECALL_KS)


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """--set name=value pairs -> a dict of Settings overrides (pydantic converts the values)."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name.strip():
            raise SystemExit(f"--set {pair!r}: expected name=value, e.g. --set rrf_k=20")
        overrides[name.strip()] = value.strip()
    return overrides


def run_mode(
    retriever: Any, questions: list[BenchQuestion], mode: str
) -> tuple[list[int | None], list[float]]:
    """First answer rank (within the top 10) and search seconds for every question."""
    retriever.search(questions[0].question, k=SEARCH_DEPTH, mode=mode)  # warm caches once
    ranks: list[int | None] = []
    seconds: list[float] = []
    for question in questions:
        started = time.perf_counter()
        hits = retriever.search(question.question, k=SEARCH_DEPTH, mode=mode)
        seconds.append(time.perf_counter() - started)
        ranks.append(first_answer_rank((hit.chunk.text for hit in hits), question.answer))
    return ranks, seconds


def ingest_stats(last_ingest: dict[str, Any]) -> dict[str, Any]:
    """The ingest figures worth reporting from a manifest's last_ingest."""
    keys = (
        "finished_at",
        "total_articles",
        "total_chunks",
        "chunks_embedded",
        "embed_seconds",
        "seconds",
        "chunks_per_second",
    )
    return {key: last_ingest.get(key) for key in keys}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_bench_arguments(parser)
    parser.add_argument(
        "--ingest",
        action="store_true",
        help="re-ingest the corpus into a temporary index to measure chunks/s",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a retrieval setting (repeatable)",
    )
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--no-write", action="store_true", help="do not write the JSON result")
    arguments = parser.parse_args(argv)

    from newsrag.embedding import Embedder
    from newsrag.retrieval import Retriever

    try:
        folder = bench_folder(arguments.bench, arguments.dataset)
        questions = load_questions(folder / "questions.jsonl")
    except (BenchDataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not questions:
        print(f"error: {folder}/questions.jsonl has no answerable questions", file=sys.stderr)
        return 2
    overrides = parse_overrides(arguments.overrides)
    embedder = Embedder.load(settings=bench_settings(Path(".")))

    temporary: tempfile.TemporaryDirectory[str] | None = None
    if arguments.ingest:
        temporary = tempfile.TemporaryDirectory(prefix="newsrag-bench-")
        index_dir = Path(temporary.name)
    else:
        index_dir = arguments.index or default_index_dir(arguments.dataset)
    try:
        if arguments.ingest or not index_is_built(index_dir):
            # Only then: a no-op ingest would overwrite the manifest's last_ingest figures.
            print(f"ingesting {folder / 'corpus.jsonl.gz'} into {index_dir} ...", file=sys.stderr)
            ensure_index(folder / "corpus.jsonl.gz", index_dir, embedder=embedder)
        settings = bench_settings(index_dir, **overrides)
        retriever = Retriever.open(settings, embedder=embedder)
        facts = retriever.facts()
        modes: dict[str, dict[str, Any]] = {}
        for mode in arguments.modes:
            ranks, seconds = run_mode(retriever, questions, mode)
            modes[mode] = {
                "recall": recall_table(ranks),
                "median_ms": median_ms(seconds),
                "ranks": {q.id: rank for q, rank in zip(questions, ranks, strict=True)},
            }
    finally:
        if temporary is not None:
            temporary.cleanup()

    headers = ["retriever", *(f"@{k}" for k in RECALL_KS), "median ms/query"]
    rows: list[list[Any]] = [
        [
            MODE_LABELS[mode] if not overrides else f"{mode} (with --set)",
            *(result["recall"][k] for k in RECALL_KS),
            f"{result['median_ms']:.1f}",
        ]
        for mode, result in modes.items()
    ]
    rows += [
        [name, *(figures.get(k, "") for k in RECALL_KS), ""] for name, figures in REFERENCE.items()
    ]
    ingest = ingest_stats(facts.last_ingest)
    retrieval_settings = {
        name: getattr(settings, name)
        for name in type(settings).model_fields
        if name
        in (
            "fusion",
            "candidates",
            "max_chunks_per_article",
            "rrf_k",
            "dense_weight",
            "keyword_weight",
            "chunk_size",
            "chunk_overlap",
        )
    }
    print(
        f"answer-recall@k on {arguments.dataset}: {len(questions)} answerable questions, "
        f"{facts.articles} articles, {facts.chunks} chunks, one pooled index"
    )
    print(f"settings: {retrieval_settings}")
    print()
    print(markdown_table(headers, rows))
    print()
    if ingest["chunks_embedded"]:
        print(
            f"ingest: {ingest['chunks_embedded']} chunks embedded in {ingest['embed_seconds']} s "
            f"= {ingest['chunks_per_second']} chunks/s; whole ingest {ingest['seconds']} s "
            f"({'this run' if arguments.ingest else 'last_ingest of the index manifest'})"
        )
    else:
        print(
            "ingest: the index's last ingest embedded nothing (a re-run): use --ingest for chunks/s"
        )
    if not arguments.no_write:
        path = write_results(
            f"retrieval-{arguments.dataset}",
            {
                "dataset": arguments.dataset,
                "questions": len(questions),
                "index": {"articles": facts.articles, "chunks": facts.chunks, "model": facts.model},
                "settings": retrieval_settings,
                "overrides": overrides,
                "modes": modes,
                "reference": REFERENCE,
                "ingest": ingest,
                "ingest_measured_here": arguments.ingest,
            },
        )
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
