"""The pytest plugin as a user runs it: `pytest --newsrag-goldens FILE`, one test per golden."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import junitparser
import pytest

from newsrag.config import Settings

GOLDENS = """\
thresholds:
  hit_at_k: 1.0
  refusal_accuracy: 1.0
goldens:
  - id: mayor
    question: Who is the mayor of Makhmour?
    articles: ["Coalition continues strikes"]
    contains: ["Rizgar Mohammed"]
  - id: duration
    question: How long did the airstrikes on Qarachokh mountain last?
    articles: ["In coordination with Peshmerga"]
    contains: ["two days"]
  - id: wrong-expectation
    question: Who is the mayor of Makhmour?
    contains: ["Paris"]
  - id: must-refuse
    question: Who won the 2018 World Cup?
    refuse: true
"""


def run_pytest(folder: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """A separate pytest process in folder (its own rootdir), the plugin loaded by entry point."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *arguments],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    plugins = {point.name: point.value for point in entry_points(group="pytest11")}
    assert plugins.get("newsrag") == "newsrag.pytest_plugin", (
        "the pytest11 entry point is missing: run `.venv/bin/pip install -e . --no-deps`"
    )


def test_one_test_per_golden_plus_gates(seed_index: Settings, tmp_path: Path) -> None:
    (tmp_path / "goldens.yaml").write_text(GOLDENS, encoding="utf-8")
    junit = tmp_path / "junit.xml"
    result = run_pytest(
        tmp_path,
        "--newsrag-goldens",
        "goldens.yaml",
        "--newsrag-index",
        str(seed_index.index_dir),
        f"--junitxml={junit}",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # exactly the wrong expectation fails
    assert "1 failed, 4 passed" in output, output
    # The failure reads as the golden's question, answer and failed check, not a traceback.
    assert "golden 'wrong-expectation' (entry 3) failed" in output
    assert "FAILED contains 'Paris': missing" in output and "Rizgar Mohammed" in output
    cases = [case for suite in junitparser.JUnitXml.fromfile(str(junit)) for case in suite]
    assert {case.name for case in cases} == {
        "mayor",
        "duration",
        "wrong-expectation",
        "must-refuse",
        "gates",
    }
    assert [case.name for case in cases if not case.is_passed] == ["wrong-expectation"]


def test_selection_and_failing_gates(seed_index: Settings, tmp_path: Path) -> None:
    (tmp_path / "goldens.yaml").write_text(
        GOLDENS.replace("hit_at_k: 1.0", "hit_at_k: 1.0\n  citation_recall: 1.0"), encoding="utf-8"
    )
    options = ["--newsrag-goldens", "goldens.yaml", "--newsrag-index", str(seed_index.index_dir)]
    # -k applies to goldens; only the refusal runs, so citation_recall is unmeasured: gate fails.
    result = run_pytest(tmp_path, *options, "-k", "must-refuse or gates")
    output = result.stdout + result.stderr
    assert "1 failed, 1 passed, 3 deselected" in output, output
    assert "gate failed: citation_recall not measured" in output


def test_malformed_golden_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "goldens.yaml").write_text(
        "goldens:\n  - question: q\n    k: 0\n", encoding="utf-8"
    )
    result = run_pytest(tmp_path, "--newsrag-goldens", "goldens.yaml")
    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert "goldens.yaml:2: entry 1: field 'k': must be a whole number" in output
