"""Golden question files: loading and validation (YAML goldens and bench-style JSONL questions).

A golden YAML file has `thresholds:` (metric -> gate; the gates themselves are gates.py's) and
`goldens:` (one entry per question or conversation). Every problem is reported as one line naming the file, the entry number, its line
and the field. Bench files (../shared/bench/*/questions.jsonl) load into the same `Golden` type, so
one metrics code path serves goldens and benchmarks.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from newsrag.errors import InputError
from newsrag.gates import (
    METRICS,
    RECALL_METRIC,
    Gate,
    canonical_metric,
    metric_direction,
    parse_gate_option,
)

__all__ = [  # the metric names and Gate live in gates.py: re-exported for callers
    "ENTRY_FIELDS",
    "METRICS",
    "RECALL_METRIC",
    "TOP_FIELDS",
    "ArticlePattern",
    "Gate",
    "Golden",
    "GoldenFileError",
    "GoldenSet",
    "TextPattern",
    "canonical_metric",
    "fold",
    "load_bench_questions",
    "load_golden_yaml",
    "load_goldens",
    "metric_direction",
    "parse_gate_option",
    "select",
]

ENTRY_FIELDS = {
    "id", "question", "turns", "as_of", "since", "until", "sources", "k", "articles",
    "contains", "not_contains", "short", "refuse", "tags", "answer", "answerable",
}  # fmt: skip
TOP_FIELDS = {"thresholds", "goldens"}


class GoldenFileError(InputError, ValueError):
    """A malformed golden or question file; the message names file, entry, line and field."""

    hint = "fix the file at the line and field named"


def fold(text: str) -> str:
    """Case-insensitive, whitespace-folded form used by every containment test."""
    return " ".join(text.casefold().split())


def _as_regex(raw: str) -> re.Pattern[str] | None:
    """`/pattern/` or `/pattern/i` -> compiled regex; anything else -> None."""
    match = re.fullmatch(r"/(.+)/([imsx]*)", raw, flags=re.DOTALL)
    if not match:
        return None
    flags = 0
    for letter in match.group(2):
        flags |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}[letter]
    return re.compile(match.group(1), flags)


@dataclass(frozen=True)
class TextPattern:
    """A `contains` item: a plain string (case- and whitespace-insensitive) or a /regex/."""

    raw: str
    regex: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, raw: str) -> TextPattern:
        """Compile a /regex/ item (re.error propagates); keep a plain string as is."""
        return cls(raw=raw, regex=_as_regex(raw))

    def found_in(self, text: str) -> bool:
        """True when the pattern occurs in text."""
        if self.regex is not None:
            return self.regex.search(text) is not None
        return fold(self.raw) in fold(text)


@dataclass(frozen=True)
class ArticlePattern:
    """An `articles` item: an exact article id, or a regex matched against title or URL."""

    raw: str
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, raw: str) -> ArticlePattern:
        """`/re/` or a bare regex, matched case-insensitively (re.error propagates)."""
        regex = _as_regex(raw)
        if regex is None:
            regex = re.compile(raw, re.IGNORECASE)
        elif not regex.flags & re.IGNORECASE:
            regex = re.compile(regex.pattern, regex.flags | re.IGNORECASE)
        return cls(raw=raw, regex=regex)

    def matches(self, article_id: str, title: str, url: str) -> bool:
        """True when the article is the one this item names."""
        if self.raw == article_id:
            return True
        return bool(self.regex.search(title) or (url and self.regex.search(url)))


PatternT = TypeVar("PatternT", TextPattern, ArticlePattern)


@dataclass(frozen=True)
class Golden:
    """One golden question (or conversation) and what its answer must satisfy."""

    id: str
    entry: int  # 1-based position in the file
    turns: tuple[str, ...]  # the questions in order; expectations apply to the last answer
    line: int | None = None
    as_of: dt.date | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    sources: tuple[str, ...] = ()
    k: int | None = None
    articles: tuple[ArticlePattern, ...] = ()
    contains: tuple[TextPattern, ...] = ()
    not_contains: tuple[TextPattern, ...] = ()
    short: tuple[TextPattern, ...] = ()  # what the short answer must hold
    refuse: bool | None = None
    tags: tuple[str, ...] = ()
    answer: str | None = None  # gold answer string (bench files; answer-recall@k)
    answerable: bool = True

    @property
    def question(self) -> str:
        """The question whose answer is checked (the last turn)."""
        return self.turns[-1]

    def expects_answer(self) -> bool | None:
        """True/False when it must answer/refuse; None when refusal is not judged."""
        if self.refuse is not None:
            return not self.refuse
        if self.contains or self.articles:
            return True
        return None


@dataclass(frozen=True)
class GoldenSet:
    """A loaded golden file: its goldens and the gates it sets."""

    path: Path
    goldens: tuple[Golden, ...]
    gates: tuple[Gate, ...] = ()
    kind: str = "goldens"  # "goldens" (YAML) or "bench" (JSONL questions)


@dataclass
class _Entry:
    """Validation context for one entry: builds one-line errors."""

    path: Path
    number: int
    line: int | None
    data: dict[str, Any] = field(default_factory=dict)

    def error(self, name: str | None, problem: str) -> GoldenFileError:
        where = f"{self.path}"
        if self.line is not None:
            where += f":{self.line}"
        where += f": entry {self.number}"
        if isinstance(self.data.get("id"), str | int):
            where += f" (id {self.data['id']})"
        if name:
            where += f": field '{name}'"
        return GoldenFileError(f"{where}: {problem}")

    def text_list(self, name: str) -> list[str]:
        value = self.data.get(name)
        if value is None:
            return []
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not all(
            isinstance(item, str | int | float) and not isinstance(item, bool) and str(item).strip()
            for item in value
        ):
            raise self.error(name, "must be a string or a list of non-empty strings")
        return [str(item) for item in value]

    def date(self, name: str) -> dt.date | None:
        value = self.data.get(name)
        if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
            return value
        try:
            return dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise self.error(name, f"{value!r} is not a date: write YYYY-MM-DD") from None

    def flag(self, name: str) -> bool | None:
        value = self.data.get(name)
        if value is not None and not isinstance(value, bool):
            raise self.error(name, f"must be true or false, not {value!r}")
        return value

    def patterns(self, name: str, parse: Callable[[str], PatternT]) -> tuple[PatternT, ...]:
        items = []
        for raw in self.text_list(name):
            try:
                items.append(parse(raw))
            except re.error as problem:
                raise self.error(name, f"{raw!r} is not a valid regex ({problem})") from None
        return tuple(items)


def _build_golden(entry: _Entry, seen_ids: set[str]) -> Golden:
    data = entry.data
    unknown = sorted(set(data) - ENTRY_FIELDS)
    if unknown:
        raise entry.error(unknown[0], f"unknown field (known: {', '.join(sorted(ENTRY_FIELDS))})")
    if ("question" in data) == ("turns" in data):
        raise entry.error(None, "give exactly one of 'question' or 'turns'")
    name = "question" if "question" in data else "turns"
    turns = entry.text_list(name)
    if not turns or (name == "question" and not isinstance(data[name], str)):
        raise entry.error(
            name, "must be a non-empty question" + (" list" if name == "turns" else "")
        )
    golden_id = str(data.get("id", f"entry-{entry.number}")).strip()
    if not golden_id:
        raise entry.error("id", "must not be empty")
    if golden_id in seen_ids:
        raise entry.error("id", f"{golden_id!r} is used by an earlier entry: ids must be unique")
    seen_ids.add(golden_id)
    since, until = entry.date("since"), entry.date("until")
    if since and until and since > until:
        raise entry.error("since", f"{since} is after until {until}: swap them")
    k = data.get("k")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 100):
        raise entry.error("k", f"must be a whole number from 1 to 100, not {k!r}")
    answer = data.get("answer")
    if answer is not None and (
        not isinstance(answer, str | int | float) or not str(answer).strip()
    ):
        raise entry.error("answer", "must be a non-empty gold answer string")
    refuse = entry.flag("refuse")
    answerable = entry.flag("answerable")
    return Golden(
        id=golden_id,
        entry=entry.number,
        line=entry.line,
        turns=tuple(turns),
        as_of=entry.date("as_of"),
        since=since,
        until=until,
        sources=tuple(entry.text_list("sources")),
        k=k,
        articles=entry.patterns("articles", ArticlePattern.parse),
        contains=entry.patterns("contains", TextPattern.parse),
        not_contains=entry.patterns("not_contains", TextPattern.parse),
        short=entry.patterns("short", TextPattern.parse),
        refuse=refuse,
        tags=tuple(entry.text_list("tags")),
        answer=None if answer is None else str(answer),
        answerable=True if answerable is None else answerable,
    )


def _parse_thresholds(path: Path, value: Any, line: int | None) -> tuple[Gate, ...]:
    where = f"{path}:{line}" if line else f"{path}"
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise GoldenFileError(f"{where}: 'thresholds' must map metric names to numbers")
    gates = []
    for name, bound in value.items():
        try:
            metric = canonical_metric(str(name))
        except ValueError as problem:
            raise GoldenFileError(f"{where}: thresholds: {problem}") from None
        minimum = maximum = None
        if isinstance(bound, int | float) and not isinstance(bound, bool):
            # A bare number is the side that matters: a floor for scores, a ceiling for costs.
            if metric_direction(metric):
                minimum = float(bound)
            else:
                maximum = float(bound)
        elif isinstance(bound, dict) and bound and set(bound) <= {"min", "max"}:
            for side, number in bound.items():
                if isinstance(number, bool) or not isinstance(number, int | float):
                    raise GoldenFileError(f"{where}: thresholds: {metric}.{side} must be a number")
            minimum = None if bound.get("min") is None else float(bound["min"])
            maximum = None if bound.get("max") is None else float(bound["max"])
        else:
            raise GoldenFileError(
                f"{where}: thresholds: {metric} must be a number or {{min: X, max: Y}}, "
                f"not {bound!r}"
            )
        gates.append(Gate(metric, minimum=minimum, maximum=maximum))
    return tuple(gates)


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text: `as_of: 2019-13-01` is then our error, not a crash."""


