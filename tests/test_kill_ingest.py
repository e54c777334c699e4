"""An ingest big enough to chunk beside the model, killed during embedding, leaves nothing behind.

Issue 18, item 1: a forked chunking worker used to survive SIGKILL/SIGTERM of its ingest, keep the
inherited `ingest.lock` and block every later ingest. These tests fork a real `newsrag ingest` of
40 articles (over chunking.PARALLEL_MIN_ARTICLES), kill it while it embeds, and then assert that
no process it started survives and that an ingest started at once finishes consistent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newsrag import chunking
from newsrag.config import Settings
from newsrag.ingest import ingest
from newsrag.manifest import LOCK_NAME, IngestLockedError, ingest_lock
from tests.conftest import REPO_ROOT
from tests.test_check import assert_index_matches_corpus

ARTICLES = 40
WAIT_SECONDS = 300  # bound for the child to reach the stage on a loaded machine (not a timing test)


def write_corpus(folder: Path) -> Path:
    """40 short JSONL articles with ids (one or two chunks each)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "id": f"story-{number}",
            "title": f"Council of Town {number} approves budget",
            "date": f"2022-03-{number % 28 + 1:02d}",
            "source": "Test Wire",
            "text": f"The council of Town {number} approved a budget of {number} million on "
            f"Monday. Residents of district {number * 7} welcomed the plan, officials said. " * 3,
        }
        for number in range(ARTICLES)
    ]
    path = folder / "stories.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def descendants(pid: int) -> set[int]:
    """Every live process below pid (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents[int(entry.name)] = int(stat[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def start_paused_ingest(corpus: Path, index_dir: Path, marker: Path) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "NEWSRAG_TEST_PAUSE_AT": "embedding",
        "NEWSRAG_TEST_PAUSE_MARKER": str(marker),
        "NEWSRAG_TEST_PAUSE_SECONDS": "600",
        "HF_HUB_OFFLINE": "1",
    }
    # Small write groups: the pause comes after one group, with most articles still to embed.
    code = "import newsrag.ingest as i; i.WRITE_GROUP = 4; from newsrag.cli import main; main()"
    command = [sys.executable, "-c", code, "ingest", str(corpus), "-q", "--index", str(index_dir)]
    log = marker.with_suffix(".log").open("wb")
    return subprocess.Popen(
        command, env=environment, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
    )


def wait_for_marker(process: subprocess.Popen[bytes], marker: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not (marker.exists() and "embedding" in marker.read_text()):
        log = marker.with_suffix(".log")
        if process.poll() is not None:
            pytest.fail(f"ingest ended ({process.returncode}) early: {log.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"ingest did not reach embedding: {log.read_text()}")
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill_signal", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"]
)
def test_ingest_killed_during_embedding_leaves_no_process_and_no_lock(
    tmp_path: Path, embedder, kill_signal: signal.Signals
) -> None:
    assert ARTICLES >= chunking.PARALLEL_MIN_ARTICLES  # the worker path, not the inline one
    corpus = write_corpus(tmp_path / "corpus")
    settings = Settings(corpus_dir=corpus.parent, index_dir=tmp_path / "index")
    marker = tmp_path / "stages"
    process = start_paused_ingest(corpus.parent, settings.index_dir, marker)
    try:
        wait_for_marker(process, marker)
        below = descendants(process.pid)  # a forked chunking worker would be listed here
    finally:
        os.kill(process.pid, kill_signal)
        process.wait()
    assert process.returncode == -kill_signal
    deadline = time.monotonic() + 10  # let the kernel reap what a kill would take down
    while any(alive(pid) for pid in below) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in below if alive(pid)], "a process of the killed ingest survived"

    # At once, in this process: refused with IngestLockedError if anything still held the lock.
    report = ingest([corpus.parent], settings=settings, progress=False, embedder=embedder)
    assert report.total_articles == ARTICLES
    assert report.chunks_reused >= 4  # the group written before the kill is not embedded again
    assert_index_matches_corpus(settings, corpus.parent)


def hold_lock(index_dir: Path, recorded: str) -> subprocess.Popen[bytes]:
    """A live process holding the lock file while it names `recorded` as the holder."""
    code = (
        "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX);"
        "f.seek(0); f.truncate(); f.write(sys.argv[2]); f.flush(); print('held', flush=True);"
        "time.sleep(600)"
    )
    index_dir.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(index_dir / LOCK_NAME), recorded], stdout=subprocess.PIPE
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    return holder


def test_a_lock_whose_named_owner_is_gone_is_taken_over_with_a_note(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: this pid names no process now
    holder = hold_lock(tmp_path / "index", f"pid {gone.pid}")
    try:
        with ingest_lock(tmp_path / "index") as notes:
            assert len(notes) == 1 and f"pid {gone.pid}" in notes[0] and "took" in notes[0]
            assert (tmp_path / "index" / LOCK_NAME).read_text().startswith(f"pid {os.getpid()}")
        with ingest_lock(tmp_path / "index") as notes:  # the new lock file is a normal one
            assert notes == []
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_held_by_a_live_owner_is_refused(tmp_path: Path) -> None:
    holder = hold_lock(tmp_path / "index", "placeholder")
    try:
        (tmp_path / "index" / LOCK_NAME).write_text(f"pid {holder.pid}")
        refused = pytest.raises(IngestLockedError, match=f"another ingest \\(pid {holder.pid}\\)")
        with refused, ingest_lock(tmp_path / "index"):
            pass
    finally:
        holder.kill()
        holder.wait()
