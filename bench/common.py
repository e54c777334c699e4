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
