"""Sentence-level dense scores beside the passage embedding: does max-over-sentences help retrieval?

Every sentence of every stored passage is embedded once (with its article's title in front, so a
sentence keeps its topic) and cached under bench/results/cache/. A passage's sentence score is the
cosine of its best sentence with the question. The dense side of the default hybrid then becomes
    mix × passage cosine + (1 − mix) × best-sentence cosine
(mix 1 is today's default), fused with BM25 and the recency prior by the retriever's own code.
With --answerability it asks instead whether the best sentence's cosine tells answerable questions
from unanswerable ones (a refusal signal): its AUC, and the share of unanswerable questions refused
at the threshold that refuses at most 15% of the answerable ones.

Usage (from the repo root):
    .venv/bin/python bench/sentence_dense.py --index /work/bench-index/rtqa-dev --as-of \\
        --mix 1,0.75,0.5,0.25,0 --dense-weight 1,2
    .venv/bin/python bench/sentence_dense.py --index /work/bench-index/rtqa-dev --answerability
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.common import (
    RECALL_KS,
    RESULTS_DIR,
    BenchDataError,
    add_bench_arguments,
    bench_folder,
    bench_settings,
    built_slice,
    cache_path,
    cached_retriever,
    load_call_cache,
    load_questions,
    markdown_table,
    questions_between,
    recall_table,
    save_call_cache,
)
from bench.retrieval import add_slice_arguments, first_answer_rank
from bench.retrieval_cv import folds_of

SEARCH_DEPTH = 10
MIN_SENTENCE_CHARS = 25  # shorter pieces ("Read more.") join the next sentence


def sentence_texts(text: str, title: str) -> list[str]:
    """The passage's sentences, each with the article title in front (short ones joined on)."""
    from newsrag.sentences import split_sentences

    pieces: list[str] = []
    pending = ""
    for start, end in split_sentences(text):
        piece = (pending + " " + " ".join(text[start:end].split())).strip()
        if len(piece) < MIN_SENTENCE_CHARS:
            pending = piece
            continue
        pieces.append(piece)
        pending = ""
    if pending:
        if pieces:
            pieces[-1] = pieces[-1] + " " + pending
        else:
            pieces.append(pending)
    return [f"{title}. {piece}" if title else piece for piece in pieces]


