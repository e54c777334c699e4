"""The Library: uploads saved under the corpus folder and ingested like the CLI does; list, read, delete.

Free of Gradio so tests drive it directly. Every write goes through `IngestQueue`, which lets one
ingest (or delete) run at a time per process and waits for one run by another process, saying so.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import shutil
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from newsrag.articles import SUPPORTED_SUFFIXES, Skipped, read_file
from newsrag.config import Settings
from newsrag.errors import InputError
from newsrag.keyword import KeywordIndex
from newsrag.manifest import IngestLockedError, Manifest
from newsrag.models import Article
from newsrag.scale_out import ingest_guard, publish_manifest
from newsrag.store import VectorStore

if TYPE_CHECKING:
    from newsrag.embedding import Embedder
    from newsrag.ingest import IngestReport

UPLOAD_SUBDIR = "uploads"
MAX_UPLOAD_FILES = 20  # per upload
MAX_NAME_CHARS = 100
PROGRESS_EVERY_SECONDS = 0.25
LOCK_WAIT_SECONDS = 900  # how long an upload waits for another process's ingest
_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._ -]+")


class LibraryError(InputError, ValueError):
    """A library action that cannot be done; the message says why and what to do."""

    hint = "do what the message says"


@dataclass(frozen=True)
class FileResult:
    """What became of one uploaded or fetched file: its name, outcome and one-line detail."""

    name: str
    status: Literal["indexed", "unchanged", "skipped"]
    detail: str


@dataclass(frozen=True)
class IngestEvent:
    """One step of a library ingest as the browser shows it."""

    kind: Literal["waiting", "progress", "done", "failed"]
    message: str = ""
    done: int = 0  # passages written so far
    total: int = 0  # passages expected (an estimate until the end)
    passages_per_second: float = 0.0
    results: tuple[FileResult, ...] = ()


# ---- uploads ---------------------------------------------------------------------------------


def corpus_root(settings: Settings) -> Path:
    """The corpus folder, absolute, with links resolved (what "inside the corpus" means)."""
    return Path(os.path.realpath(settings.corpus_dir))


def supported_suffix(name: str) -> str:
    """The supported suffix name ends with ("" when none)."""
    lowered = name.lower()
    return next((suffix for suffix in SUPPORTED_SUFFIXES if lowered.endswith(suffix)), "")


def safe_file_name(name: str) -> str:
    """A plain file name from a browser-supplied one: no folders, no `..`, no control characters."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", name or ""))[-1]
    base = _UNSAFE_NAME_CHARACTERS.sub("_", base).strip(" .")
    suffix = supported_suffix(base)
    stem = base[: len(base) - len(suffix)] if suffix else base
    stem = stem[: MAX_NAME_CHARS - len(suffix)].strip(" .") or "upload"
    return stem + suffix


def _same_bytes(first: Path, second: Path) -> bool:
    if first.stat().st_size != second.stat().st_size:
        return False
    digests = []
    for path in (first, second):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        digests.append(digest.digest())
    return digests[0] == digests[1]


def save_upload(source: Path, name: str, *, settings: Settings) -> tuple[Path | None, str]:
    """Copy one uploaded file into corpus/uploads/: (saved path, "") or (None, why it was refused)."""
    shown = safe_file_name(name)
    if not supported_suffix(shown):
        suffix = "".join(Path(shown).suffixes[-2:]) or "no suffix"
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        return None, f"unsupported file type ({suffix}); upload one of {kinds}"
    try:
        size = source.stat().st_size
    except OSError as error:
        return None, f"the upload could not be read ({error.strerror or error}); upload it again"
    if size > settings.max_file_bytes:
        return None, (
            f"{size:,} bytes is over the {settings.max_file_bytes:,}-byte limit "
            "(NEWSRAG_MAX_FILE_BYTES); split the file"
        )
    root = corpus_root(settings)
    folder = root / UPLOAD_SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    if not Path(os.path.realpath(folder)).is_relative_to(root):
        return None, f"{folder} leads outside the corpus folder; remove that link"
    suffix = supported_suffix(shown)
    stem = shown[: len(shown) - len(suffix)]
    target = folder / shown
    for number in range(2, 1000):
        if not target.exists() and not target.is_symlink():
            break
        if target.is_file() and not target.is_symlink() and _same_bytes(source, target):
            return target, ""  # the same file again: the ingest finds it unchanged
        target = folder / f"{stem}-{number}{suffix}"
    else:
        return None, f"too many uploads named {shown}; rename the file"
    if not Path(os.path.realpath(target.parent)).is_relative_to(root):
        return None, "the file name leads outside the corpus folder; rename it"
    partial = folder / f".{target.name}.partial"
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, target)  # whole or not at all: an ingest never reads half a file
    except OSError as error:
        partial.unlink(missing_ok=True)
        return None, f"cannot save it to {folder} ({error.strerror or error}); check the disk"
    return target, ""


