"""Scale-out end to end: a real `chroma run` server, API workers with folders of their own, and
ingests from other processes; nothing is shared but the Chroma server."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO_ROOT, SEEDS_DIR, free_port
from tests.test_scale_out import EXTRA_ARTICLE

REFRESH_SECONDS = 2.0
LEASE_SECONDS = 3.0
BIN = Path(sys.executable).parent
QUERY = "Zarqa desalination plant Basra"

pytestmark = pytest.mark.server


def wait_for(check: Any, *, limit: float, what: str) -> Any:
    """Poll check() until it returns something true, for at most limit seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    pytest.fail(f"{what} did not happen within {limit:.0f} s")


@pytest.fixture
def chroma(chroma_server: tuple[str, int]) -> dict[str, str]:
    """The environment that points newsrag processes at a real Chroma server (conftest)."""
    host, port = chroma_server
    return {
        **os.environ,
        "NEWSRAG_CHROMA_HOST": host,
        "NEWSRAG_CHROMA_PORT": str(port),
        "NEWSRAG_CACHE_REFRESH_SECONDS": str(REFRESH_SECONDS),
        "NEWSRAG_INGEST_LEASE_SECONDS": str(LEASE_SECONDS),
        "NEWSRAG_PROMPTS_DIR": str(REPO_ROOT / "prompts"),
        "HF_HUB_OFFLINE": "1",
    }


