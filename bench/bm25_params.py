"""BM25's k1 and b, side by side: answer-recall of BM25 alone and the default hybrid for each pair.

Usage (from the repo root):
    .venv/bin/python bench/bm25_params.py --index /work/bench-index/rtqa-dev --as-of \\
        --pair 1.5,0.75 --pair 1.2,0.75 --pair 0.9,0.4

For every --pair the index's stored BM25 documents are copied to a temporary folder (never into the
index) and the bm25s matrix is rebuilt there with that k1 and b (newsrag/keyword_build.py's
constants; 1.5 / 0.75 is the shipped bm25s default); the retriever then searches with that BM25
and the index's own dense side. The first pair is the baseline. Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    RECALL_KS,
    BenchDataError,
    add_bench_arguments,
    bench_settings,
    built_slice,
    markdown_table,
    recall_table,
)
from bench.retrieval import add_slice_arguments, mode_retriever, run_mode


def parse_pair(text: str) -> tuple[float, float]:
    """ "1.2,0.75" -> (1.2, 0.75)."""
    try:
        k1, b = (float(value) for value in text.split(","))
    except ValueError:
        raise SystemExit(f"--pair {text!r}: expected K1,B, e.g. --pair 1.2,0.75") from None
    return k1, b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_arguments(parser)
    add_slice_arguments(parser)
    parser.add_argument("--pair", action="append", default=[], help="K1,B (repeatable)")
    arguments = parser.parse_args(argv)
    pairs = [parse_pair(text) for text in arguments.pair] or [(1.5, 0.75)]

    import newsrag.keyword_build as keyword_build
    from newsrag.embedding import Embedder
    from newsrag.keyword import KEYWORD_SUBDIR, KeywordIndex
    from newsrag.retrieval import Retriever

    try:
        questions, index_dir = built_slice(arguments)
    except (BenchDataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    embedder = Embedder.load(settings=bench_settings(Path(".")))
    retriever = Retriever.open(bench_settings(index_dir), embedder=embedder)
    rows = []
    saved = keyword_build.K1, keyword_build.B
    try:
        for k1, b in pairs:
            with tempfile.TemporaryDirectory(prefix="newsrag-bm25-") as scratch:
                copy = Path(scratch)
                (copy / KEYWORD_SUBDIR).mkdir()
                shutil.copy(index_dir / KEYWORD_SUBDIR / "docs.sqlite", copy / KEYWORD_SUBDIR)
                keyword_build.K1, keyword_build.B = k1, b
                KeywordIndex(copy, load=False).rebuild()
                retriever.keyword = KeywordIndex(copy)
                for mode in ("keyword", "hybrid"):
                    ranks, _ = run_mode(
                        mode_retriever(retriever, mode), questions, mode, as_of=arguments.as_of
                    )
                    recall = recall_table(ranks)
                    label = "BM25 alone" if mode == "keyword" else "default hybrid"
                    rows.append([f"k1 {k1}, b {b}", label, *(recall[k] for k in RECALL_KS)])
    finally:
        keyword_build.K1, keyword_build.B = saved
    span = f"{arguments.questions_from or 'first'}..{arguments.questions_until or 'last'}"
    print(
        f"{arguments.dataset}: {len(questions)} answerable questions {span}, "
        f"{'with' if arguments.as_of else 'without'} as_of"
    )
    print(markdown_table(["BM25", "retriever", *(f"@{k}" for k in RECALL_KS)], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
