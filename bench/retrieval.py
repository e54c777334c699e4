"""Retrieval benchmark: answer-recall@1/3/5/10 of BM25, dense and the default hybrid on a bench set.

Usage (from the repo root):
    .venv/bin/python bench/retrieval.py --index /work/bench-index/rtqa-dev
    .venv/bin/python bench/retrieval.py --set rrf_k=20 --set fusion=rrf   # try other settings
    .venv/bin/python bench/retrieval.py --ingest                          # re-ingest into a temp dir
    .venv/bin/python bench/retrieval.py --dataset rtqa-2022 \
        --questions-from 2022-08-01 --questions-until 2022-09-30 --as-of    # a held-out slice

Every answerable question (of the date range, when given) is asked against one index of the whole
pooled corpus; the question's own date is never a filter. With --as-of it is passed as `as_of`
(the user asks on that day: the recency prior is on). Query embeddings, candidate lists and chunk
reads are cached under bench/results/cache/ (--no-cache: measure real latency). Prints a Markdown
table and writes JSON to bench/results/.
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
    cache_path,
    cached_retriever,
    default_index_dir,
    ensure_index,
    first_answer_rank,
    index_is_built,
    iso_date,
    load_call_cache,
    markdown_table,
    median_ms,
    recall_table,
    save_call_cache,
    slice_questions,
    write_results,
)

MODES = ("keyword", "dense", "rrf", "hybrid")
MODE_LABELS = {
    "keyword": "BM25 alone",
    "dense": "dense alone",
    "rrf": "plain RRF (k=60, equal weights)",
    "hybrid": "hybrid (default)",
}
# Plain rank fusion: no term weights, feedback, priors or re-scoring.
PLAIN_RRF = {
    "fusion": "rrf",
    "rrf_k": 60,
    "dense_weight": 1.0,
    "keyword_weight": 1.0,
    "keyword_name_boost": 0.0,
    "keyword_number_boost": 0.0,
    "prf_documents": 0,
    "recency_weight": 0.0,
    "sentence_weight": 0.0,
    "title_weight": 0.0,
    "lede_weight": 0.0,
}
RETRIEVAL_SETTINGS = (
    "fusion",
    "candidates",
    "max_chunks_per_article",
    "rrf_k",
    "dense_weight",
    "keyword_weight",
    "keyword_name_boost",
    "keyword_number_boost",
    "prf_documents",
    "prf_terms",
    "prf_weight",
    "recency_weight",
    "recency_half_life_days",
    "recency_future_half_life_days",
    "rescore_pool",
    "sentence_weight",
    "sentence_window",
    "title_weight",
    "lede_weight",
    "chunk_size",
    "chunk_overlap",
)
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
    retriever: Any, questions: list[BenchQuestion], mode: str, *, as_of: bool = False
) -> tuple[list[int | None], list[float]]:
    """First answer rank (within the top 10) and search seconds for every question."""
    search_mode = "hybrid" if mode == "rrf" else mode
    # Single retrievers and plain RRF stay date-blind: as_of reaches the default hybrid only.
    dated = as_of and mode == "hybrid"

    def search(question: BenchQuestion) -> Any:
        day = question.date if dated and question.date else None
        return retriever.search(question.question, k=SEARCH_DEPTH, mode=search_mode, as_of=day)

    search(questions[0])  # warm caches once
    ranks: list[int | None] = []
    seconds: list[float] = []
    for question in questions:
        started = time.perf_counter()
        hits = search(question)
        seconds.append(time.perf_counter() - started)
        ranks.append(first_answer_rank((hit.chunk.text for hit in hits), question.answer))
    return ranks, seconds


def add_slice_arguments(parser: argparse.ArgumentParser) -> None:
    """--questions-from/--questions-until and --as-of/--no-as-of (also used by the CV sweep)."""
    parser.add_argument(
        "--questions-from",
        type=iso_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="only questions asked on or after this day",
    )
    parser.add_argument(
        "--questions-until",
        type=iso_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="only questions asked on or before this day",
    )
    parser.add_argument(
        "--as-of",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="pass each question's own date as as_of (default: --no-as-of)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="do not cache query embeddings and candidate lists (for real latency)",
    )


def any_files(folder: Path) -> bool:
    """True when the folder exists and is not empty."""
    return Path(folder).is_dir() and any(Path(folder).iterdir())


def mode_retriever(retriever: Any, mode: str) -> Any:
    """The retriever a mode runs: plain RRF is the hybrid with PLAIN_RRF settings."""
    if mode != "rrf":
        return retriever
    from newsrag.config import Settings

    settings = Settings(**{**retriever.settings.model_dump(), **PLAIN_RRF})
    return type(retriever)(
        settings=settings,
        embedder=retriever.embedder,
        store=retriever.store,
        keyword=retriever.keyword,
    )


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
    add_slice_arguments(parser)
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
        questions = slice_questions(arguments)
    except (BenchDataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not questions:
        print(
            f"error: {folder}/questions.jsonl has no answerable questions in "
            f"{arguments.questions_from or '…'}..{arguments.questions_until or '…'}",
            file=sys.stderr,
        )
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
        if not arguments.ingest and not index_is_built(index_dir) and any_files(index_dir):
            # Someone else's ingest is under way (or failed): never write into it from here.
            print(
                f"error: {index_dir} holds an unfinished index (no model in its manifest): "
                "wait for its ingest to finish, or pass another --index",
                file=sys.stderr,
            )
            return 2
        if arguments.ingest or not index_is_built(index_dir):
            # Only then: a no-op ingest would overwrite the manifest's last_ingest figures.
            print(f"ingesting {folder / 'corpus.jsonl.gz'} into {index_dir} ...", file=sys.stderr)
            ensure_index(folder / "corpus.jsonl.gz", index_dir, embedder=embedder)
        settings = bench_settings(index_dir, **overrides)
        retriever = Retriever.open(settings, embedder=embedder)
        facts = retriever.facts()
        memory: dict[Any, Any] = {}
        cache_file = cache_path(index_dir)
        if not arguments.no_cache:
            memory = load_call_cache(cache_file)
            retriever = cached_retriever(retriever, memory)
        modes: dict[str, dict[str, Any]] = {}
        for mode in arguments.modes:
            ranks, seconds = run_mode(
                mode_retriever(retriever, mode), questions, mode, as_of=arguments.as_of
            )
            modes[mode] = {
                "recall": recall_table(ranks),
                "median_ms": median_ms(seconds),
                "ranks": {q.id: rank for q, rank in zip(questions, ranks, strict=True)},
            }
        if not arguments.no_cache and not arguments.ingest:
            save_call_cache(cache_file, memory)
    finally:
        if temporary is not None:
            temporary.cleanup()

    span = f"{arguments.questions_from or 'first'}..{arguments.questions_until or 'last'}"
    headers = ["retriever", *(f"@{k}" for k in RECALL_KS), "median ms/query"]
    rows: list[list[Any]] = [
        [
            MODE_LABELS[mode] if not overrides else f"{mode} (with --set)",
            *(result["recall"][k] for k in RECALL_KS),
            f"{result['median_ms']:.1f}",
        ]
        for mode, result in modes.items()
    ]
    whole_dev = arguments.dataset == "rtqa-dev" and span == "first..last" and not arguments.as_of
    if whole_dev:  # the reference figures are of exactly this set
        rows += [
            [name, *(figures.get(k, "") for k in RECALL_KS), ""]
            for name, figures in REFERENCE.items()
        ]
    ingest = ingest_stats(facts.last_ingest)
    retrieval_settings = {name: getattr(settings, name) for name in RETRIEVAL_SETTINGS}
    print(
        f"answer-recall@k on {arguments.dataset}: {len(questions)} answerable questions asked "
        f"{span}, {'with' if arguments.as_of else 'without'} as_of, {facts.articles} articles, "
        f"{facts.chunks} chunks, one pooled index"
        + (" (latency: cached calls, not real)" if not arguments.no_cache else "")
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
                "questions_from": arguments.questions_from,
                "questions_until": arguments.questions_until,
                "as_of": arguments.as_of,
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