class Workers:
    """API worker processes (`newsrag serve --api-only`), each with its own index folder."""

    def __init__(self, environment: dict[str, str], root: Path) -> None:
        self.environment, self.root = environment, root
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.urls: dict[str, str] = {}

    def start(self, name: str, **extra: str) -> subprocess.Popen[bytes]:
        port = free_port()
        log = (self.root / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [
                str(BIN / "newsrag"),
                "serve",
                "--api-only",
                "--port",
                str(port),
                "--index",
                str(self.root / name),
            ],
            env={**self.environment, **extra},
            stdout=log,
            stderr=log,
        )
        self.processes[name], self.urls[name] = process, f"http://127.0.0.1:{port}"
        return process

    def ready(self, name: str) -> None:
        def answers() -> bool:
            if self.processes[name].poll() is not None:
                pytest.fail(f"worker {name} exited: {self.log(name)[-2000:]}")
            try:
                return httpx.get(self.urls[name] + "/api/health", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answers, limit=240, what=f"worker {name} answering")

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def keyword_texts(self, name: str) -> list[str]:
        """The text of every keyword-only hit for QUERY (the BM25 cache alone answers)."""
        response = httpx.post(
            self.urls[name] + "/api/search",
            json={"query": QUERY, "k": 5, "mode": "keyword"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        return [hit["chunk"]["text"] for hit in response.json()["hits"]]

    def health(self, name: str) -> dict[str, Any]:
        return httpx.get(self.urls[name] + "/api/health", timeout=30).json()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def ingest(
    environment: dict[str, str], index_dir: Path, corpus: Path, *flags: str
) -> subprocess.CompletedProcess[str]:
    """`newsrag ingest` from a process (and folder) of its own: another machine."""
    return subprocess.run(
        [str(BIN / "newsrag"), "ingest", str(corpus), "--index", str(index_dir), *flags],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def documents(index_dir: Path) -> dict[str, str]:
    with sqlite3.connect(index_dir / "keyword" / "docs.sqlite") as connection:
        return dict(connection.execute("SELECT chunk_id, tokens FROM docs"))


def after_refresh(finished: float) -> None:
    """Wait out one refresh interval from the moment the ingest returned."""
    time.sleep(max(0.0, finished + REFRESH_SECONDS + 0.2 - time.monotonic()))


def test_workers_follow_ingests_from_another_machine(chroma: dict[str, str], tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in SEEDS_DIR.glob("*.txt"):
        shutil.copy(path, corpus / path.name)
    ingester = tmp_path / "ingest-machine"
    first = ingest(chroma, ingester, corpus)
    assert first.returncode == 0, first.stderr
    workers = Workers(chroma, tmp_path)
    try:
        workers.start("a")
        workers.start("b")
        for name in ("a", "b"):
            workers.ready(name)
            assert "building the BM25 cache" in workers.log(name)
            assert not (tmp_path / name / "chroma").exists()  # vectors only on the server
            assert not any("Zarqa" in text for text in workers.keyword_texts(name))

        # An ingest from a third process: each worker's first search one interval later has it.
        (corpus / "zarqa.txt").write_text(EXTRA_ARTICLE, encoding="utf-8")
        added = ingest(chroma, ingester, corpus)
        finished = time.monotonic()
        assert added.returncode == 0, added.stderr
        after_refresh(finished)
        for name in ("a", "b"):
            assert any("Zarqa" in text for text in workers.keyword_texts(name)), name
            sync = workers.health(name)["index_sync"]
            assert sync["served_version"] == sync["server_version"] == 2 and sync["behind"] == 0

        # A worker started now builds its cache from the server alone; killed mid-build, it
        # restarts into a clean build.
        marker = tmp_path / "paused"
        doomed = workers.start(
            "c",
            NEWSRAG_TEST_PAUSE_AT="cache_build",
            NEWSRAG_TEST_PAUSE_MARKER=str(marker),
        )
        wait_for(marker.exists, limit=240, what="worker c reaching its cache build")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=15)
        assert not (tmp_path / "c" / "server-sync.json").exists()
        workers.start("c")
        workers.ready("c")
        assert any("Zarqa" in text for text in workers.keyword_texts("c"))
        # Its BM25 documents are the ingesting machine's, token for token.
        assert documents(tmp_path / "c") == documents(ingester)

        # Deleting the article (ingest --prune) removes it from every worker's cache.
        (corpus / "zarqa.txt").unlink()
        pruned = ingest(chroma, ingester, corpus, "--prune")
        finished = time.monotonic()
        assert pruned.returncode == 0 and "1 removed" in pruned.stderr + pruned.stdout
        after_refresh(finished)
        for name in ("a", "b", "c"):
            assert not any("Zarqa" in text for text in workers.keyword_texts(name)), name
            health = workers.health(name)
            assert health["index"]["articles"] == 2 and health["index_sync"]["behind"] == 0
            assert documents(tmp_path / name) == documents(ingester), name

        # `ingest --rebuild` elsewhere drops the collection and makes a new one of the same name
        # (a new id on the server): the running workers find it again, dense search included.
        rebuilt = ingest(chroma, ingester, corpus, "--rebuild")
        finished = time.monotonic()
        assert rebuilt.returncode == 0, rebuilt.stderr
        after_refresh(finished)
        for name in ("a", "b", "c"):
            response = httpx.post(
                workers.urls[name] + "/api/search",
                json={"query": "coalition airstrikes near Makhmour", "k": 3, "mode": "hybrid"},
                timeout=60,
            )
            assert response.status_code == 200, (name, response.text)
            assert response.json()["hits"], name
            assert workers.health(name)["index_sync"]["behind"] == 0, name
    finally:
        workers.stop()


def test_one_ingest_at_a_time_across_machines_and_a_dead_ones_lease_expires(
    chroma: dict[str, str], tmp_path: Path
):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in SEEDS_DIR.glob("*.txt"):
        shutil.copy(path, corpus / path.name)
    marker = tmp_path / "paused"
    holder = subprocess.Popen(
        [str(BIN / "newsrag"), "ingest", str(corpus), "--index", str(tmp_path / "machine-1")],
        env={
            **chroma,
            "NEWSRAG_TEST_PAUSE_AT": "embedding",
            "NEWSRAG_TEST_PAUSE_MARKER": str(marker),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(marker.exists, limit=240, what="the first ingest writing its first group")
        refused = ingest(chroma, tmp_path / "machine-2", corpus)
        assert refused.returncode == 3, refused.stderr
        assert f"pid {holder.pid}" in refused.stderr and "ingest lease" in refused.stderr
        holder.send_signal(signal.SIGKILL)  # dies holding the lease: nobody releases it
        holder.wait(timeout=15)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=15)

    def taken_over() -> subprocess.CompletedProcess[str] | None:
        result = ingest(chroma, tmp_path / "machine-2", corpus)
        return result if result.returncode == 0 else None

    done = wait_for(taken_over, limit=120, what="the dead ingest's lease expiring")
    assert "added" in done.stderr + done.stdout


def test_local_files_that_are_no_copy_of_the_server_are_never_served(
    chroma: dict[str, str], tmp_path: Path
) -> None:
    from newsrag.config import Settings
    from newsrag.manifest import Manifest
    from newsrag.scale_out import sync_worker_cache
    from newsrag.store import StoreMissingError

    # What an embedded-mode index leaves in its folder, then the same folder pointed at a server.
    Manifest(model="packaged:all-MiniLM-L6-v2", dimension=384).save(tmp_path / "old-index")
    settings = Settings(
        index_dir=tmp_path / "old-index",
        chroma_host="127.0.0.1",
        chroma_port=int(chroma["NEWSRAG_CHROMA_PORT"]),
    )
    with pytest.raises(StoreMissingError, match="holds no newsrag index"):
        sync_worker_cache(settings)


def test_deleting_from_the_library_publishes_to_the_server(
    chroma: dict[str, str], tmp_path: Path, embedder
) -> None:
    from newsrag.config import Settings
    from newsrag.ingest import ingest as run_ingest
    from newsrag.library import delete_article
    from newsrag.manifest import Manifest
    from newsrag.server_manifest import ServerManifest
    from newsrag.store import VectorStore

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in SEEDS_DIR.glob("*.txt"):
        shutil.copy(path, corpus / path.name)
    server = {"chroma_host": "127.0.0.1", "chroma_port": int(chroma["NEWSRAG_CHROMA_PORT"])}
    machine = Settings(corpus_dir=corpus, index_dir=tmp_path / "machine-1", **server)
    run_ingest([corpus], settings=machine, progress=False, embedder=embedder)
    # Another machine's web UI deletes one article: its folder syncs first, under the lease.
    other = Settings(corpus_dir=corpus, index_dir=tmp_path / "machine-2", **server)
    gone = sorted(Manifest.load(machine.index_dir).articles)[0]
    delete_article(gone, settings=other)
    records = ServerManifest(VectorStore.open(settings=other))
    identity = records.identity()
    assert identity is not None and identity.version == 2
    assert gone not in records.articles() and len(records.articles()) == 1
    assert records.changes(after=1, upto=2)[1] == [gone]  # a tombstone for workers behind
    assert VectorStore.open(settings=other).ids_for_articles([gone]) == []