# ---- one ingest at a time ----------------------------------------------------------------------


class IngestQueue:
    """Runs library ingests and deletes one at a time; the next one waits and says so."""

    def __init__(self, settings: Settings, embedder: Callable[[], Embedder | None]) -> None:
        self.settings = settings
        self.embedder = embedder  # the app's loaded model (None: ingest loads its own)
        self._lock = threading.Lock()
        self.busy_with = ""

    def _acquire(self, what: str) -> Iterator[IngestEvent]:
        """Take the lock, yielding a waiting event while another run holds it."""
        if not self._lock.acquire(blocking=False):
            yield IngestEvent(
                "waiting", f"Waiting: {self.busy_with or 'another ingest'} runs first…"
            )
            self._lock.acquire()
        self.busy_with = what

    def _release(self) -> None:
        self.busy_with = ""
        self._lock.release()

    def ingest_files(
        self, paths: Sequence[Path], *, names: Sequence[str] = ()
    ) -> Iterator[IngestEvent]:
        """Ingest saved corpus files incrementally (the CLI's code path), streaming progress."""
        from newsrag.ingest import ingest

        yield from self._acquire("an upload of another session")
        try:
            before = _ids_by_path(Manifest.load(Path(self.settings.index_dir)))
            events: queue.Queue[IngestEvent | None] = queue.Queue()
            outcome: dict[str, object] = {}
            started = time.perf_counter()

            last = [0.0]

            def on_progress(done: int, total: int) -> None:
                now = time.perf_counter()
                if now - last[0] < PROGRESS_EVERY_SECONDS and done < total:
                    return  # the browser needs a few updates a second, not one per batch
                last[0] = now
                rate = done / max(now - started, 1e-6)
                events.put(IngestEvent("progress", "", done, total, rate))

            def work() -> None:
                try:
                    outcome["report"] = self._ingest_waiting(
                        lambda: ingest(
                            list(paths),
                            settings=self.settings,
                            progress=False,
                            embedder=self.embedder(),
                            on_progress=on_progress,
                        ),
                        events,
                    )
                except Exception as error:  # every failure becomes a readable line
                    outcome["error"] = error
                finally:
                    events.put(None)

            worker = threading.Thread(target=work, name="newsrag-library-ingest", daemon=True)
            worker.start()
            while (event := events.get()) is not None:
                yield event
            worker.join()
            if "error" in outcome:
                error = outcome["error"]
                yield IngestEvent("failed", f"The ingest failed: {' '.join(str(error).split())}")
                return
            report: IngestReport = outcome["report"]  # type: ignore[assignment]
            after = _ids_by_path(Manifest.load(Path(self.settings.index_dir)))
            results = file_results(paths, names, report, before, after)
            rate = report.chunks_written / max(report.seconds, 1e-6)
            yield IngestEvent(
                "done",
                report.summary(),
                report.chunks_written,
                report.chunks_written,
                rate,
                results,
            )
        finally:
            self._release()

    def _ingest_waiting(
        self, run: Callable[[], IngestReport], events: queue.Queue[IngestEvent | None]
    ) -> IngestReport:
        """Run the ingest; while another process (a CLI ingest, `watch`) holds the index, wait."""
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        told = False
        while True:
            try:
                return run()
            except IngestLockedError as error:
                if time.monotonic() > deadline:
                    raise
                if not told:
                    message = " ".join(str(error).split())
                    events.put(
                        IngestEvent("waiting", f"Waiting: {message[:1].lower()}{message[1:]}")
                    )
                    told = True
                time.sleep(1.0)

    def delete(self, article_id: str) -> Iterator[IngestEvent]:
        """Delete one article from the index and its file from the corpus, after any running ingest."""
        yield from self._acquire("a delete")
        try:
            yield IngestEvent("done", delete_article(article_id, settings=self.settings))
        except (LibraryError, IngestLockedError) as error:
            yield IngestEvent("failed", " ".join(str(error).split()))
        finally:
            self._release()


def _ids_by_path(manifest: Manifest) -> dict[str, set[str]]:
    by_path: dict[str, set[str]] = {}
    for article_id, record in manifest.articles.items():
        by_path.setdefault(os.path.realpath(record.path), set()).add(article_id)
    return by_path


def file_results(
    paths: Sequence[Path],
    names: Sequence[str],
    report: IngestReport,
    before: dict[str, set[str]],
    after: dict[str, set[str]],
) -> tuple[FileResult, ...]:
    """Per file: how many articles it added, or why it was skipped (its first one-line reason)."""
    problems: dict[str, list[Skipped]] = {}
    for item in report.skipped:
        problems.setdefault(os.path.realpath(item.path), []).append(item)
    results = []
    for number, path in enumerate(paths):
        key = os.path.realpath(path)
        name = names[number] if number < len(names) else path.name
        now, earlier = after.get(key, set()), before.get(key, set())
        skipped = problems.get(key, [])
        first_reason = skipped[0].message().split(": ", 1)[-1] if skipped else ""
        if not now:
            results.append(FileResult(name, "skipped", first_reason or "no article found in it"))
            continue
        new = len(now - earlier)
        detail = f"{len(now)} article{'s' if len(now) != 1 else ''} in the index"
        if skipped:
            detail += f"; {len(skipped)} item(s) skipped, first: {first_reason}"
        results.append(FileResult(name, "indexed" if new else "unchanged", detail))
    return tuple(results)