def sentence_matrix(retriever: Any, index_dir: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(chunk ids, sentence vectors, owner chunk of each sentence), cached beside the call cache."""
    stamp = cache_path(index_dir).stem.removeprefix("calls-")
    path = RESULTS_DIR / "cache" / f"sentences-{stamp}.npz"
    if path.exists():
        saved = np.load(path, allow_pickle=False)
        return [str(item) for item in saved["ids"]], saved["vectors"], saved["owners"]
    chunk_ids = sorted(retriever.store.all_ids())
    texts: list[str] = []
    owners: list[int] = []
    for begin in range(0, len(chunk_ids), 500):
        batch = chunk_ids[begin : begin + 500]
        stored = retriever.store.get(batch)
        for offset, chunk_id in enumerate(batch):
            entry = stored.get(chunk_id)
            if entry is None:
                continue
            for sentence in sentence_texts(entry.chunk.text, entry.article.title):
                texts.append(sentence)
                owners.append(begin + offset)
    print(f"embedding {len(texts)} sentences of {len(chunk_ids)} passages ...", file=sys.stderr)
    started = time.perf_counter()
    vectors = retriever.embedder.embed_documents(texts, batch_size=64)
    seconds = time.perf_counter() - started
    print(f"  {seconds:.0f} s, {len(texts) / seconds:.1f} sentences/s", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        ids=np.array(chunk_ids),
        vectors=vectors.astype(np.float32),
        owners=np.array(owners, dtype=np.int32),
    )
    return chunk_ids, vectors, np.array(owners, dtype=np.int32)


def chunk_vectors(retriever: Any, chunk_ids: list[str]) -> np.ndarray:
    """The stored passage vectors, in chunk_ids order."""
    found: dict[str, np.ndarray] = {}
    for begin in range(0, len(chunk_ids), 2000):
        found |= retriever.store.vectors(chunk_ids[begin : begin + 2000])
    return np.stack([found[chunk_id] for chunk_id in chunk_ids])


def best_sentence_scores(
    query: np.ndarray, vectors: np.ndarray, owners: np.ndarray, size: int
) -> np.ndarray:
    """Per passage: the cosine of its best sentence with the query (−1 where it has none)."""
    similarities = vectors @ query
    best = np.full(size, -1.0, dtype=np.float32)
    np.maximum.at(best, owners, similarities)
    return best


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; returns the process exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_bench_arguments(parser)
    add_slice_arguments(parser)
    parser.add_argument(
        "--mix", default="1,0.75,0.5,0.25,0", help="passage share of the dense score"
    )
    parser.add_argument("--dense-weight", default="1", help="dense weights of the convex fusion")
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument(
        "--answerability",
        action="store_true",
        help="score the best sentence's cosine as a refusal signal instead",
    )
    arguments = parser.parse_args(argv)

    from newsrag.embedding import Embedder
    from newsrag.retrieval import Retriever

    try:
        questions, index_dir = built_slice(arguments)
    except (BenchDataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    embedder = Embedder.load(settings=bench_settings(Path(".")))
    plain = Retriever.open(bench_settings(index_dir), embedder=embedder)
    memory = load_call_cache(cache_path(index_dir))
    retriever = cached_retriever(plain, memory)
    chunk_ids, sentence_vectors, owners = sentence_matrix(plain, index_dir)
    passages = chunk_vectors(plain, chunk_ids)
    if arguments.answerability:
        folder = bench_folder(arguments.bench, arguments.dataset)
        every = questions_between(
            load_questions(folder / "questions.jsonl", answerable_only=False),
            arguments.questions_from,
            arguments.questions_until,
        )
        signals = [
            (question.answerable, retriever.embedder.embed_query(question.question))
            for question in every
        ]
        save_call_cache(cache_path(index_dir), memory)
        print(answerability_report(signals, sentence_vectors))
        return 0
    mixes = [float(value) for value in arguments.mix.split(",")]
    dense_weights = [float(value) for value in arguments.dense_weight.split(",")]

    results: dict[tuple[float, float], list[int | None]] = {}
    dense_alone: dict[float, list[int | None]] = {}
    for question in questions:
        text = question.question
        vector = retriever.embedder.embed_query(text)
        passage_scores = passages @ vector
        sentence_scores = best_sentence_scores(vector, sentence_vectors, owners, len(chunk_ids))
        keyword = retriever._keyword_candidates(
            text, retriever._query_terms(text), filters=_no_filters(), limit=arguments.candidates
        )
        terms = retriever._query_terms(text)
        as_of = _as_date(question.date) if arguments.as_of else None
        for mix in mixes:
            mixed = mix * passage_scores + (1 - mix) * sentence_scores
            top = np.argsort(-mixed)[: arguments.candidates]
            dense = [(chunk_ids[index], float(mixed[index])) for index in top]
            dense_alone.setdefault(mix, []).append(
                first_answer_rank(
                    (
                        entry.chunk.text
                        for entry in _in_order(retriever, [c for c, _ in dense[:SEARCH_DEPTH]])
                    ),
                    question.answer,
                )
            )
            for weight in dense_weights:
                settings = retriever.settings.model_copy(update={"dense_weight": weight})
                fused = type(retriever)(
                    settings=settings,
                    embedder=retriever.embedder,
                    store=retriever.store,
                    keyword=retriever.keyword,
                )
                hits = fused._fuse(
                    dense,
                    keyword,
                    mode="hybrid",
                    candidates=arguments.candidates,
                    limit=SEARCH_DEPTH,
                    terms=terms,
                    as_of=as_of,
                    consensus_on=as_of is None,
                )
                results.setdefault((mix, weight), []).append(
                    first_answer_rank((hit.chunk.text for hit in hits), question.answer)
                )
    save_call_cache(cache_path(index_dir), memory)

    print(
        f"{arguments.dataset}: {len(questions)} answerable questions "
        f"{arguments.questions_from or 'first'}..{arguments.questions_until or 'last'}, "
        f"{'with' if arguments.as_of else 'without'} as_of, {len(chunk_ids)} passages, "
        f"{len(owners)} sentences"
    )
    headers = ["dense side", *(f"@{k}" for k in RECALL_KS)]
    rows = [
        [f"dense alone, mix {mix}", *(recall_table(ranks)[k] for k in RECALL_KS)]
        for mix, ranks in dense_alone.items()
    ]
    rows += [
        [f"hybrid, mix {mix}, dense weight {weight}", *(recall_table(ranks)[k] for k in RECALL_KS)]
        for (mix, weight), ranks in results.items()
    ]
    print(markdown_table(headers, rows))
    folds = folds_of(questions, [])
    if len(folds) > 1 and len(results) > 1:
        print()
        print(leave_one_out(questions, folds, results))
    return 0


def answerability_report(
    signals: list[tuple[bool, np.ndarray]], sentence_vectors: np.ndarray
) -> str:
    """AUC of the best (and top-5 mean) sentence cosine, answerable against unanswerable, and
    the unanswerable share refused where at most 15% of the answerable ones are."""
    lines = []
    best = [(answerable, np.sort(sentence_vectors @ vector)[-5:]) for answerable, vector in signals]
    for name, reduce in (("best sentence", lambda top: top[-1]), ("top-5 mean", np.mean)):
        answerable = sorted(float(reduce(top)) for flag, top in best if flag)
        unanswerable = [float(reduce(top)) for flag, top in best if not flag]
        if not answerable or not unanswerable:
            return "needs answerable and unanswerable questions"
        lines.append(f"{name}: " + separation(answerable, unanswerable))
    return "\n".join(lines)


def separation(answerable: list[float], unanswerable: list[float], ceiling: float = 0.15) -> str:
    """AUC, and the unanswerable share below the threshold that refuses <= ceiling of answerable."""
    pairs = [1.0 if a > u else 0.5 if a == u else 0.0 for a in answerable for u in unanswerable]
    auc = sum(pairs) / len(pairs)
    ordered = sorted(answerable)
    threshold = ordered[int(ceiling * len(ordered))]
    refused = sum(1 for value in unanswerable if value < threshold) / len(unanswerable)
    return (
        f"AUC {auc:.3f} ({len(answerable)} answerable, {len(unanswerable)} unanswerable); "
        f"refuse below {threshold:.3f}: answerable refused "
        f"{sum(1 for value in answerable if value < threshold) / len(answerable):.3f}, "
        f"unanswerable refused {refused:.3f}"
    )


def leave_one_out(
    questions: list[Any], folds: dict[str, list[Any]], results: dict[Any, list[int | None]]
) -> str:
    """Each fold scored with the (mix, weight) best on the other folds (mean of @1 and @5)."""
    position = {question.id: index for index, question in enumerate(questions)}
    lines = []
    chosen_ranks: list[int | None] = []
    for name, group in folds.items():
        others = [q for other, members in folds.items() if other != name for q in members]

        def score(key: Any, members: list[Any] = others) -> float:
            ranks = [results[key][position[q.id]] for q in members]
            table = recall_table(ranks)
            return (table[1] + table[5]) / 2

        best = max(results, key=lambda key: (score(key), -list(results).index(key)))
        chosen_ranks += [results[best][position[q.id]] for q in group]
        lines.append(f"{name}: chose mix {best[0]}, dense weight {best[1]}")
    table = recall_table(chosen_ranks)
    lines.append("leave-one-week-out: " + " / ".join(f"@{k} {table[k]:.3f}" for k in RECALL_KS))
    return "\n".join(lines)


def _in_order(retriever: Any, chunk_ids: list[str]) -> list[Any]:
    stored = retriever.store.get(chunk_ids)
    return [stored[chunk_id] for chunk_id in chunk_ids if chunk_id in stored]


def _no_filters() -> Any:
    from newsrag.models import Filters

    return Filters()


def _as_date(text: str | None) -> Any:
    import datetime as dt

    return dt.date.fromisoformat(text) if text else None


if __name__ == "__main__":
    raise SystemExit(main())