def _date_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _date_as_text)


def load_golden_yaml(path: Path) -> GoldenSet:
    """Load and validate a golden YAML file; GoldenFileError names file, entry, line, field."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise GoldenFileError(f"{path}: cannot read the golden file ({problem})") from None
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else f"{path}"
        reason = getattr(problem, "problem", None) or str(problem).splitlines()[0]
        raise GoldenFileError(f"{where}: not valid YAML ({reason})") from None
    if not isinstance(data, dict) or root is None:
        raise GoldenFileError(f"{path}: expected a mapping with 'goldens:' (and 'thresholds:')")
    unknown = sorted(str(key) for key in data if key not in TOP_FIELDS)
    if unknown:
        raise GoldenFileError(
            f"{path}: unknown top-level key {unknown[0]!r} (known: goldens, thresholds)"
        )
    # Line numbers of the top-level values and of each entry, for the error messages.
    lines = {key.value: value for key, value in root.value if isinstance(key, yaml.ScalarNode)}
    entries = data.get("goldens")
    if not isinstance(entries, list) or not entries:
        raise GoldenFileError(f"{path}: 'goldens' must be a non-empty list of entries")
    entry_nodes = lines["goldens"].value
    thresholds_node = lines.get("thresholds")
    gates = _parse_thresholds(
        path,
        data.get("thresholds"),
        thresholds_node.start_mark.line + 1 if thresholds_node else None,
    )
    goldens: list[Golden] = []
    seen: set[str] = set()
    for number, (raw, node) in enumerate(zip(entries, entry_nodes, strict=True), start=1):
        entry = _Entry(path, number, node.start_mark.line + 1)
        if not isinstance(raw, dict):
            raise entry.error(None, "must be a mapping with 'question' or 'turns'")
        entry.data = raw
        goldens.append(_build_golden(entry, seen))
    return GoldenSet(path=path, goldens=tuple(goldens), gates=gates, kind="goldens")


def _bench_day(text: str | None, name: str) -> str | None:
    """A --questions-from/--questions-until bound as ISO text; bad text is a GoldenFileError."""
    if text is None or not str(text).strip():
        return None
    try:
        return dt.date.fromisoformat(str(text).strip()).isoformat()
    except ValueError:
        raise GoldenFileError(f"{name} {text!r} is not a date: use YYYY-MM-DD") from None


def load_bench_questions(
    path: Path,
    *,
    questions_from: str | None = None,
    questions_until: str | None = None,
    as_of: bool = True,
) -> GoldenSet:
    """Load a bench questions.jsonl (id, question, date, answer, answerable) as goldens.

    Only the questions asked in questions_from..questions_until (inclusive) when given; each asked
    as of its own date unless as_of is False.
    """
    start = _bench_day(questions_from, "--questions-from")
    end = _bench_day(questions_until, "--questions-until")
    goldens: list[Golden] = []
    seen: set[str] = set()
    try:
        handle = path.open(encoding="utf-8")
    except OSError as problem:
        raise GoldenFileError(f"{path}: cannot read the questions file ({problem})") from None
    with handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            entry = _Entry(path, len(goldens) + 1, line_number)
            try:
                row = json.loads(line)
            except json.JSONDecodeError as problem:
                raise entry.error(None, f"not valid JSON ({problem.msg})") from None
            if not isinstance(row, dict):
                raise entry.error(None, "must be a JSON object")
            day = str(row.get("date") or "")
            if (start and day < start) or (end and (not day or day > end)):
                continue
            entry.data = {
                "id": row.get("id", f"line-{line_number}"),
                "question": row.get("question"),
                "as_of": row.get("date") if as_of else None,
                "answer": row.get("answer"),
                "answerable": row.get("answerable", True),
            }
            if not isinstance(entry.data["question"], str):
                raise entry.error("question", "must be a non-empty question")
            entry.data = {key: value for key, value in entry.data.items() if value is not None}
            goldens.append(_build_golden(entry, seen))
    if not goldens:
        span = f" asked {start or '…'}..{end or '…'}" if start or end else ""
        raise GoldenFileError(f"{path}: no questions{span} in the file")
    return GoldenSet(path=path, goldens=tuple(goldens), kind="bench")


def load_goldens(
    path: Path | str,
    *,
    questions_from: str | None = None,
    questions_until: str | None = None,
    as_of: bool = True,
) -> GoldenSet:
    """Load a golden YAML file or a bench questions JSONL file, chosen by suffix.

    The date range and as_of apply to bench files; a YAML file with a range is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise GoldenFileError(f"{path}: no such file")
    if path.suffix.lower() in (".jsonl", ".json"):
        return load_bench_questions(
            path, questions_from=questions_from, questions_until=questions_until, as_of=as_of
        )
    if questions_from or questions_until:
        raise GoldenFileError(
            f"{path}: --questions-from/--questions-until apply to bench questions.jsonl files only"
        )
    return load_golden_yaml(path)


def select(goldens: Sequence[Golden], tags: Sequence[str]) -> tuple[Golden, ...]:
    """The goldens carrying any of the tags (all of them when no tag is given)."""
    if not tags:
        return tuple(goldens)
    wanted = set(tags)
    return tuple(golden for golden in goldens if wanted & set(golden.tags))
