"""The command line: ingest, search and stats as a user runs them (real model, real index)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsrag.cli import EXIT_INDEX, EXIT_NOTHING, EXIT_SKIPPED, app
from tests.conftest import SEEDS_DIR

runner = CliRunner()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for path in SEEDS_DIR.glob("*.txt"):
        shutil.copy(path, folder / path.name)
    return folder


def test_search_prints_ranked_passages(seed_index) -> None:
    result = runner.invoke(
        app, ["search", "Who is the mayor of Makhmour?", "--index", str(seed_index.index_dir)]
    )
    assert result.exit_code == 0, result.output
    first = result.stdout.split("\n\n")[0]
    assert first.startswith("[1] Coalition continues strikes")
    assert "Kurdistan 24" in first and "score" in first and "Rizgar Mohammed" in first


def test_search_json_and_filters(seed_index) -> None:
    result = runner.invoke(
        app,
        [
            "search",
            "airstrikes",
            "--json",
            "-k",
            "2",
            "--since",
            "2019-01-01",
            "--index",
            str(seed_index.index_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert 1 <= len(hits) <= 2
    assert all(hit["article"]["date"] == "2019-09-09" for hit in hits)
    empty = runner.invoke(
        app, ["search", "airstrikes", "--source", "CNN", "--index", str(seed_index.index_dir)]
    )
    assert empty.exit_code == 0 and "No passages match" in empty.output


def test_search_bad_input_is_one_line(seed_index) -> None:
    result = runner.invoke(
        app,
        [
            "search",
            "x",
            "--since",
            "2020-01-01",
            "--until",
            "2019-01-01",
            "--index",
            str(seed_index.index_dir),
        ],
    )
    assert result.exit_code == EXIT_NOTHING
    assert "swap them" in result.output and "Traceback" not in result.output


def test_stats(seed_index) -> None:
    result = runner.invoke(app, ["stats", "--index", str(seed_index.index_dir)])
    assert result.exit_code == 0, result.output
    assert "articles:    2" in result.output and "all-MiniLM-L6-v2" in result.output
    data = json.loads(
        runner.invoke(app, ["stats", "--json", "--index", str(seed_index.index_dir)]).output
    )
    assert data["articles"] == 2 and data["date_from"] == "2019-09-09"


def test_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["search", "anything", "--index", str(tmp_path / "nowhere")])
    assert result.exit_code == EXIT_INDEX
    assert "newsrag ingest" in result.output


def test_ingest_exit_codes(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    (corpus / "empty.txt").write_bytes(b"")
    ok = runner.invoke(app, ["ingest", str(corpus), "--index", str(index), "--quiet"])
    assert ok.exit_code == 0, ok.output
    assert "2 added" in ok.output and "1 skipped" in ok.output and "empty.txt" in ok.output
    strict = runner.invoke(app, ["ingest", str(corpus), "--index", str(index), "-q", "--strict"])
    assert strict.exit_code == EXIT_SKIPPED
    assert "0 added, 0 updated, 2 unchanged" in strict.output

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "binary.txt").write_bytes(b"\x00\xff" * 50)
    nothing = runner.invoke(app, ["ingest", str(bad), "--index", str(tmp_path / "i2"), "-q"])
    assert nothing.exit_code == EXIT_NOTHING and "nothing could be read" in nothing.output
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nope"), "--index", str(index)])
    assert missing.exit_code == EXIT_NOTHING and "no such file" in missing.output


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "search", "stats"):
        assert command in result.output


def test_help_shows_boolean_flags_as_flags() -> None:
    from newsrag.cli import main  # noqa: F401  (the console script runs the same app)

    for command in ("ingest", "search", "stats", "ask", "serve", "check", "eval"):
        result = runner.invoke(app, [command, "--help"], terminal_width=100)
        assert result.exit_code == 0, result.output
        assert "<bool>" not in result.output, (command, result.output)
    flags = runner.invoke(app, ["ingest", "--help"], terminal_width=100).output
    assert "--json" in flags and "--prune" in flags
    assert "--index" in flags and "<path>" in flags  # options that take a value keep theirs


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("NEWSRAG_ENGINE", "gpt", "bad setting NEWSRAG_ENGINE='gpt': use one of extractive, openai, ollama, reader"),
        ("NEWSRAG_TOP_K", "0", "bad setting NEWSRAG_TOP_K='0': use a whole number >= 1 and <= 100"),
        ("NEWSRAG_PORT", "http", "bad setting NEWSRAG_PORT='http': use a whole number"),
        ("NEWSRAG_EMBEDDING_PRECISION", "fp8", "use one of fp32, int8"),
    ],
)  # fmt: skip
def test_a_bad_setting_is_one_line(
    variable: str, value: str, expected: str, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(variable, value)
    result = runner.invoke(app, ["stats", "--index", str(tmp_path)])
    assert result.exit_code == EXIT_NOTHING
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "pydantic" not in result.stderr and "http" not in lines[0].replace("'http'", "")


def test_a_bad_option_names_the_option_and_the_variable(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ask", "x", "--engine", "gpt", "--index", str(tmp_path)])
    assert result.exit_code == EXIT_NOTHING
    assert result.stderr.strip() == (
        "error: bad option --engine 'gpt' (NEWSRAG_ENGINE): use one of extractive, openai, ollama, reader"
    )


def test_ingest_draws_no_empty_progress_bar(corpus: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(corpus), "--index", str(tmp_path / "index")])
    assert result.exit_code == 0, result.output
    bars = [part for part in result.stderr.replace("\r", "\n").splitlines() if "embedding" in part]
    assert bars and all("/" in bar for bar in bars), bars  # every drawing knows its total
    assert not any(re.search(r"embedding: 0chunk", bar) for bar in bars)
