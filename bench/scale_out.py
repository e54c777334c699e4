"""Scale-out bench: a worker's BM25 cache from a Chroma server, built whole vs refreshed after a
small ingest, and HTTP load on two workers behind a round-robin client.

    python bench/scale_out.py --source /work/bench-index/rtqa-dev --add 50 --load-seconds 20

Starts `chroma run` on a free loopback port, copies the source index's vectors, texts and
metadata to it unchanged (no re-embedding) and publishes its manifest as a server-mode ingest
would. Then: a worker cache built from the server alone (timed); its BM25 documents compared
with the source index's, token for token; `--add` articles of rtqa-2022 (ids not in the source)
ingested in server mode from another folder; the first worker's incremental refresh (timed)
against a full build at the new version (timed); optionally two `newsrag serve` workers under
bench/load.py's clients. Results go to bench/results/scale-out-<time>.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import write_results  # after the path fix
from bench.load import free_port, run_route, start_server, wait_until_ready

ADD_SOURCE = Path("/work/shared/bench/rtqa-2022/corpus.jsonl.gz")


def start_chroma(folder: Path, port: int) -> subprocess.Popen[bytes]:
    chroma = Path(sys.executable).with_name("chroma")
    process = subprocess.Popen(
        [str(chroma), "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("error: chroma run did not listen within 60 s")


def copy_index(source: Path, server: Any) -> int:
    """Copy every chunk (vector, text, metadata) of a local index to the server; publish it."""
    from newsrag.config import Settings
    from newsrag.manifest import Manifest
    from newsrag.server_manifest import ServerManifest
    from newsrag.store import VectorStore

    local = VectorStore.open(settings=Settings(index_dir=source), create=False)
    target = VectorStore.open(settings=server)
    ids = local.all_ids()
    for begin in range(0, len(ids), 1000):
        page = local.collection.get(
            ids=ids[begin : begin + 1000], include=["embeddings", "documents", "metadatas"]
        )
        target.collection.upsert(
            ids=page["ids"],
            embeddings=page["embeddings"],
            documents=page["documents"],
            metadatas=page["metadatas"],
        )
    ServerManifest(target).publish(Manifest.load(source))
    return len(ids)


def documents(index_dir: Path) -> dict[str, str]:
    with sqlite3.connect(index_dir / "keyword" / "docs.sqlite") as connection:
        return dict(connection.execute("SELECT chunk_id, tokens FROM docs"))


def new_articles(source: Path, count: int, folder: Path) -> Path:
    """The first `count` rtqa-2022 articles the source index does not hold, as one JSONL file."""
    from newsrag.manifest import Manifest

    known = set(Manifest.load(source).articles)
    path = folder / "added.jsonl"
    kept = 0
    with gzip.open(ADD_SOURCE, "rt", encoding="utf-8") as lines, path.open("w") as out:
        for line in lines:
            if kept >= count:
                break
            if json.loads(line)["id"] in known:
                continue
            out.write(line)
            kept += 1
    return path


def compare_recall(source: Path, worker: Path, port: int) -> dict[str, str]:
    """bench/retrieval.py's table over the server copy (server mode) and over the source (local)."""
    script = str(Path(__file__).with_name("retrieval.py"))
    tables: dict[str, str] = {}
    for mode, folder, extra in (
        ("server", worker, {"NEWSRAG_CHROMA_HOST": "127.0.0.1", "NEWSRAG_CHROMA_PORT": str(port)}),
        ("local", source, {}),
    ):
        environment = {
            key: value for key, value in os.environ.items() if key != "NEWSRAG_CHROMA_HOST"
        }
        done = subprocess.run(
            [sys.executable, script, "--index", str(folder), "--no-cache", "--no-write"],
            env={**environment, **extra},
            capture_output=True,
            text=True,
            timeout=3600,
        )
        tables[mode] = done.stdout if done.returncode == 0 else f"failed: {done.stderr[-2000:]}"
        print(f"bench/retrieval.py, {mode} mode ({folder}):\n{tables[mode]}")
    return tables


