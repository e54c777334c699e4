"""Fast embedding modes against the default: chunks/s side by side, and answer-recall on rtqa-dev.

Usage (from the repo root):
    .venv/bin/python bench/fastmode.py                           # every mode, all of rtqa-dev
    .venv/bin/python bench/fastmode.py --modes max128 static     # some modes
    .venv/bin/python bench/fastmode.py --articles 300            # a slice (and its questions)

Speed: the same sample of chunk texts is embedded by every mode in interleaved rounds (the
machine is shared: a ratio from one run beats absolute figures); medians are reported.
Recall: each mode ingests the corpus into its own index under /work/bench-index (kept: a re-run
is a no-op) and answers every answerable question with the default hybrid search; recall@k is
bench/common.py's answer-recall. The default's index is --default-index when it exists.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    RECALL_KS,
    add_bench_arguments,
    bench_folder,
    contains_answer,
    first_answer_rank,
    load_questions,
    markdown_table,
    recall_table,
    write_results,
)

# Settings overrides of each mode (see newsrag/config.py: embedding_precision / _max_tokens / _backend).
MODES: dict[str, dict[str, Any]] = {
    "default": {},
    "int8": {"embedding_precision": "int8"},
    "max128": {"embedding_max_tokens": 128},
    "int8+max128": {"embedding_precision": "int8", "embedding_max_tokens": 128},
    "static": {"embedding_backend": "static"},
}
INDEX_ROOT = Path("/work/bench-index")
SEARCH_DEPTH = max(RECALL_KS)


def load_average() -> str:
    """The 1-minute load average (the machine is shared: every figure carries it)."""
    return f"{os.getloadavg()[0]:.1f}"


def slice_corpus(corpus: Path, articles: int | None, folder: Path) -> Path:
    """The first N lines of a corpus as its own jsonl file (the whole corpus when N is None)."""
    if articles is None:
        return corpus
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{corpus.parent.name}-first{articles}.jsonl"
    if not target.exists():
        with gzip.open(corpus, "rt", encoding="utf-8") as handle:
            lines = [line for _, line in zip(range(articles), handle, strict=False)]
        target.write_text("".join(lines), encoding="utf-8")
    return target


def corpus_texts(corpus: Path) -> list[str]:
    """Article texts of a jsonl(.gz) corpus (to keep only questions answerable in a slice)."""
    opener = gzip.open if corpus.suffix == ".gz" else open
    with opener(corpus, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
        return [json.loads(line).get("text", "") for line in handle if line.strip()]


def sample_chunks(corpus: Path, settings: Any, embedder: Any, size: int) -> list[tuple[str, int]]:
    """A spread-out sample of (embed text, token count) of the first 200 articles' chunks."""
    from newsrag.articles import iter_corpus
    from newsrag.chunking import Chunker

    chunker = Chunker(settings=settings, tokenizer=embedder.tokenizer_function())
    pairs: list[tuple[str, int]] = []
    for _, result in iter_corpus([corpus], settings=settings):
        for article in result.articles[:200]:
            chunks, lengths = chunker.chunk_with_lengths(article)
            pairs += [
                (chunk.embed_text, length) for chunk, length in zip(chunks, lengths, strict=True)
            ]
    step = max(1, len(pairs) // size)
    return pairs[::step][:size]


def speed(embedders: dict[str, Any], sample: list[tuple[str, int]], rounds: int) -> dict[str, Any]:
    """Median chunks/s of each mode on the same texts, modes interleaved round by round."""
    texts = [text for text, _ in sample]
    lengths = [length for _, length in sample]
    seconds: dict[str, list[float]] = {mode: [] for mode in embedders}
    cpu: dict[str, list[float]] = {mode: [] for mode in embedders}
    for embedder in embedders.values():  # warm-up: first calls pay one-time costs
        embedder.embed_documents(texts[:8])
    for _ in range(rounds):
        for mode, embedder in embedders.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            embedder.embed_documents(texts, lengths=lengths)
            seconds[mode].append(time.perf_counter() - started)
            cpu[mode].append(time.process_time() - cpu_started)
    return {
        mode: {
            "chunks_per_second": len(texts) / statistics.median(seconds[mode]),
            "chunks_per_cpu_second": len(texts) / statistics.median(cpu[mode]),
            "seconds": seconds[mode],
        }
        for mode in embedders
    }


def recall(index_dir: Path, embedder: Any, questions: list[Any], settings: Any) -> dict[str, Any]:
    """answer-recall@k of the default hybrid search and of dense alone on one index."""
    from newsrag.retrieval import Retriever

    retriever = Retriever.open(settings, embedder=embedder)
    figures: dict[str, Any] = {}
    for mode in ("hybrid", "dense"):
        ranks = [
            first_answer_rank(
                (hit.chunk.text for hit in retriever.search(q.question, SEARCH_DEPTH, mode=mode)),
                q.answer,
            )
            for q in questions
        ]
        figures[mode] = recall_table(ranks)
    figures["chunks"] = retriever.facts().chunks
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the fast-mode benchmark; returns the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_bench_arguments(parser)
    parser.add_argument("--modes", nargs="+", choices=[m for m in MODES if m != "default"],
                        default=[m for m in MODES if m != "default"])  # fmt: skip
    parser.add_argument("--articles", type=int, default=None, help="first N articles only")
    parser.add_argument("--default-index", type=Path, default=INDEX_ROOT / "rtqa-dev")
    parser.add_argument("--sample", type=int, default=192, help="chunks in the speed sample")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-recall", action="store_true", help="speed only")
    arguments = parser.parse_args(argv)

    from newsrag.config import Settings
    from newsrag.embedding import Embedder
    from newsrag.ingest import ingest

    folder = bench_folder(arguments.bench, arguments.dataset)
    slice_dir = INDEX_ROOT / "slices"
    corpus = slice_corpus(folder / "corpus.jsonl.gz", arguments.articles, slice_dir)
    questions = load_questions(folder / "questions.jsonl")
    if arguments.articles is not None:
        texts = corpus_texts(corpus)
        questions = [q for q in questions if any(contains_answer(t, q.answer) for t in texts)]
    tag = arguments.dataset + (f"-first{arguments.articles}" if arguments.articles else "")
    modes = ["default", *arguments.modes]
    index_dirs = {
        mode: (
            arguments.default_index
            if mode == "default" and arguments.articles is None
            else INDEX_ROOT / f"fast-{mode}-{tag}"
        )
        for mode in modes
    }
    embedders = {
        mode: Embedder.load(settings=Settings(index_dir=index_dirs[mode], **MODES[mode]))
        for mode in modes
    }
    sample = sample_chunks(corpus, Settings(), embedders["default"], arguments.sample)
    print(f"speed: {len(sample)} chunks, {arguments.rounds} interleaved rounds, load {load_average()}",
          file=sys.stderr)  # fmt: skip
    speeds = speed(embedders, sample, arguments.rounds)
    results: dict[str, Any] = {}
    for mode in modes:
        results[mode] = {"speed": speeds[mode], "settings": MODES[mode]}
        if arguments.no_recall:
            continue
        settings = Settings(index_dir=index_dirs[mode], **MODES[mode])
        load_before = load_average()
        report = ingest([corpus], settings=settings, progress=True, embedder=embedders[mode])
        results[mode]["ingest"] = {
            **report.to_dict(),
            "load_before": load_before,
            "load_after": load_average(),
        }
        results[mode]["recall"] = recall(index_dirs[mode], embedders[mode], questions, settings)
        print(f"{mode}: recall {results[mode]['recall']['hybrid']}", file=sys.stderr)

    base = results["default"]["speed"]
    headers = ["mode", "chunks/s", "× default", "chunks/CPU-s", "× default (CPU)"]
    if not arguments.no_recall:
        headers += ["hybrid @1", "@5", "@10", "Δ@5 (points)", "dense @5"]
    rows = []
    for mode in modes:
        figures = results[mode]["speed"]
        row: list[Any] = [
            mode,
            f"{figures['chunks_per_second']:.1f}",
            f"{figures['chunks_per_second'] / base['chunks_per_second']:.2f}",
            f"{figures['chunks_per_cpu_second']:.1f}",
            f"{figures['chunks_per_cpu_second'] / base['chunks_per_cpu_second']:.2f}",
        ]
        if not arguments.no_recall:
            hybrid, dense = results[mode]["recall"]["hybrid"], results[mode]["recall"]["dense"]
            delta = 100 * (hybrid[5] - results["default"]["recall"]["hybrid"][5])
            row += [hybrid[1], hybrid[5], hybrid[10], f"{delta:+.1f}", dense[5]]
        rows.append(row)
    print(f"fast modes on {tag}: {len(questions)} answerable questions; load now {load_average()}")
    print(markdown_table(headers, rows))
    path = write_results(
        f"fastmode-{tag}",
        {"dataset": tag, "questions": len(questions), "sample": len(sample), "modes": results},
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