# ---- the article list, the reader, delete ------------------------------------------------------


@dataclass(frozen=True)
class LibraryRow:
    """One article of the list."""

    article_id: str
    title: str
    source: str
    date: str
    passages: int
    added: str  # when its file landed in the corpus (file time), YYYY-MM-DD HH:MM
    path: str = field(default="", compare=False)


SORT_KEYS: dict[str, Callable[[LibraryRow], object]] = {
    "Newest first": lambda row: (row.date or "0000", row.title.lower()),
    "Oldest first": lambda row: (row.date or "9999", row.title.lower()),
    "Title": lambda row: row.title.lower(),
    "Outlet": lambda row: (row.source.lower(), row.title.lower()),
    "Passages": lambda row: (row.passages, row.title.lower()),
    "Recently added": lambda row: (row.added, row.title.lower()),
}
_DESCENDING = {"Newest first", "Passages", "Recently added"}


def _added_time(path: str, cache: dict[str, str]) -> str:
    if path not in cache:
        try:
            stamp = os.stat(path).st_mtime
            cache[path] = time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))
        except OSError:
            cache[path] = ""
    return cache[path]


def list_articles(
    settings: Settings, *, search: str = "", sort: str = "Newest first", limit: int = 500
) -> tuple[list[LibraryRow], int]:
    """Articles of the index matching search (title, outlet, date, file), sorted: (rows, matches)."""
    manifest = Manifest.load(Path(settings.index_dir))
    words = search.lower().split()
    times: dict[str, str] = {}
    rows = []
    for article_id, record in manifest.articles.items():
        haystack = f"{record.title} {record.source} {record.date or ''} {Path(record.path).name}"
        if words and not all(word in haystack.lower() for word in words):
            continue
        rows.append(
            LibraryRow(
                article_id=article_id,
                title=record.title,
                source=record.source,
                date=record.date or "",
                passages=len(record.chunk_ids),
                added=_added_time(record.path, times),
                path=record.path,
            )
        )
    key = SORT_KEYS.get(sort, SORT_KEYS["Newest first"])
    rows.sort(key=key, reverse=sort in _DESCENDING)  # type: ignore[arg-type]
    return rows[:limit], len(rows)


def read_article(article_id: str, *, settings: Settings) -> Article:
    """The full article as read from its corpus file now (LibraryError when it cannot be)."""
    manifest = Manifest.load(Path(settings.index_dir))
    record = manifest.articles.get(article_id)
    if record is None:
        raise LibraryError("that article is no longer in the index; refresh the list")
    if not Path(record.path).is_file():
        raise LibraryError(f"its file {record.path} is gone; run an ingest with --prune")
    for article in read_file(Path(record.path), settings=settings).articles:
        if article.id == article_id:
            return article
    raise LibraryError(f"{record.path} no longer holds this article; ingest it again")


def delete_article(article_id: str, *, settings: Settings) -> str:
    """Remove an article from both indexes and its file from the corpus; returns what was done."""
    index_dir = Path(settings.index_dir)
    with ingest_guard(settings):  # server mode: the server's lease, the local copy synced
        manifest = Manifest.load(index_dir)
        record = manifest.articles.get(article_id)
        if record is None:
            raise LibraryError("that article is no longer in the index; refresh the list")
        here = os.path.realpath(record.path)
        siblings = [
            key for key, other in manifest.articles.items() if os.path.realpath(other.path) == here
        ]
        if len(siblings) > 1:
            raise LibraryError(
                f"{Path(record.path).name} holds {len(siblings)} articles: remove this one's line "
                "from that file and ingest it again (deleting the file would delete them all)"
            )
        VectorStore.open(settings=settings).delete_articles([article_id])
        KeywordIndex(index_dir, load=False).update(remove_articles=[article_id], add=[])
        del manifest.articles[article_id]
        publish_manifest(manifest, settings=settings)  # server mode: every worker drops it
        manifest.save(index_dir)  # last, as in ingest: a crash before it leaves a re-runnable state
        # Still under the lock: a `watch` run must not see the file after the index forgot it.
        inside = Path(here).is_relative_to(corpus_root(settings)) and os.path.isfile(here)
        if inside:
            os.unlink(here)
    title = record.title or article_id
    if inside:
        return f"Deleted “{title}” from the index and its file {Path(here).name} from the corpus."
    return (
        f"Deleted “{title}” from the index; its file {record.path} is outside the corpus folder "
        "and was left alone (an ingest of that file adds it again)."
    )
