"""pytest plugin: `pytest --newsrag-goldens FILE` runs one test per golden, plus one for the gates.

Registered through the `pytest11` entry point, so it loads in any pytest run of an environment
where newsrag is installed; without the option it adds nothing. The index comes from
`--newsrag-index DIR` or the usual NEWSRAG_* settings; the assistant is opened once per session.
Select with `-m newsrag_golden` (goldens only) or `-k <golden id>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from newsrag.errors import EXIT_PROBLEMS, NewsragError
from newsrag.goldens import Golden, GoldenFileError, GoldenSet, load_goldens

_STATE = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """--newsrag-goldens FILE (repeatable) and --newsrag-index DIR."""
    group = parser.getgroup("newsrag", "newsrag golden questions")
    group.addoption(
        "--newsrag-goldens",
        action="append",
        default=[],
        metavar="FILE",
        help="Golden YAML (or bench questions.jsonl): one test per golden, plus its gates.",
    )
    group.addoption(
        "--newsrag-index",
        default=None,
        metavar="DIR",
        help="Index folder for the goldens (default: NEWSRAG_INDEX_DIR or index/).",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker every golden test carries."""
    config.addinivalue_line("markers", "newsrag_golden: a golden question of --newsrag-goldens")
    config.stash[_STATE] = {"assistant": None, "results": {}}


class GoldenFailure(NewsragError, AssertionError):
    """A golden whose checks failed; carries the evaluation record."""

    exit_code = EXIT_PROBLEMS
    hint = "read the failed checks of the golden"

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__("golden failed")
        self.record = record


def _assistant(config: pytest.Config) -> Any:
    """The session's Assistant, opened on first use."""
    state = config.stash[_STATE]
    if state["assistant"] is None:
        from newsrag.assistant import Assistant
        from newsrag.config import Settings

        index = config.getoption("newsrag_index")
        settings = Settings(index_dir=Path(index)) if index else Settings()
        state["assistant"] = Assistant.open(settings)
    return state["assistant"]


class GoldenItem(pytest.Item):
    """One golden question (or conversation) as a test."""

    def __init__(self, *, golden: Golden, golden_set: GoldenSet, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.golden = golden
        self.golden_set = golden_set
        self.add_marker("newsrag_golden")
        for tag in golden.tags:
            self.user_properties.append(("tag", tag))

    def runtest(self) -> None:
        """Ask the golden and fail with its failed checks."""
        from newsrag.evaluation import evaluate_golden

        assistant = _assistant(self.config)
        mode = "question" if self.golden_set.kind == "bench" else "assistant"
        record = evaluate_golden(
            self.golden, assistant, top_k=assistant.settings.top_k, retrieval=mode
        )
        results = self.config.stash[_STATE]["results"].setdefault(self.golden_set.path, [])
        results.append(
            {"id": self.golden.id, "passed": record["passed"], "stable": True, "runs": [record]}
        )
        if not record["passed"]:
            raise GoldenFailure(record)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """The question, the answer and the failed checks instead of a traceback."""
        if not isinstance(excinfo.value, GoldenFailure):
            return super().repr_failure(excinfo, style=style)
        record = excinfo.value.record
        answer = record["answer"]
        lines = [f"golden {self.golden.id!r} (entry {self.golden.entry}) failed"]
        lines += [f"  question: {turn}" for turn in self.golden.turns]
        if answer is not None:
            lines.append(f"  answer{' (refused)' if answer['refused'] else ''}: {answer['text']}")
        lines += [
            f"  FAILED {check['name']}" + (f": {check['detail']}" if check["detail"] else "")
            for check in record["checks"]
            if not check["passed"]
        ]
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the golden is written in its file."""
        line = self.golden.line - 1 if self.golden.line else None
        return self.path, line, f"golden {self.golden.id}"


class GatesItem(pytest.Item):
    """The file's thresholds, judged on the goldens that ran before it in this session."""

    def __init__(self, *, golden_set: GoldenSet, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.golden_set = golden_set
        self.add_marker("newsrag_golden")

    def runtest(self) -> None:
        """Fail naming every gate whose metric misses its threshold."""
        from newsrag.evaluation import apply_gates, compute_metrics
        from newsrag.evaluation_report import failed_gate_lines

        results = self.config.stash[_STATE]["results"].get(self.golden_set.path, [])
        if not results:
            pytest.skip("no golden of this file ran")
        if not self.golden_set.gates:
            pytest.skip("the file sets no thresholds")
        judged = apply_gates(compute_metrics(results), self.golden_set.gates)
        failed = failed_gate_lines({"gates": judged})
        if failed:
            raise AssertionError("\n".join(failed))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """The gates belong to the file."""
        return self.path, None, "gates"


class GoldenFile(pytest.File):
    """A golden file given with --newsrag-goldens."""

    def collect(self) -> list[pytest.Item]:
        """One item per golden, then the gates."""
        try:
            golden_set = load_goldens(self.path)
        except GoldenFileError as error:
            raise pytest.UsageError(str(error)) from None
        items: list[pytest.Item] = [
            GoldenItem.from_parent(self, name=golden.id, golden=golden, golden_set=golden_set)
            for golden in golden_set.goldens
        ]
        items.append(GatesItem.from_parent(self, name="gates", golden_set=golden_set))
        return items


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselection, so those apply to goldens too
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Append the goldens of every --newsrag-goldens file to the session's tests."""
    for name in config.getoption("newsrag_goldens"):
        path = Path(name).resolve()
        if not path.is_file():
            raise pytest.UsageError(f"--newsrag-goldens {name}: no such file")
        items.extend(GoldenFile.from_parent(session, path=path).collect())
