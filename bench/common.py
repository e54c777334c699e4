"""Shared helpers for the benchmark scripts: bench questions, bench indexes, answer-recall@k."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# One metric code path: the benchmark and `newsrag eval` share the same functions.
from newsrag.evaluation import (  # noqa: F401  (re-exported for bench scripts)
    RECALL_KS,
    answer_recall,
    contains_answer,
    first_answer_rank,
    fold_text,
    recall_table,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BENCH_DIR = REPO_ROOT.parent / "shared" / "bench"
RESULTS_DIR = REPO_ROOT / "bench" / "results"


class BenchDataError(ValueError):
    """A bench file is missing or malformed; the message names the file, line and field."""


@dataclass(frozen=True)
class BenchQuestion:
    """One question of a bench folder's questions.jsonl."""

    id: str
    question: str
    date: str
    answer: str
    choices: tuple[str, ...]
    answerable: bool


def bench_folder(bench_dir: Path, dataset: str) -> Path:
    """The folder of one bench data set; a clear error when it is absent."""
    folder = Path(bench_dir) / dataset
    if not (folder / "questions.jsonl").is_file() or not (folder / "corpus.jsonl.gz").is_file():
        raise BenchDataError(
            f"{folder}: no questions.jsonl/corpus.jsonl.gz there: pass --bench pointing at the "
            "shared bench folder (the one holding rtqa-dev/)"
        )
    return folder


def load_questions(path: Path, *, answerable_only: bool = True) -> list[BenchQuestion]:
    """Read questions.jsonl; a malformed line is a BenchDataError naming file, line and field."""
    questions: list[BenchQuestion] = []
    with Path(path).open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise BenchDataError(f"{where}: not JSON ({error.msg}): fix the line") from error
            if not isinstance(record, dict):
                raise BenchDataError(f"{where}: expected a JSON object")
            for name in ("id", "question", "answer"):
                if not isinstance(record.get(name), str) or not record[name].strip():
                    raise BenchDataError(f"{where}: field {name!r} must be non-empty text")
            choices = record.get("choices") or []
            if not isinstance(choices, list):
                raise BenchDataError(f"{where}: field 'choices' must be a list")
            question = BenchQuestion(
                id=record["id"],
                question=record["question"],
                date=str(record.get("date") or ""),
                answer=record["answer"],
                choices=tuple(str(choice) for choice in choices),
                answerable=bool(record.get("answerable", True)),
            )
            if question.answerable or not answerable_only:
                questions.append(question)
    return questions


def add_bench_arguments(parser: argparse.ArgumentParser, *, dataset: str = "rtqa-dev") -> None:
    """The --bench, --dataset and --index options every bench script takes."""
    parser.add_argument("--bench", type=Path, default=DEFAULT_BENCH_DIR, help="shared bench folder")
    parser.add_argument("--dataset", default=dataset, help="bench data set (folder name)")
    parser.add_argument(
        "--index",
        type=Path,
        default=None,
        help="index folder of the data set (default: /work/bench-index/<dataset> if built, "
        "else bench/results/index-<dataset>); built when absent, else used as it is",
    )


def default_index_dir(dataset: str) -> Path:
    """Where a bench index lives when --index is not given."""
    shared = Path("/work/bench-index") / dataset
    return shared if shared.exists() else RESULTS_DIR / f"index-{dataset}"


def bench_settings(index_dir: Path, **overrides: Any) -> Any:
    """Settings for a bench index (overrides are Settings fields, e.g. candidates=100)."""
    from newsrag.config import Settings

    return Settings(index_dir=Path(index_dir), **overrides)


def ensure_index(corpus: Path, index_dir: Path, *, embedder: Any = None) -> Any:
    """Ingest the corpus into index_dir (a no-op when up to date); returns the IngestReport."""
    from newsrag.ingest import ingest

    return ingest([Path(corpus)], settings=bench_settings(index_dir), embedder=embedder)


def index_is_built(index_dir: Path) -> bool:
    """True when index_dir holds a finished ingest."""
    from newsrag.manifest import Manifest

    return Path(index_dir).is_dir() and Manifest.load(Path(index_dir)).model is not None


def median_ms(seconds: Sequence[float]) -> float:
    """Median of durations in seconds, as milliseconds (0.0 when empty)."""
    return statistics.median(seconds) * 1000 if seconds else 0.0


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table; floats print with three decimals."""

    def cell(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, payload: dict[str, Any], *, folder: Path = RESULTS_DIR) -> Path:
    """Write payload as JSON to folder/<name>-<timestamp>.json and return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def questions_between(
    questions: Sequence[BenchQuestion], start: str | None, end: str | None
) -> list[BenchQuestion]:
    """The questions asked from start to end (ISO dates, both inclusive; None: open)."""
    return [
        question
        for question in questions
        if (not start or question.date >= start) and (not end or question.date <= end)
    ]


