"""Peak memory of a first ingest: N articles against a synthetic corpus FACTOR times as large.

Usage (from the repo root):
    .venv/bin/python bench/ingest_memory.py                       # 300 rtqa-2022 articles vs 3,000
    .venv/bin/python bench/ingest_memory.py --articles 100 --factor 10 --backend transformer

Each ingest is a fresh `newsrag ingest` process into an empty index; its peak resident memory
is the kernel's ru_maxrss for that process (os.wait4), so the figure includes the model, Chroma
and everything else the command holds. The synthetic corpus is the sample FACTOR times: copy 0
is the sample itself, copy k > 0 gets new ids and URLs, a numbered title, and one word in six
replaced by another word of the sample (so neither exact nor near-duplicate skipping applies
and every copy is embedded like new text). `--backend static` (default) embeds with the
distilled static vectors (NEWSRAG_EMBEDDING_BACKEND=static) so a 10x corpus ingests in
minutes on a small machine; the transformer model is still loaded by the process (the static
vectors are distilled from it), so the memory of everything but the model's activations is
the same as with the transformer. The distilled vectors are made once, beforehand, and copied
into each index, so distilling is not part of either figure. Nothing is written to the repo but
a results JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO_ROOT, add_bench_arguments, bench_folder, write_results

WORD_STRIDE = 6  # one word in this many is replaced in each synthetic copy


def read_sample(corpus: Path, count: int) -> list[dict[str, Any]]:
    """The first count articles of a corpus.jsonl.gz."""
    rows: list[dict[str, Any]] = []
    with gzip.open(corpus, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                rows.append(json.loads(line))
            if len(rows) >= count:
                break
    return rows


def perturbed(
    row: dict[str, Any], copy: int, words: list[str], rng: random.Random
) -> dict[str, Any]:
    """Copy `copy` of an article: new id and URL, numbered title, one word in six replaced."""
    if copy == 0:
        return row
    tokens = str(row.get("text", "")).split(" ")
    for position in range(copy % WORD_STRIDE, len(tokens), WORD_STRIDE):
        tokens[position] = rng.choice(words)
    return {
        **row,
        "id": f"{row.get('id', '')}-copy{copy}",
        "url": f"{row.get('url') or 'https://synthetic.test/a'}?copy={copy}",
        "title": f"{row.get('title', '')} ({copy})",
        "text": " ".join(tokens),
    }


def write_corpus(rows: list[dict[str, Any]], factor: int, path: Path) -> int:
    """The sample factor times (perturbed copies) as one JSONL file; returns the article count."""
    rng = random.Random(20221)
    words = sorted(
        {word for row in rows for word in str(row.get("text", "")).split() if word.isalpha()}
    )
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for copy in range(factor):
            for row in rows:
                handle.write(json.dumps(perturbed(row, copy, words, rng)) + "\n")
                count += 1
    return count


def run_ingest(
    corpus: Path, index_dir: Path, environment: dict[str, str], code: Path = REPO_ROOT
) -> dict[str, Any]:
    """`newsrag ingest` in a fresh process: its report, peak RSS and wall seconds."""
    command = [sys.executable, "-m", "newsrag.cli", "ingest", str(corpus), "-q", "--json"]
    command += ["--index", str(index_dir)]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=code, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    output = process.stdout.read()
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"ingest failed ({process.returncode}): {errors.decode()[-2000:]}")
    report = json.loads(output.decode())
    return {"peak_rss_mb": usage.ru_maxrss / 1024, "seconds": round(seconds, 1), "report": report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_bench_arguments(parser, dataset="rtqa-2022")
    parser.add_argument("--articles", type=int, default=300, help="articles in the sample")
    parser.add_argument("--factor", type=int, default=10, help="size of the synthetic corpus")
    parser.add_argument("--backend", choices=["static", "transformer"], default="static")
    parser.add_argument(
        "--code",
        type=Path,
        default=REPO_ROOT,
        help="checkout whose newsrag is measured (e.g. another branch's worktree, for before/after)",
    )
    arguments = parser.parse_args()

    folder = bench_folder(arguments.bench, arguments.dataset)
    rows = read_sample(folder / "corpus.jsonl.gz", arguments.articles)
    environment = {**os.environ, "NEWSRAG_EMBEDDING_BACKEND": arguments.backend}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(arguments.code.resolve()), os.environ.get("PYTHONPATH")])
    )
    results: dict[str, Any] = {
        "dataset": arguments.dataset,
        "backend": arguments.backend,
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="newsrag-memory-") as work:
        work_dir = Path(work)
        cache_source = None
        if arguments.backend == "static":  # distil once, outside the measured runs
            warm = work_dir / "warm.jsonl"
            write_corpus(rows[:2], 1, warm)
            run_ingest(warm, work_dir / "warm-index", environment, arguments.code)
            cache_source = work_dir / "warm-index" / "embedder"
        for factor in (1, arguments.factor):
            corpus = work_dir / f"corpus-x{factor}.jsonl"
            count = write_corpus(rows, factor, corpus)
            index_dir = work_dir / f"index-x{factor}"
            if cache_source is not None:
                shutil.copytree(cache_source, index_dir / "embedder")
            measured = run_ingest(corpus, index_dir, environment, arguments.code)
            report = measured["report"]
            run = {
                "factor": factor,
                "articles": count,
                "characters": sum(len(str(row.get("text", ""))) for row in rows) * factor,
                "chunks": report["total_chunks"],
                "chunks_embedded": report["chunks_embedded"],
                "peak_rss_mb": round(measured["peak_rss_mb"], 1),
                "seconds": measured["seconds"],
            }
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
    first, last = results["runs"][0], results["runs"][-1]
    results["growth"] = round(last["peak_rss_mb"] / first["peak_rss_mb"], 3)
    print("| corpus | articles | chunks (embedded) | peak RSS MB | seconds |")
    print("| --- | --- | --- | --- | --- |")
    for run in results["runs"]:
        print(
            f"| x{run['factor']} | {run['articles']:,} | {run['chunks']:,} "
            f"({run['chunks_embedded']:,}) | {run['peak_rss_mb']:,.0f} | {run['seconds']} |"
        )
    print(f"peak RSS x{arguments.factor} / x1 = {results['growth']}")
    print(f"results: {write_results('ingest-memory', results)}")


if __name__ == "__main__":
    main()
