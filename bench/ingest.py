"""Ingest overhead: the project's whole ingest against bare SentenceTransformer.encode, one run.

Usage (from the repo root):
    .venv/bin/python bench/ingest.py                    # the first 150 rtqa-dev articles
    .venv/bin/python bench/ingest.py --articles 973     # all of rtqa-dev
    .venv/bin/python bench/ingest.py --profile          # + where the ingest's time goes

Both sides get the same chunk texts (the project's chunks of the slice). Bare encode is what a
user would write: model.encode(texts, batch_size=64, normalize_embeddings=True), which sorts by
characters. The project's figure is its WHOLE ingest (read, chunk, embed, Chroma, BM25, manifest)
with the model already loaded. Order: bare, project, bare again: the machine is shared, so the
ratio uses the mean of the two bare runs around the project run, and the load is recorded.
Then the unchanged corpus is ingested again (the re-ingest figure).

    .venv/bin/python bench/ingest.py --near-duplicates /work/bench-index/rtqa-dev

measures near-duplicate skipping instead, on an index built WITHOUT it (near_duplicate_threshold
0, or before it existed): a copy of the index gets, for every chunk the ingest would have
skipped, the vector of the earlier passage it repeats (exactly what skipping stores), and
answer-recall of the default hybrid search is computed on both.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_bench_arguments, bench_folder, markdown_table, write_results
from bench.fastmode import load_average, slice_corpus

Clock = tuple[float, float]  # (wall seconds, CPU seconds of this process)


def clock() -> Clock:
    """Wall time and this process's CPU time."""
    return time.perf_counter(), time.process_time()


def since(started: Clock) -> Clock:
    """Wall and CPU seconds elapsed since started."""
    now = clock()
    return now[0] - started[0], now[1] - started[1]


def chunk_texts(corpus: Path, settings: Any, embedder: Any) -> tuple[list[str], list[int]]:
    """Embed texts and token counts of every chunk of the corpus, as the project makes them."""
    from newsrag.articles import iter_corpus
    from newsrag.chunking import Chunker

    chunker = Chunker(settings=settings, tokenizer=embedder.tokenizer_function())
    texts: list[str] = []
    lengths: list[int] = []
    for _, result in iter_corpus([corpus], settings=settings):
        for article in result.articles:
            chunks, counts = chunker.chunk_with_lengths(article)
            texts += [chunk.embed_text for chunk in chunks]
            lengths += counts
    return texts, lengths


def bare_encode(model: Any, texts: list[str], batch_size: int) -> Clock:
    """Seconds of plain SentenceTransformer.encode over all texts."""
    started = clock()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    return since(started)


class StageTimer:
    """Wraps functions to add up the wall and CPU time spent in each (for --profile)."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        """Time owner.name under label."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return original(*args, **kwargs)
            finally:
                wall, cpu = since(started)
                total = self.totals[label]
                total[0], total[1], total[2] = total[0] + wall, total[1] + cpu, total[2] + 1

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def wrap_stream(self, owner: Any, name: str, label: str) -> None:
        """Time the waits on a generator function's items (the chunking worker)."""
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            iterator = original(*args, **kwargs)
            while True:
                started = clock()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    wall, cpu = since(started)
                    total = self.totals[label]
                    total[0], total[1] = total[0] + wall, total[1] + cpu
                yield item

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def restore(self) -> None:
        """Put the original functions back."""
        for undo in reversed(self._undo):
            undo()


def profile_stages(timer: StageTimer) -> None:
    """Wrap the ingest's stages (model, store, BM25, waits on the chunking worker)."""
    import newsrag.ingest as ingest_module
    from newsrag.embedding import Embedder
    from newsrag.keyword import KeywordIndex
    from newsrag.store import VectorStore

    timer.wrap(Embedder, "embed_documents", "model (embed_documents)")
    timer.wrap(VectorStore, "upsert", "Chroma upsert")
    timer.wrap(VectorStore, "existing_ids", "Chroma existing ids (resume check)")
    timer.wrap(ingest_module, "_stored_vectors", "Chroma vector reads (dedupe)")
    timer.wrap(ingest_module, "_delete_stale", "Chroma stale deletes")
    timer.wrap_stream(ingest_module, "_pending_groups", "read + hash + diff")
    timer.wrap(ingest_module, "_keyword_documents", "BM25 tokenize")
    timer.wrap(KeywordIndex, "stage", "BM25 write (staged per group)")
    timer.wrap(KeywordIndex, "update", "BM25 apply + rebuild")
    timer.wrap_stream(ingest_module, "chunk_stream", "waiting for chunks")


