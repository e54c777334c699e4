"""The index manifest (index/manifest.json): which article versions and chunks the index holds, and with what model."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsrag.errors import EXIT_INDEX, IndexUnavailableError, NewsragError

MANIFEST_NAME = "manifest.json"
LOCK_NAME = "ingest.lock"
FORMAT_VERSION = 1
# Test-only: NEWSRAG_TEST_PAUSE_AT=stage[,stage...] makes ingest stop there (see pause_for_tests).
PAUSE_VARIABLE = "NEWSRAG_TEST_PAUSE_AT"


def pause_for_tests(stage: str) -> None:
    """Test-only hook: when NEWSRAG_TEST_PAUSE_AT names this stage, note it and sleep.

    Crash and concurrency tests kill or race an ingest subprocess at a chosen point. The stage
    is appended to the file NEWSRAG_TEST_PAUSE_MARKER (if set), then the process sleeps
    NEWSRAG_TEST_PAUSE_SECONDS (default 600). Unset, it costs one environment lookup.
    """
    wanted = os.environ.get(PAUSE_VARIABLE)
    if not wanted or stage not in wanted.split(","):
        return
    marker = os.environ.get("NEWSRAG_TEST_PAUSE_MARKER")
    if marker:
        with open(marker, "a", encoding="utf-8") as handle:
            handle.write(stage + "\n")
    time.sleep(float(os.environ.get("NEWSRAG_TEST_PAUSE_SECONDS", "600")))


class ManifestError(IndexUnavailableError, RuntimeError):
    """The manifest is unreadable or belongs to an incompatible index."""

    hint = "run `newsrag check --repair`, or `newsrag ingest --rebuild`"


class ModelMismatchError(ManifestError):
    """The index was built with another embedding model than the settings ask for."""


class IngestLockedError(NewsragError, RuntimeError):
    """Another process is ingesting into the same index."""

    exit_code, http_status, api_code = EXIT_INDEX, 409, "ingest_running"
    hint = "wait for the other ingest to finish"


@dataclass(frozen=True)
class ArticleRecord:
    """What the index holds of one article."""

    content_hash: str
    chunk_ids: tuple[str, ...]
    path: str = ""
    title: str = ""
    date: str | None = None
    source: str = ""
    url: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "hash": self.content_hash,
            "chunks": list(self.chunk_ids),
            "path": self.path,
            "title": self.title,
            "date": self.date,
            "source": self.source,
            "url": self.url,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArticleRecord:
        """Inverse of to_dict."""
        return cls(
            content_hash=str(data["hash"]),
            chunk_ids=tuple(str(item) for item in data.get("chunks", [])),
            path=str(data.get("path", "")),
            title=str(data.get("title", "")),
            date=data.get("date"),
            source=str(data.get("source", "")),
            url=str(data.get("url", "")),
        )


@dataclass
class Manifest:
    """Article id -> record, plus the model and chunking the index was built with."""

    model: str | None = None
    dimension: int | None = None
    chunk_size: int | None = None
    chunk_overlap: int | None = None
    articles: dict[str, ArticleRecord] = field(default_factory=dict)
    last_ingest: dict[str, Any] = field(default_factory=dict)
    # Stored chunks with good vectors that no article owns yet (an interrupted ingest's work,
    # kept by `check --repair`): the next ingest reuses them instead of embedding again.
    spare_chunks: tuple[str, ...] = ()

    @property
    def chunk_count(self) -> int:
        """Chunks the index should hold."""
        return sum(len(record.chunk_ids) for record in self.articles.values())

    def check_model(self, identity: str) -> None:
        """Raise ModelMismatchError when the index was built with another model."""
        if self.model is not None and self.model != identity:
            raise ModelMismatchError(
                f"the index was built with embedding model {self.model!r} but the settings ask for "
                f"{identity!r}: run `newsrag ingest --rebuild` to re-embed everything, or set "
                f"NEWSRAG_EMBEDDING_MODEL back to {self.model.split('+')[0]!r}"
            )

    def date_span(self) -> tuple[str | None, str | None]:
        """Earliest and latest article dates."""
        dates = sorted(record.date for record in self.articles.values() if record.date)
        return (dates[0], dates[-1]) if dates else (None, None)

    def sources(self) -> list[str]:
        """Distinct outlet names, sorted."""
        return sorted({record.source for record in self.articles.values() if record.source})

    @classmethod
    def load(cls, index_dir: Path) -> Manifest:
        """Read index_dir/manifest.json; an absent file is an empty manifest."""
        path = Path(index_dir) / MANIFEST_NAME
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != FORMAT_VERSION:
                raise ManifestError(
                    f"{path} has format version {data.get('version')!r}, this newsrag reads "
                    f"{FORMAT_VERSION}: run `newsrag ingest --rebuild`"
                )
            return cls(
                model=data.get("model"),
                dimension=data.get("dimension"),
                chunk_size=data.get("chunk_size"),
                chunk_overlap=data.get("chunk_overlap"),
                articles={
                    key: ArticleRecord.from_dict(value) for key, value in data["articles"].items()
                },
                last_ingest=dict(data.get("last_ingest") or {}),
                spare_chunks=tuple(str(item) for item in data.get("spare_chunks") or ()),
            )
        except ManifestError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise ManifestError(
                f"{path} is unreadable ({type(error).__name__}: {error}): run `newsrag check --repair` "
                "or `newsrag ingest --rebuild`"
            ) from error

    def save(self, index_dir: Path) -> None:
        """Write atomically (temp file, fsync, rename): a crash leaves the old or the new manifest."""
        folder = Path(index_dir)
        folder.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "model": self.model,
            "dimension": self.dimension,
            "chunk_size": self.chunk_size,
            "chunk_overlap": self.chunk_overlap,
            "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "last_ingest": self.last_ingest,
            "articles": {key: record.to_dict() for key, record in sorted(self.articles.items())},
        }
        if self.spare_chunks:
            data["spare_chunks"] = sorted(self.spare_chunks)
        temporary = folder / (MANIFEST_NAME + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        pause_for_tests("manifest")
        os.replace(temporary, folder / MANIFEST_NAME)


def manifest_stamp(index_dir: Path) -> int | None:
    """The manifest's mtime in ns (written last by every ingest: a change means "reload"); None if absent."""
    try:
        return (Path(index_dir) / MANIFEST_NAME).stat().st_mtime_ns
    except OSError:
        return None


