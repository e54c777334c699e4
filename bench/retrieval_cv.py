"""Choose retrieval settings by cross-validation across question slices (never by one slice).

Usage (from the repo root):
    .venv/bin/python bench/retrieval_cv.py --index /work/bench-index/rtqa-dev --as-of \\
        --grid recency_weight=0,0.1,0.2 --grid fusion=convex,zscore --base candidates=100

Folds are the ISO weeks of the question dates (rtqa's weekly quizzes: one fold a week) or the
--slice FROM..UNTIL ranges given. Every combination of the --grid values (on top of --base) is
run on every fold over one cache of query embeddings and candidate lists (the model runs once
per question; bench/results/cache/). For each fold, the combination with the best mean score
on the *other* folds is picked and its figure on the left-out fold reported (leave-one-fold-out);
the combination best on all folds together is the one to make the default. Score: the mean of
answer-recall@1 and @5.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    RECALL_KS,
    BenchDataError,
    BenchQuestion,
    add_bench_arguments,
    bench_settings,
    built_slice,
    cache_path,
    cached_retriever,
    load_call_cache,
    markdown_table,
    questions_between,
    recall_table,
    save_call_cache,
    write_results,
)
from bench.retrieval import add_slice_arguments, parse_overrides, run_mode


def parse_grid(pairs: list[str]) -> dict[str, list[str]]:
    """--grid name=v1,v2 pairs -> {name: [v1, v2]} (order kept: the first value is the baseline)."""
    grid: dict[str, list[str]] = {}
    for pair in pairs:
        name, separator, values = pair.partition("=")
        if not separator or not name.strip() or not values.strip():
            raise SystemExit(f"--grid {pair!r}: expected name=v1,v2,..., e.g. --grid rrf_k=20,60")
        grid[name.strip()] = [value.strip() for value in values.split(",") if value.strip()]
    return grid


def parse_slices(texts: list[str]) -> list[tuple[str, str]]:
    """--slice FROM..UNTIL texts -> (from, until) pairs of ISO dates."""
    slices = []
    for text in texts:
        start, separator, end = text.partition("..")
        if not separator:
            raise SystemExit(f"--slice {text!r}: expected FROM..UNTIL, e.g. 2022-07-01..2022-07-07")
        slices.append((start.strip(), end.strip()))
    return slices


def folds_of(
    questions: list[BenchQuestion], slices: list[tuple[str, str]]
) -> dict[str, list[BenchQuestion]]:
    """Questions per fold: the given slices, else one fold per ISO week of the question dates."""
    if slices:
        return {
            f"{start}..{end}": questions_between(questions, start, end) for start, end in slices
        }
    weeks: dict[str, list[BenchQuestion]] = {}
    for question in sorted(questions, key=lambda question: question.date):
        year, week, _ = dt.date.fromisoformat(question.date).isocalendar()
        weeks.setdefault(f"{year}-W{week:02d}", []).append(question)
    return weeks


def score(recall: dict[int, float]) -> float:
    """What the selection maximises: the mean of @1 and @5."""
    return (recall[1] + recall[5]) / 2


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; returns the process exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_bench_arguments(parser)
    add_slice_arguments(parser)
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2")
    parser.add_argument("--base", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--slice", action="append", default=[], metavar="FROM..UNTIL")
    parser.add_argument("--top", type=int, default=12, help="combinations to list")
    arguments = parser.parse_args(argv)

    from newsrag.embedding import Embedder
    from newsrag.retrieval import Retriever

    try:
        questions, index_dir = built_slice(arguments)
    except (BenchDataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    folds = {
        name: group
        for name, group in folds_of(questions, parse_slices(arguments.slice)).items()
        if group
    }
    grid = parse_grid(arguments.grid)
    base = parse_overrides(arguments.base)
    names = list(grid)
    combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]

    embedder = Embedder.load(settings=bench_settings(Path(".")))
    opened = Retriever.open(bench_settings(index_dir, **base), embedder=embedder)
    cache_file = cache_path(index_dir)
    memory = {} if arguments.no_cache else load_call_cache(cache_file)
    shared = cached_retriever(opened, memory)
    results: list[dict[str, Any]] = []
    for number, combo in enumerate(combos, start=1):
        settings = bench_settings(index_dir, **base, **combo)
        retriever = type(shared)(
            settings=settings,
            embedder=shared.embedder,
            store=shared.store,
            keyword=shared.keyword,
        )
        per_fold = {}
        for name, group in folds.items():
            ranks, _ = run_mode(retriever, group, "hybrid", as_of=arguments.as_of)
            per_fold[name] = recall_table(ranks)
        results.append({"settings": combo, "folds": per_fold})
        if number == 1 or number % 20 == 0:
            print(f"{number}/{len(combos)} combinations", file=sys.stderr)
            save_call_cache(cache_file, memory)
    if not arguments.no_cache:
        save_call_cache(cache_file, memory)

    sizes = {name: len(group) for name, group in folds.items()}
    total = sum(sizes.values())

    def pooled(result: dict[str, Any], names: list[str]) -> dict[int, float]:
        count = sum(sizes[name] for name in names)
        return {k: sum(result["folds"][n][k] * sizes[n] for n in names) / count for k in RECALL_KS}

    for result in results:
        result["all"] = pooled(result, list(folds))
    held_out_rows = []
    chosen_recalls = []
    for name in folds:
        others = [other for other in folds if other != name]
        best = max(results, key=lambda result: score(pooled(result, others)))
        chosen_recalls.append((sizes[name], best["folds"][name]))
        held_out_rows.append(
            [name, sizes[name], str(best["settings"]), *(best["folds"][name][k] for k in RECALL_KS)]
        )
    held_out = {
        k: sum(size * recall[k] for size, recall in chosen_recalls) / total for k in RECALL_KS
    }
    ranked = sorted(results, key=lambda result: -score(result["all"]))
    print(
        f"{arguments.dataset}: {total} questions in {len(folds)} folds, "
        f"{'with' if arguments.as_of else 'without'} as_of; base {base}"
    )
    print()
    print("Leave-one-fold-out (settings chosen on the other folds):")
    print(
        markdown_table(
            ["fold", "questions", "chosen", *(f"@{k}" for k in RECALL_KS)], held_out_rows
        )
    )
    print("pooled held-out: " + " ".join(f"@{k} {held_out[k]:.3f}" for k in RECALL_KS))
    print(
        "baseline (first grid values): "
        + " ".join(f"@{k} {results[0]['all'][k]:.3f}" for k in RECALL_KS)
    )
    print()
    print("Best combinations on all folds:")
    rows = [
        [
            str(result["settings"]),
            *(result["all"][k] for k in RECALL_KS),
            f"{score(result['all']):.3f}",
        ]
        for result in ranked[: arguments.top]
    ]
    print(markdown_table(["settings", *(f"@{k}" for k in RECALL_KS), "score"], rows))
    path = write_results(
        f"retrieval-cv-{arguments.dataset}",
        {
            "dataset": arguments.dataset,
            "index": str(index_dir),
            "as_of": arguments.as_of,
            "base": base,
            "grid": grid,
            "folds": sizes,
            "held_out": held_out,
            "held_out_rows": held_out_rows,
            "results": results,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