def near_duplicate_experiment(index_dir: Path, corpus: Path, questions_file: Path) -> None:
    """Chunks near-duplicate skipping saves on an index, and recall with and without it."""
    import shutil

    import numpy as np

    from bench.common import first_answer_rank, load_questions, recall_table
    from newsrag.articles import iter_corpus
    from newsrag.chunking import NearDuplicates, PassageSignature, embed_text_for
    from newsrag.config import Settings
    from newsrag.embedding import Embedder
    from newsrag.manifest import Manifest
    from newsrag.retrieval import Retriever

    settings = Settings()
    manifest = Manifest.load(index_dir)
    if manifest.last_ingest.get("chunks_near_duplicate"):
        raise SystemExit(f"{index_dir} was built with near-duplicate skipping: need one without")
    order = [a.id for _, r in iter_corpus([corpus], settings=settings) for a in r.articles]
    embedder = Embedder.load(settings=settings)
    questions = load_questions(questions_file)
    recalls: dict[str, dict[int, float]] = {}
    with tempfile.TemporaryDirectory(prefix="newsrag-neardup-") as temporary:
        copy = Path(temporary) / "index"
        shutil.copytree(index_dir, copy, ignore=shutil.ignore_patterns("ingest.lock"))
        retriever = Retriever.open(Settings(index_dir=copy), embedder=embedder)
        store = retriever.store
        near = NearDuplicates(settings.near_duplicate_threshold)
        seen_texts: set[str] = set()
        skipped: dict[str, str] = {}  # chunk id -> the chunk whose vector it gets
        for article_id in order:
            record = manifest.articles.get(article_id)
            if record is None:
                continue
            stored = store.get(list(record.chunk_ids))
            for chunk_id in record.chunk_ids:
                item = stored[chunk_id]
                text = embed_text_for(item.article, item.chunk.text)
                if text in seen_texts:
                    continue  # an exact duplicate: embedded once either way
                seen_texts.add(text)
                signature = PassageSignature.of(item.chunk.text)
                if signature is None:
                    continue
                holder = near.find(signature)
                if holder is None:
                    near.add(chunk_id, signature)
                else:
                    skipped[chunk_id] = holder
        ranks_before = [
            first_answer_rank((h.chunk.text for h in retriever.search(q.question, 10)), q.answer)
            for q in questions
        ]
        if skipped:
            holders = sorted(set(skipped.values()))
            got = store.collection.get(ids=holders, include=["embeddings"])
            vectors = dict(zip(got["ids"], np.asarray(got["embeddings"]), strict=True))
            ids = list(skipped)
            store.collection.update(ids=ids, embeddings=[vectors[skipped[i]] for i in ids])
            check = store.collection.get(ids=ids[:1], include=["embeddings"])["embeddings"][0]
            assert np.allclose(check, vectors[skipped[ids[0]]]), "the patched vector did not stick"
        ranks_after = [
            first_answer_rank((h.chunk.text for h in retriever.search(q.question, 10)), q.answer)
            for q in questions
        ]
        recalls = {"without": recall_table(ranks_before), "with": recall_table(ranks_after)}
    total = manifest.chunk_count
    print(
        f"near-duplicate skipping on {index_dir}: {len(skipped)} of {total} chunks "
        f"({100 * len(skipped) / total:.2f}%) would reuse an earlier passage's vector"
    )
    rows = [
        [name, *(f"{value:.3f}" for value in table.values())] for name, table in recalls.items()
    ]
    print(markdown_table(["hybrid recall", *(f"@{k}" for k in recalls["with"])], rows))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_bench_arguments(parser)
    parser.add_argument("--articles", type=int, default=150, help="first N articles (0: all)")
    parser.add_argument("--profile", action="store_true", help="time each ingest stage")
    parser.add_argument("--no-write", action="store_true", help="do not write the JSON result")
    parser.add_argument("--near-duplicates", type=Path, metavar="INDEX", default=None,
                        help="measure near-duplicate skipping on this index instead")  # fmt: skip
    arguments = parser.parse_args(argv)
    if arguments.near_duplicates is not None:
        folder = bench_folder(arguments.bench, arguments.dataset)
        near_duplicate_experiment(
            arguments.near_duplicates, folder / "corpus.jsonl.gz", folder / "questions.jsonl"
        )
        return 0

    from newsrag.config import Settings
    from newsrag.embedding import Embedder
    from newsrag.ingest import ingest

    folder = bench_folder(arguments.bench, arguments.dataset)
    slices = Path("/work/bench-index/slices")
    corpus = slice_corpus(folder / "corpus.jsonl.gz", arguments.articles or None, slices)
    settings = Settings()
    embedder = Embedder.load(settings=settings)
    texts, _ = chunk_texts(corpus, settings, embedder)
    batch = settings.embedding_batch_size
    embedder.model.encode(texts[:8], batch_size=batch)  # warm-up: one-time costs out of the way
    print(f"{len(texts)} chunks of {corpus.name}; load {load_average()}", file=sys.stderr)

    loads = [load_average()]
    first_bare = bare_encode(embedder.model, texts, batch)
    loads.append(load_average())
    timer = StageTimer()
    if arguments.profile:
        profile_stages(timer)
    with tempfile.TemporaryDirectory(prefix="newsrag-bench-ingest-") as temporary:
        index_settings = Settings(index_dir=Path(temporary))
        children_before = os.times().children_user + os.times().children_system
        started = clock()
        report = ingest([corpus], settings=index_settings, progress=False, embedder=embedder)
        project = since(started)
        time.sleep(1.0)  # let the chunking worker be reaped so its CPU time is counted
        children = os.times().children_user + os.times().children_system - children_before
        timer.restore()
        loads.append(load_average())
        second_bare = bare_encode(embedder.model, texts, batch)
        loads.append(load_average())
        started = clock()
        again = ingest([corpus], settings=index_settings, progress=False, embedder=embedder)
        reingest = since(started)

    bare_seconds = (first_bare[0] + second_bare[0]) / 2
    bare_cpu = (first_bare[1] + second_bare[1]) / 2
    chunks = report.chunks_written
    assert chunks == len(texts), (chunks, len(texts))
    ratio = bare_seconds / project[0]
    cpu_ratio = bare_cpu / (project[1] + children)
    rows = [
        ["bare encode (1st)", chunks, f"{first_bare[0]:.1f}", f"{chunks / first_bare[0]:.2f}",
         f"{first_bare[1]:.1f}", loads[0]],
        ["project ingest", chunks, f"{project[0]:.1f}", f"{chunks / project[0]:.2f}",
         f"{project[1]:.1f} + {children:.1f} worker", loads[1]],
        ["bare encode (2nd)", chunks, f"{second_bare[0]:.1f}", f"{chunks / second_bare[0]:.2f}",
         f"{second_bare[1]:.1f}", loads[2]],
        ["re-ingest, unchanged", chunks, f"{reingest[0]:.2f}", "", f"{reingest[1]:.2f}", loads[3]],
    ]  # fmt: skip
    print(f"ingest overhead on {corpus.name}: {chunks} chunks ({report.chunks_embedded} embedded)")
    print(markdown_table(["run", "chunks", "seconds", "chunks/s", "CPU s", "load"], rows))
    print(
        f"\nproject / bare encode, chunks/s: {ratio:.3f} wall (mean of both bare runs), "
        f"{cpu_ratio:.3f} CPU; re-ingest {project[0] / reingest[0]:.0f}x faster than the first"
    )
    stages = {
        label: {"wall": round(total[0], 2), "cpu": round(total[1], 2), "calls": int(total[2])}
        for label, total in timer.totals.items()
    }
    if stages:
        stage_rows = [
            [label, f"{figures['wall']:.2f}", f"{100 * figures['wall'] / project[0]:.1f}%",
             f"{figures['cpu']:.2f}"]
            for label, figures in sorted(stages.items(), key=lambda item: -item[1]["wall"])
        ]  # fmt: skip
        print("\nwhere the project's ingest time went (main process; the worker chunks beside it)")
        print(markdown_table(["stage", "wall s", "of ingest", "CPU s"], stage_rows))
    if not arguments.no_write:
        path = write_results(
            f"ingest-{corpus.stem}",
            {
                "corpus": str(corpus),
                "chunks": chunks,
                "report": report.to_dict(),
                "reingest": again.to_dict(),
                "bare_seconds": [first_bare[0], second_bare[0]],
                "bare_cpu": [first_bare[1], second_bare[1]],
                "project_seconds": project[0],
                "project_cpu": project[1],
                "worker_cpu": children,
                "reingest_seconds": reingest[0],
                "ratio_wall": ratio,
                "ratio_cpu": cpu_ratio,
                "loads": loads,
                "stages": stages,
            },
        )
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