def _process_start(pid: int) -> str:
    """When a live process started (clock ticks since boot), "" when it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return "" if not _pid_exists(pid) else "?"
    return "" if fields[0] in ("Z", "X") else fields[19]


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder_gone(text: str) -> bool:
    """True when the lock file names a process that no longer runs (pid and start time)."""
    parts = text.split()
    if len(parts) < 2 or parts[0] != "pid" or not parts[1].isdigit():
        return False  # unknown holder: never taken over
    started = _process_start(int(parts[1]))
    recorded = parts[3] if len(parts) >= 4 and parts[2] == "started" else None
    return not started or (recorded is not None and started not in ("?", recorded))


@contextlib.contextmanager
def ingest_lock(index_dir: Path) -> Iterator[list[str]]:
    """Hold the index's ingest lock; a second ingest gets IngestLockedError instead of corrupting it.

    Yields the notes to show (a stale lock taken over). The OS drops an flock when its last holder
    dies; but a process that inherited the descriptor (an orphaned worker of an older version)
    keeps it: when the pid the file names is gone, the file is replaced and the lock taken.
    """
    folder = Path(index_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    notes: list[str] = []
    for _attempt in range(3):
        handle = path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            handle.seek(0)
            holder = handle.read().strip()
            if not _holder_gone(holder) or not _replace_stale(folder, path, handle):
                handle.close()
                shown = " ".join(holder.split()[:2]) or "another process"
                raise IngestLockedError(
                    f"another ingest ({shown}) is writing to {folder}: wait for it to finish, "
                    "then retry"
                ) from error
            handle.close()
            notes.append(
                f"{path} was held by {' '.join(holder.split()[:2])}, which no longer runs (a "
                "process it left behind still held the file): took the lock over"
            )
            continue
        if os.fstat(handle.fileno()).st_ino != _inode(path):
            handle.close()  # replaced by a takeover between open and flock: lock the new file
            continue
        break
    else:
        raise IngestLockedError(f"cannot take the ingest lock {path}: retry")
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} started {_process_start(os.getpid())}")
        handle.flush()
        yield notes
    finally:
        handle.close()


def _inode(path: Path) -> int:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return -1


def _replace_stale(folder: Path, path: Path, handle: Any) -> bool:
    """Unlink the stale lock file (under a lock on the folder, so two takeovers cannot race)."""
    directory = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(directory, fcntl.LOCK_EX)
        if _inode(path) == os.fstat(handle.fileno()).st_ino:
            path.unlink()
        return True
    finally:
        os.close(directory)  # closing drops the folder's flock
