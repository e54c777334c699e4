"""HTTP load: N concurrent clients against /api/search and /api/ask of a real `newsrag serve`.

    python bench/load.py                       # 8 clients, 60 s per route, rtqa-dev index
    python bench/load.py --clients 4 --seconds 30 --routes search
    python bench/load.py --urls http://10.0.0.6:8001,http://10.0.0.7:8001 --routes search  # workers

Starts `newsrag serve --api-only` on a free loopback port over the bench index, warms it up, then
runs each route for a bounded time and reports requests/s, p50/p95 latency, errors (must be 0) and
the server's peak RSS (VmHWM). Results go to bench/results/load-<time>.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # after the path fix, so `python bench/load.py` works
    REPO_ROOT,
    add_bench_arguments,
    bench_folder,
    default_index_dir,
    load_questions,
    markdown_table,
    write_results,
)

ROUTES = {"search": "/api/search", "ask": "/api/ask"}


@dataclass
class RouteResult:
    """What one route's run measured."""

    route: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies) + len(self.errors)

    def percentile(self, share: float) -> float:
        """Latency at this share (0..1) in milliseconds, nearest rank."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
        return ordered[index] * 1000

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "seconds": round(self.seconds, 2),
            "requests": self.requests,
            "requests_per_second": round(self.requests / self.seconds, 2) if self.seconds else 0,
            "p50_ms": round(self.percentile(0.50), 1),
            "p95_ms": round(self.percentile(0.95), 1),
            "errors": len(self.errors),
            "error_samples": self.errors[:5],
        }


def print_table(results: Sequence[Any], clients: int) -> None:
    """The Markdown table of route results (requests, req/s, p50/p95, errors)."""
    rows = [
        [
            item["route"],
            clients,
            item["requests"],
            item["requests_per_second"],
            item["p50_ms"],
            item["p95_ms"],
            item["errors"],
        ]
        for item in (result.to_dict() for result in results)
    ]
    print(
        markdown_table(
            ["route", "clients", "requests", "req/s", "p50 ms", "p95 ms", "errors"], rows
        )
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_index(index_dir: Path, limit: float) -> None:
    """Poll `newsrag stats --index DIR` until it succeeds (another process may be building it)."""
    executable = shutil.which("newsrag") or str(Path(sys.executable).with_name("newsrag"))
    deadline = time.monotonic() + limit
    while True:
        result = subprocess.run(
            [executable, "stats", "--index", str(index_dir)], capture_output=True, text=True
        )
        if result.returncode == 0:
            return
        if time.monotonic() >= deadline:
            raise SystemExit(f"error: no usable index at {index_dir}: {result.stderr.strip()}")
        time.sleep(30)


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_server(index_dir: Path, port: int, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
    executable = shutil.which("newsrag") or str(Path(sys.executable).with_name("newsrag"))
    env = {**os.environ, "NEWSRAG_PROMPTS_DIR": str(REPO_ROOT / "prompts"), **extra_env}
    return subprocess.Popen(
        [executable, "serve", "--api-only", "--port", str(port), "--index", str(index_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_until_ready(process: subprocess.Popen[bytes], base_url: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode()[-2000:] if process.stderr else ""
            raise SystemExit(f"error: newsrag serve exited ({process.returncode}): {error}")
        try:
            if httpx.get(f"{base_url}/api/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise SystemExit(f"error: the server did not answer within {limit:.0f} s")


def payload(route: str, question: str) -> dict[str, Any]:
    return {"query": question} if route == "search" else {"question": question}


def run_route(
    base_url: str, route: str, questions: list[str], *, clients: int, seconds: float
) -> RouteResult:
    """Each client sends requests back to back until the time is up.

    base_url may list several workers, comma-separated: client n talks to worker n mod count
    (a round-robin balancer without a balancer process).
    """
    result = RouteResult(route=route)
    bases = [url.strip() for url in base_url.split(",") if url.strip()]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(number: int) -> None:
        position = number * 97  # clients start at different questions
        with httpx.Client(base_url=bases[number % len(bases)], timeout=120) as http:
            while time.monotonic() < stop_at:
                question = questions[position % len(questions)]
                position += 1
                started = time.perf_counter()
                try:
                    response = http.post(ROUTES[route], json=payload(route, question))
                    elapsed = time.perf_counter() - started
                    problem = (
                        None
                        if response.status_code == 200
                        else (f"{response.status_code}: {response.text[:200]}")
                    )
                except httpx.HTTPError as error:
                    elapsed, problem = time.perf_counter() - started, f"{type(error).__name__}"
                with lock:
                    if problem is None:
                        result.latencies.append(elapsed)
                    else:
                        result.errors.append(problem)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def run_workers(
    urls: str, routes: list[str], questions: list[str], *, clients: int, seconds: float
) -> int:
    """The routes against workers already running (each warmed up first); prints and saves."""
    for url in urls.split(","):
        for route in routes:
            run_route(url, route, questions, clients=1, seconds=0.1)
    results = [
        run_route(urls, route, questions, clients=clients, seconds=seconds) for route in routes
    ]
    print_table(results, clients)
    path = write_results(
        "load",
        {
            "command": " ".join(["python", "bench/load.py", *sys.argv[1:]]),
            "workers": urls.split(","),
            "clients": clients,
            "seconds_per_route": seconds,
            "cpus": os.cpu_count(),
            "results": [result.to_dict() for result in results],
        },
    )
    print(f"results: {path}")
    return 1 if any(result.errors for result in results) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_bench_arguments(parser)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--seconds", type=float, default=60, help="run time per route (60)")
    parser.add_argument("--routes", default="search,ask", help="comma list of: search, ask")
    parser.add_argument("--wait-index", type=float, default=0, help="wait this long for the index")
    parser.add_argument(
        "--max-concurrent-answers", type=int, default=None, help="server's answer slots"
    )
    parser.add_argument(
        "--urls",
        default="",
        help="comma list of running workers' base URLs (scale-out: no server is started; "
        "client n talks to worker n mod count)",
    )
    args = parser.parse_args(argv)
    routes = [name.strip() for name in args.routes.split(",") if name.strip()]
    unknown = [name for name in routes if name not in ROUTES]
    if unknown or args.clients < 1 or args.seconds <= 0:
        parser.error(f"--routes takes search and/or ask (not {unknown}); --clients/--seconds > 0")

    questions = [
        question.question
        for question in load_questions(bench_folder(args.bench, args.dataset) / "questions.jsonl")
    ]
    if args.urls:
        return run_workers(args.urls, routes, questions, clients=args.clients, seconds=args.seconds)
    index_dir = args.index or default_index_dir(args.dataset)
    wait_for_index(index_dir, args.wait_index)
    extra_env = {}
    if args.max_concurrent_answers:
        extra_env["NEWSRAG_MAX_CONCURRENT_ANSWERS"] = str(args.max_concurrent_answers)
    extra_env["NEWSRAG_API_KEY"] = ""  # loopback only; keep the client simple
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = start_server(index_dir, port, extra_env)
    try:
        wait_until_ready(process, base_url, limit=600)
        for route in routes:  # warm-up: first-use costs stay out of the numbers
            run_route(base_url, route, questions, clients=1, seconds=0.1)
        rss_ready = peak_rss_mb(process.pid)
        results = [
            run_route(base_url, route, questions, clients=args.clients, seconds=args.seconds)
            for route in routes
        ]
        rss_peak = peak_rss_mb(process.pid)
        health = httpx.get(f"{base_url}/api/health", timeout=30).json()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()

    print_table(results, args.clients)
    print(f"server peak RSS: {rss_peak:.0f} MB (after warm-up {rss_ready:.0f} MB)")
    print(
        f"index: {health['index']['articles']} articles, {health['index']['chunks']} chunks; "
        f"engine {health['engine']}; {os.cpu_count()} CPUs"
    )
    path = write_results(
        "load",
        {
            "command": " ".join(["python", "bench/load.py", *(argv or sys.argv[1:])]),
            "clients": args.clients,
            "seconds_per_route": args.seconds,
            "index": str(index_dir),
            "index_facts": {key: health["index"][key] for key in ("articles", "chunks")},
            "engine": health["engine"],
            "limits": health["limits"],
            "server_peak_rss_mb": round(rss_peak, 1),
            "server_rss_after_warmup_mb": round(rss_ready, 1),
            "cpus": os.cpu_count(),
            "results": [result.to_dict() for result in results],
        },
    )
    print(f"results: {path}")
    return 1 if any(result.errors for result in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
