"""One error table (docs/errors.md) and the three front-ends that must follow it: CLI, HTTP API, UI."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import newsrag
from newsrag.api_errors import ApiError, translate_error
from newsrag.cli import fail_for
from newsrag.errors import NewsragError
from newsrag.ui_chat import friendly_error

TABLE = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
ROW = re.compile(r"^\| `(\w+)` \| `([\w.]+)` \| (\d) \| (\d{3}) \| `(\w+)` \| (.+) \|$")


def table() -> list[tuple[str, str, int, int, str, str]]:
    rows = [ROW.match(line) for line in TABLE.read_text(encoding="utf-8").splitlines()]
    return [(m[1], m[2], int(m[3]), int(m[4]), m[5], m[6].strip()) for m in rows if m is not None]


def make(cls: type[NewsragError], message: str) -> NewsragError:
    if cls.__name__ == "GoldenFailure":
        error = cls({"id": "g1"})  # type: ignore[call-arg]
        error.args = (message,)
        return error
    return cls(message)


@pytest.mark.parametrize("row", table(), ids=lambda row: row[0])
def test_every_front_end_follows_the_table(row, capsys: pytest.CaptureFixture[str]) -> None:
    name, module, exit_code, status, api_code, hint = row
    cls = getattr(importlib.import_module(f"newsrag.{module}"), name)
    assert issubclass(cls, NewsragError) and cls.hint == hint
    error = make(cls, "the thing named is wrong:  do this")

    exit_raised = fail_for(error)  # the CLI
    assert exit_raised.exit_code == exit_code
    assert capsys.readouterr().err == "error: the thing named is wrong: do this\n"

    answered = translate_error(error)  # the HTTP API (None: answered as a logged 500)
    if status == 500:
        assert answered is None
    else:
        assert answered is not None and answered.status == status and answered.code == api_code
        assert answered.body()["error"]["code"] == api_code
        assert "the thing named is wrong" in answered.message

    assert friendly_error(error) == "The thing named is wrong: do this"  # the UI


def test_the_table_lists_every_project_exception() -> None:
    for info in pkgutil.walk_packages(newsrag.__path__, "newsrag."):
        importlib.import_module(info.name)

    def subclasses(cls: type) -> set[type]:
        found = set(cls.__subclasses__())
        return found.union(*(subclasses(child) for child in found))

    listed = {row[0] for row in table()}
    project = {
        cls.__name__ for cls in subclasses(NewsragError) if cls.__module__.startswith("newsrag.")
    }
    assert project - {"ApiError"} == listed


def test_an_error_without_text_shows_its_hint() -> None:
    from newsrag.retrieval import IndexMissingError

    assert friendly_error(IndexMissingError()) == "Run `newsrag ingest` first"
    assert translate_error(ApiError(418, "teapot")).status == 418  # ApiError is its own answer


def test_other_exceptions_stay_internal() -> None:
    assert translate_error(KeyError("x")) is None
    assert "Something went wrong" in friendly_error(KeyError("x"))
