"""Ingest cost of embedding models side by side: chunks/s on the same real chunks of a data set.

Usage (from the repo root):
    .venv/bin/python bench/retrieval_embedders.py \\
        --models packaged:all-MiniLM-L6-v2 packaged:multilingual-e5-small /path/to/all-mpnet-base-v2

Every model embeds the same spread-out sample of the project's chunks (title/date header
included, chunked as `newsrag ingest` does) through Embedder.embed_documents, models interleaved
round by round (the machine is shared: compare within one run). Reported per model: chunks/s
(wall), chunks per CPU second (what an idle machine's cores would give: × cores), and the
projected time to embed --project-chunks chunks (rtqa-dev: 11,215) at each rate. Recall is
bench/retrieval.py's job on an index built with the model (docs/benchmarks.md "Retrieval").
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_bench_arguments, bench_folder, markdown_table, write_results
from bench.fastmode import load_average, sample_chunks, speed

RTQA_DEV_CHUNKS = 11_215


def main(argv: list[str] | None = None) -> int:
    """Measure each model's embedding speed; returns the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_bench_arguments(parser)
    parser.add_argument("--models", nargs="+", required=True, help="NEWSRAG_EMBEDDING_MODEL values")
    parser.add_argument("--chunks", type=int, default=200, help="sample size")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--project-chunks", type=int, default=RTQA_DEV_CHUNKS)
    parser.add_argument("--no-write", action="store_true", help="do not write the JSON result")
    arguments = parser.parse_args(argv)

    from newsrag.config import Settings
    from newsrag.embedding import Embedder, EmbeddingModelError

    try:
        embedders = {
            name: Embedder.load(settings=Settings(embedding_model=name))
            for name in arguments.models
        }
    except EmbeddingModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    corpus = bench_folder(arguments.bench, arguments.dataset) / "corpus.jsonl.gz"
    # The default model's chunks: every backend is chunked by that tokenizer (embedding_e5.py).
    first = next(iter(embedders.values()))
    sample = sample_chunks(corpus, Settings(), first, arguments.chunks)
    load_before = load_average()
    figures = speed(embedders, sample, arguments.rounds)
    load_after = load_average()
    cores = os.cpu_count() or 1
    rows = []
    for name, result in figures.items():
        wall, per_cpu = result["chunks_per_second"], result["chunks_per_cpu_second"]
        rows.append(
            [
                name,
                f"{wall:.2f}",
                f"{per_cpu:.2f}",
                f"{arguments.project_chunks / wall / 60:.0f}",
                f"{arguments.project_chunks / (per_cpu * cores) / 60:.0f}",
            ]
        )
    print(
        f"{len(sample)} chunks of {arguments.dataset}, {arguments.rounds} round(s), load "
        f"{load_before} -> {load_after} on {cores} cores"
    )
    headers = [
        "model",
        "chunks/s",
        "chunks per CPU s",
        f"min for {arguments.project_chunks:,} chunks at this load",
        f"min on {cores} idle cores",
    ]
    print(markdown_table(headers, rows))
    if not arguments.no_write:
        write_results(
            "retrieval_embedders",
            {"load": [load_before, load_after], "chunks": len(sample), "models": figures},
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