def slice_questions(arguments: Any) -> list[BenchQuestion]:
    """The answerable questions of --bench/--dataset between --questions-from/--questions-until
    (raises BenchDataError or OSError when the data set cannot be read)."""
    folder = bench_folder(arguments.bench, arguments.dataset)
    return questions_between(
        load_questions(folder / "questions.jsonl"),
        arguments.questions_from,
        arguments.questions_until,
    )


def built_slice(arguments: Any) -> tuple[list[BenchQuestion], Path]:
    """slice_questions, and the finished index they are asked of (--index, else the default);
    raises BenchDataError (or OSError) naming what is missing."""
    questions = slice_questions(arguments)
    index_dir = Path(arguments.index or default_index_dir(arguments.dataset))
    if not index_is_built(index_dir):
        raise BenchDataError(f"{index_dir} is not a finished index: build it with newsrag ingest")
    return questions, index_dir


def iso_date(text: str) -> str:
    """argparse type: a YYYY-MM-DD date, returned as that text."""
    import datetime as dt

    try:
        return dt.date.fromisoformat(text.strip()).isoformat()
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from error


def _cache_key(value: Any) -> Any:
    """A hashable stand-in for a call argument (arrays by content, dataclasses by repr)."""
    import hashlib

    import numpy as np

    if isinstance(value, np.ndarray):
        return ("array", hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest())
    if isinstance(value, list | tuple):
        return tuple(_cache_key(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((key, _cache_key(item)) for key, item in value.items()))
    return repr(value)


class CallCache:
    """Remembers the results of chosen methods of an object (query embeddings, candidate lists,
    chunk reads), so sweeps over ranking settings re-run the real search path without the model.

    Only for benchmarks over an index nobody writes to while they run: nothing is invalidated.
    `get(ids)` is cached per chunk id, so any subset of earlier reads is served from memory.
    """

    def __init__(self, inner: Any, methods: Sequence[str], memory: dict[Any, Any]) -> None:
        self._inner = inner
        self._methods = set(methods)
        self._memory = memory

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in self._methods:
            return attribute
        if name == "get":
            return self._get
        memory = self._memory

        def cached(*args: Any, **keywords: Any) -> Any:
            key = (name, _cache_key(args), _cache_key(keywords))
            if key not in memory:
                memory[key] = attribute(*args, **keywords)
            return memory[key]

        return cached

    def _get(self, chunk_ids: Sequence[str]) -> dict[str, Any]:
        wanted = [chunk_id for chunk_id in chunk_ids if ("get", chunk_id) not in self._memory]
        if wanted:
            found = self._inner.get(wanted)
            for chunk_id in wanted:
                self._memory[("get", chunk_id)] = found.get(chunk_id)
        return {
            chunk_id: self._memory[("get", chunk_id)]
            for chunk_id in chunk_ids
            if self._memory[("get", chunk_id)] is not None
        }


def cache_path(index_dir: Path) -> Path:
    """Where a bench index's call cache lives (named by the index path and its manifest's time)."""
    import hashlib

    manifest = Path(index_dir) / "manifest.json"
    stamp = manifest.stat().st_mtime_ns if manifest.exists() else 0
    name = hashlib.sha1(f"{Path(index_dir).resolve()}:{stamp}".encode()).hexdigest()[:12]
    return RESULTS_DIR / "cache" / f"calls-{Path(index_dir).name}-{name}.pickle"


def load_call_cache(path: Path) -> dict[Any, Any]:
    """The remembered calls of an earlier run (empty when none or unreadable)."""
    import pickle

    try:
        with Path(path).open("rb") as handle:
            # Our own file, written by save_call_cache under bench/results (never shared data).
            memory = pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return {}
    return memory if isinstance(memory, dict) else {}


def save_call_cache(path: Path, memory: dict[Any, Any]) -> None:
    """Write the remembered calls atomically (a crash leaves the previous file)."""
    import os
    import pickle

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as handle:
        pickle.dump(memory, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(temporary, path)


def cached_retriever(retriever: Any, memory: dict[Any, Any]) -> Any:
    """The same Retriever class over cached embedder, store and keyword calls."""
    return type(retriever)(
        settings=retriever.settings,
        embedder=CallCache(retriever.embedder, ["embed_query"], memory),
        store=CallCache(retriever.store, ["nearest", "get"], memory),
        keyword=CallCache(
            retriever.keyword,
            ["search", "search_weighted", "document_frequencies", "chunk_dates"],
            memory,
        ),
    )