def timed_sync(settings: Any) -> tuple[float, str]:
    from newsrag.worker_cache import WorkerCache

    started = time.perf_counter()
    line = WorkerCache(settings).sync(progress=False)
    return time.perf_counter() - started, line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=Path("/work/bench-index/rtqa-dev"))
    parser.add_argument("--add", type=int, default=50, help="articles ingested after the copy")
    parser.add_argument("--load-seconds", type=float, default=0, help="0: no load run")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--recall",
        action="store_true",
        help="also run bench/retrieval.py on the copied index in server mode and on the source",
    )
    args = parser.parse_args(argv)

    from newsrag.config import Settings
    from newsrag.embedding import Embedder
    from newsrag.ingest import ingest
    from newsrag.keyword import KeywordIndex

    work = Path(tempfile.mkdtemp(prefix="scale-out-bench-"))
    port = free_port()
    chroma = start_chroma(work / "chroma-data", port)
    results: dict[str, Any] = {
        "command": " ".join(["python", "bench/scale_out.py", *(argv or sys.argv[1:])])
    }
    server = {"chroma_host": "127.0.0.1", "chroma_port": port}
    workers: list[subprocess.Popen[bytes]] = []
    try:
        started = time.perf_counter()
        chunks = copy_index(args.source, Settings(index_dir=work / "copier", **server))
        results["copy"] = {"chunks": chunks, "seconds": round(time.perf_counter() - started, 1)}
        print(
            f"copied {chunks} chunks of {args.source} to the server in {results['copy']['seconds']} s"
        )

        first = Settings(index_dir=work / "worker-1", **server)
        seconds, line = timed_sync(first)
        same = documents(first.index_dir) == documents(args.source)
        results["full_build"] = {
            "seconds": round(seconds, 2),
            "line": line,
            "documents_identical": same,
        }
        print(
            f"full build: {line} ({seconds:.2f} s); BM25 documents identical to the source: {same}"
        )
        source_bm25 = KeywordIndex(args.source)
        worker_bm25 = KeywordIndex(first.index_dir)
        from bench.common import load_questions

        questions = load_questions(Path("/work/shared/bench/rtqa-dev/questions.jsonl"))
        equal = sum(
            source_bm25.search(item.question, limit=100)
            == worker_bm25.search(item.question, limit=100)
            for item in questions
        )
        results["bm25_equal_rankings"] = {"equal": equal, "questions": len(questions)}
        print(
            f"BM25 top-100 identical (ids and scores) for {equal}/{len(questions)} rtqa-dev questions"
        )

        if args.recall:
            results["recall"] = compare_recall(args.source, first.index_dir, port)
        if args.add > 0:
            added = new_articles(args.source, args.add, work)
            embedder = Embedder.load(settings=Settings())
            ingester = Settings(index_dir=work / "ingest-machine", **server)
            started = time.perf_counter()
            report = ingest([added], settings=ingester, progress=False, embedder=embedder)
            results["ingest"] = {
                **report.to_dict(),
                "wall_seconds": round(time.perf_counter() - started, 1),
            }
            print(f"server-mode ingest from another folder: {report.summary()}")

            seconds, line = timed_sync(first)
            results["incremental_refresh"] = {"seconds": round(seconds, 2), "line": line}
            print(f"incremental refresh: {line} ({seconds:.2f} s)")
            started = time.perf_counter()
            KeywordIndex(first.index_dir, load=False).rebuild()
            rebuild = time.perf_counter() - started
            results["local_bm25_rebuild_seconds"] = round(rebuild, 2)
            print(f"  of which rebuilding the local BM25 matrix alone takes {rebuild:.2f} s")
            second = Settings(index_dir=work / "worker-2", **server)
            seconds, line = timed_sync(second)
            results["full_build_after"] = {"seconds": round(seconds, 2), "line": line}
            print(f"full build at the new version: {line} ({seconds:.2f} s)")
            same = (
                documents(first.index_dir)
                == documents(second.index_dir)
                == documents(ingester.index_dir)
            )
            results["refreshed_equals_rebuilt"] = same
            print(f"refreshed cache == rebuilt cache == ingesting machine's BM25: {same}")

            if args.load_seconds > 0:
                environment = {
                    "NEWSRAG_CHROMA_HOST": "127.0.0.1",
                    "NEWSRAG_CHROMA_PORT": str(port),
                    "NEWSRAG_API_KEY": "",
                }
                urls = []
                for folder in (first.index_dir, second.index_dir):
                    worker_port = free_port()
                    workers.append(start_server(folder, worker_port, environment))
                    urls.append(f"http://127.0.0.1:{worker_port}")
                for process, url in zip(workers, urls, strict=True):
                    wait_until_ready(process, url, limit=600)
                    run_route(url, "search", [questions[0].question], clients=1, seconds=0.1)
                texts = [item.question for item in questions]
                result = run_route(
                    ",".join(urls), "search", texts, clients=args.clients, seconds=args.load_seconds
                )
                results["load"] = {
                    "workers": len(urls),
                    "clients": args.clients,
                    **result.to_dict(),
                }
                print(
                    f"load, /api/search on 2 workers, {args.clients} clients round-robin, "
                    f"{args.load_seconds:.0f} s: {result.to_dict()}"
                )
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        chroma.terminate()
        chroma.wait(timeout=20)
    results["cpus"] = os.cpu_count()
    results["work_folder"] = str(work)
    print(f"results: {write_results('scale-out', results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
