"""Golden sets and metrics: validation, the seed goldens under gates, gates that bite, reports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import junitparser
import pytest
import yaml
from typer.testing import CliRunner

from newsrag import evaluation, evaluation_report
from newsrag.cli import EXIT_NOTHING, app
from newsrag.config import Settings
from newsrag.goldens import (
    Gate,
    GoldenFileError,
    load_bench_questions,
    load_golden_yaml,
    load_goldens,
    parse_gate_option,
)
from tests.conftest import REPO_ROOT, SHARED_BENCH

SEED_GOLDENS = REPO_ROOT / "tests" / "goldens" / "seeds.yaml"
ARTICLE_000 = "In coordination with Peshmerga"
ARTICLE_003 = "Coalition continues strikes"
runner = CliRunner()

# A corpus about something else entirely: the "index of the wrong corpus" that gates must catch.
OTHER_CORPUS = {
    "library.txt": (
        "title: Riverside council approves library budget\ndate: 2021-03-04\nsource: Valley Post\n\n"
        "The Riverside town council approved a budget of 2.4 million dollars for the new public "
        "library on Thursday. Council member Ana Ortiz said construction would start in May. "
        "The library will hold a children's reading room and a maker space with 3D printers.\n"
    ),
    "marathon.txt": (
        "title: Record field for the Riverside marathon\ndate: 2021-04-11\nsource: Valley Post\n\n"
        "More than 6,000 runners started the Riverside marathon on Sunday, a record for the race. "
        "The men's race was won by Tomas Keller in two hours and eleven minutes. Organisers said "
        "the course along the river would stay the same next year.\n"
    ),
}


# --- loading and validation (no model) -------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "goldens.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("goldens:\n  - question: q\n\t- question: r\n", ":3: not valid YAML"),
        ("goldens: []\n", "'goldens' must be a non-empty list"),
        ("goldens:\n  - id: a\n    contains: [x]\n", "entry 1 (id a): give exactly one of"),
        (
            "goldens:\n  - question: q\n  - question: q2\n    turns: [a, b]\n",
            ":3: entry 2: give exactly one of 'question' or 'turns'",
        ),
        (
            "goldens:\n  - question: q\n    as_of: 2019-13-01\n",
            "field 'as_of': '2019-13-01' is not a date",
        ),
        (
            "goldens:\n  - question: q\n    k: 0\n",
            "field 'k': must be a whole number from 1 to 100",
        ),
        ("goldens:\n  - question: q\n    refuse: maybe\n", "field 'refuse': must be true or false"),
        ("goldens:\n  - question: q\n    expect: x\n", "field 'expect': unknown field"),
        (
            "goldens:\n  - question: q\n    contains: ['/(unclosed/']\n",
            "field 'contains': '/(unclosed/' is not a valid regex",
        ),
        (
            "goldens:\n  - question: q\n    since: 2020-01-02\n    until: 2020-01-01\n",
            "field 'since': 2020-01-02 is after until 2020-01-01",
        ),
        (
            "goldens:\n  - {id: a, question: q}\n  - {id: a, question: r}\n",
            "entry 2 (id a): field 'id'",
        ),
        ("goldens:\n  - question: q\n    turns: []\n", "give exactly one of"),
        ("goldens:\n  - turns: []\n", "field 'turns': must be a non-empty question list"),
        ("goldens:\n  - just a string\n", "entry 1: must be a mapping"),
        ("thresholds: {hit_rate: 1}\ngoldens:\n  - question: q\n", "unknown metric 'hit_rate'"),
        ("thresholds: {mrr: high}\ngoldens:\n  - question: q\n", "mrr must be a number"),
        ("golden:\n  - question: q\n", "unknown top-level key 'golden'"),
    ],
)
def test_malformed_golden_files_name_file_entry_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(GoldenFileError) as caught:
        load_golden_yaml(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    assert expected in message, message
    assert "\n" not in message


def test_valid_entry_fields_are_parsed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "thresholds:\n  hit_at_k: 0.8\n  latency_p95: 3\n  mrr: {min: 0.5, max: 1}\n"
        "goldens:\n"
        "  - id: conv\n    turns: ['Who is the mayor?', 'What did he say?']\n    as_of: 2019-09-30\n"
        "    since: 2019-01-01\n    sources: Kurdistan 24\n    k: 3\n"
        "    articles: [a123, '/makhmour/']\n    contains: [Two  Days, '/\\d+ km/']\n"
        "    not_contains: [Paris]\n    tags: [conversation]\n",
    )
    golden_set = load_golden_yaml(path)
    golden = golden_set.goldens[0]
    assert golden.turns == ("Who is the mayor?", "What did he say?")
    assert golden.question == "What did he say?"
    assert (golden.k, golden.sources, golden.tags) == (3, ("Kurdistan 24",), ("conversation",))
    assert str(golden.as_of) == "2019-09-30" and str(golden.since) == "2019-01-01"
    assert golden.expects_answer() is True and golden.line == 6
    assert golden.contains[0].found_in("it lasted two\n days") and golden.contains[1].found_in(
        "20 km"
    )
    assert not golden.contains[1].found_in("twenty km")
    by_id, by_title = golden.articles
    assert by_id.matches("a123", "Unrelated", "") and not by_id.matches("a124", "x", "")
    assert by_title.matches("other", "Strikes near MAKHMOUR", "")
    # A bare number is a floor for scores and a ceiling for costs (latency).
    assert set(golden_set.gates) == {
        Gate("hit_at_k", minimum=0.8),
        Gate("latency_p95", maximum=3.0),
        Gate("mrr", minimum=0.5, maximum=1.0),
    }


def test_gate_options() -> None:
    assert parse_gate_option("hit-at-k=0.9", bound="min") == Gate("hit_at_k", 0.9, None, "--min")
    assert parse_gate_option("answer_recall@5=0.6", bound="min").metric == "answer_recall@5"
    assert parse_gate_option("latency_p95=2", bound="max").maximum == 2.0
    for bad in ("hit_at_k", "hit_at_k=high", "nonsense=1"):
        with pytest.raises(ValueError, match=r"--min|unknown metric"):
            parse_gate_option(bad, bound="min")
    judged = evaluation.apply_gates(
        {"hit_at_k": 0.85, "mrr": None},
        [
            Gate("hit_at_k", minimum=0.9),
            Gate("hit_at_k", minimum=0.8, origin="--min"),
            Gate("mrr", 0.1),
        ],
    )
    # The command line overrides the file's floor; an unmeasured metric never passes its gate.
    assert [(gate["metric"], gate["passed"]) for gate in judged] == [
        ("hit_at_k", True),
        ("mrr", False),
    ]


def test_seed_goldens_cover_what_the_issue_asks() -> None:
    golden_set = load_goldens(SEED_GOLDENS)
    goldens = golden_set.goldens
    assert len(goldens) >= 15
    cited = {pattern.raw for golden in goldens for pattern in golden.articles}
    assert {ARTICLE_000, ARTICLE_003} <= cited  # facts from both articles
    assert any(golden.since or golden.until for golden in goldens)  # explicit date filter
    assert any(golden.as_of and "2019" in golden.question for golden in goldens)  # date in words
    assert sum(golden.refuse is True for golden in goldens) >= 2
    assert any(len(golden.turns) == 2 for golden in goldens)
    assert {gate.metric for gate in golden_set.gates} >= {"hit_at_k", "refusal_accuracy"}
    # Every plain expected string is copied from the articles (no invented facts).
    corpus = " ".join(
        path.read_text(encoding="utf-8") for path in (REPO_ROOT / "corpus").glob("*.txt")
    )
    for golden in goldens:
        for pattern in golden.contains:
            assert pattern.found_in(corpus), (golden.id, pattern.raw)


def test_bench_questions_load_as_goldens(tmp_path: Path) -> None:
    questions = SHARED_BENCH / "rtqa-dev" / "questions.jsonl"
    if not questions.is_file():
        pytest.skip(f"{questions} is not there")
    golden_set = load_goldens(questions)
    assert golden_set.kind == "bench" and len(golden_set.goldens) == 150
    assert sum(golden.answerable for golden in golden_set.goldens) == 117
    first = golden_set.goldens[0]
    assert first.answer == "Bed Bath & Beyond" and str(first.as_of) == "2022-07-01"
    broken = write(tmp_path, '{"id": "a", "question": "q?", "answer": "x"}\n{oops\n', "q.jsonl")
    with pytest.raises(GoldenFileError, match=r"q\.jsonl:2: entry 2: not valid JSON"):
        load_bench_questions(broken)


def test_metric_helpers() -> None:
    assert evaluation.contains_answer("The  WHITE\nHouse said", "white house")
    assert not evaluation.contains_answer("anything", "  ")
    assert (
        evaluation.first_answer_rank(["no", "yes: Daily Harvest", "Daily Harvest"], "daily harvest")
        == 2
    )
    ranks = [1, 3, None, 10]
    assert evaluation.recall_table(ranks) == {1: 0.25, 3: 0.5, 5: 0.5, 10: 0.75}
    assert evaluation.percentile([4.0, 1.0, 2.0, 3.0], 0.5) == 2.5
    assert evaluation.percentile([], 0.95) is None
    passage = "Sirwan Barzani told Kurdistan 24 that the airstrikes lasted two days."
    assert evaluation.support_coverage("The airstrikes lasted two days [1].", passage) == 1.0
    assert evaluation.support_coverage("Paris is the capital of France [1].", passage) == 0.0


# --- the seed goldens through the real assistant ------------------------------------------------


@pytest.fixture(scope="module")
def seed_assistant(seed_index: Settings, seed_retriever: Any) -> Any:
    from newsrag.assistant import Assistant

    return Assistant.open(seed_index, retriever=seed_retriever)


@pytest.fixture(scope="module")
def seed_report(seed_assistant: Any) -> dict[str, Any]:
    return evaluation.run_evaluation(load_goldens(SEED_GOLDENS), seed_assistant)


def test_seed_goldens_pass_with_gates(seed_report: dict[str, Any]) -> None:
    table = evaluation_report.render_table(seed_report)
    assert seed_report["passed"], (
        table + "\n" + "\n".join(evaluation_report.failed_gate_lines(seed_report))
    )
    assert seed_report["counts"]["passed"] == seed_report["counts"]["goldens"] >= 15
    gated = {gate["metric"] for gate in seed_report["gates"]}
    assert {"hit_at_k", "mrr", "contains_rate", "citation_precision", "refusal_accuracy"} <= gated
    assert "unsupported_sentence_rate" in gated and "citation_recall" in gated
    metrics = seed_report["metrics"]
    assert metrics["latency_p50"] is not None and metrics["latency_p95"] >= metrics["latency_p50"]
    # The refusals really refused and the conversation's follow-up was rewritten standalone.
    results = {result["id"]: result["runs"][0] for result in seed_report["results"]}
    assert results["refuse-world-cup"]["answer"]["refused"]
    follow_up = results["follow-up-mayor"]["answer"]
    assert (
        "Rizgar Mohammed" in follow_up["searched_for"]
        or "mayor" in follow_up["searched_for"].lower()
    )
    assert all(row["date"] == "2019-09-09" for row in results["september-2019"]["ranking"])
    json.dumps(seed_report)  # the report is plain JSON
    assert "PASS" in table and "hit_at_k" in table


def test_junit_report_validates(seed_report: dict[str, Any], tmp_path: Path) -> None:
    failing = json.loads(json.dumps(seed_report))
    failing["results"][0]["passed"] = False  # as if the first golden had failed
    failing["results"][0]["runs"][0]["checks"].append(
        {"name": "contains 'x'", "passed": False, "detail": "missing"}
    )
    failing["gates"][0]["passed"] = False
    for report, failures in ((seed_report, 0), (failing, 2)):
        path = tmp_path / f"junit-{failures}.xml"
        path.write_text(evaluation_report.render_junit(report), encoding="utf-8")
        xml = junitparser.JUnitXml.fromfile(str(path))
        suites = list(xml)
        assert [suite.tests for suite in suites] == [len(report["results"]), len(report["gates"])]
        assert sum(suite.failures for suite in suites) == failures
        cases = [case for suite in suites for case in suite]
        assert len(cases) == len(report["results"]) + len(report["gates"])
        assert {case.name for case in cases} >= {"airstrike-duration", "mayor-of-makhmour"}
        failed = [case for case in cases if not case.is_passed]
        assert len(failed) == failures
        if failures:
            assert "contains 'x'" in failed[0].result[0].message


# --- the CLI: gates that bite, baseline diff -----------------------------------------------------


@pytest.fixture
def shared_model(monkeypatch: pytest.MonkeyPatch, embedder: Any) -> Iterator[None]:
    """In-process CLI runs reuse the session's model instead of loading it again."""
    from newsrag.embedding import Embedder

    monkeypatch.setattr(Embedder, "load", classmethod(lambda cls, settings: embedder))
    yield


@pytest.fixture(scope="module")
def wrong_index(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Path:
    from newsrag.ingest import ingest

    corpus = tmp_path_factory.mktemp("other-corpus")
    for name, text in OTHER_CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("other-index")
    settings = Settings(corpus_dir=corpus, index_dir=index_dir)
    report = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert report.added == 2, report.summary()
    return index_dir


def small_goldens(tmp_path: Path) -> Path:
    """Three seed goldens (both articles and a refusal) with the seed file's thresholds."""
    data = yaml.safe_load(SEED_GOLDENS.read_text(encoding="utf-8"))
    wanted = {"mayor-of-makhmour", "airstrike-duration", "refuse-world-cup"}
    data["goldens"] = [entry for entry in data["goldens"] if entry["id"] in wanted]
    assert len(data["goldens"]) == 3
    return write(tmp_path, yaml.safe_dump(data, sort_keys=False), "small.yaml")


def test_gates_bite_and_baseline_shows_changes(
    shared_model: None, seed_index: Settings, wrong_index: Path, tmp_path: Path
) -> None:
    goldens = small_goldens(tmp_path)
    baseline, junit = tmp_path / "baseline.json", tmp_path / "out" / "junit.xml"
    good = runner.invoke(
        app,
        [
            "eval",
            str(goldens),
            "--index",
            str(seed_index.index_dir),
            "--json-report",
            str(baseline),
            "-q",
        ],
    )
    assert good.exit_code == 0, good.output
    assert "gate failed" not in good.output and json.loads(baseline.read_text())["passed"]

    bad = runner.invoke(
        app,
        [
            "eval", str(goldens), "--index", str(wrong_index), "--baseline", str(baseline),
            "--junit", str(junit), "--json-report", str(tmp_path / "bad.json"), "-q",
        ],
    )  # fmt: skip
    assert bad.exit_code == 1, bad.output
    assert "gate failed: hit_at_k = 0.000, needs >= 1" in bad.output
    assert "gate failed: contains_rate" in bad.output
    # The baseline comparison: flipped goldens, metric moves and a unified diff of the answer.
    assert "flipped: mayor-of-makhmour: PASS -> FAIL" in bad.output
    assert "hit_at_k: 1.000 -> 0.000 (-1.000)" in bad.output
    assert (
        "--- baseline/mayor-of-makhmour" in bad.output
        and "+++ current/mayor-of-makhmour" in bad.output
    )
    assert "-Rizgar Mohammed, the Mayor of Makhmour" in bad.output
    changed = json.loads((tmp_path / "bad.json").read_text())["baseline"]["changed_answers"]
    assert "mayor-of-makhmour" in {item["id"] for item in changed}
    xml = junitparser.JUnitXml.fromfile(str(junit))
    assert sum(suite.failures + suite.errors for suite in xml) >= 3


def test_cli_min_gate_and_bad_input(
    shared_model: None, seed_index: Settings, tmp_path: Path
) -> None:
    goldens = small_goldens(tmp_path)
    index = ["--index", str(seed_index.index_dir)]
    # A floor no answer can reach: the command-line gate fails and is named.
    result = runner.invoke(
        app, ["eval", str(goldens), *index, "--tag", "refusal", "--min", "citation_recall=1", "-q"]
    )
    assert result.exit_code == 1, result.output
    assert "gate failed: citation_recall not measured" in result.output
    broken = write(tmp_path, "goldens:\n  - question: q\n    k: many\n", "broken.yaml")
    for arguments in (
        ["eval", str(broken), *index],
        ["eval", str(goldens), *index, "--min", "hit_at_k"],
        ["eval", str(goldens), *index, "--baseline", str(broken)],
        ["eval", str(goldens), *index, "--tag", "no-such-tag"],
    ):
        result = runner.invoke(app, arguments)
        assert result.exit_code == EXIT_NOTHING, result.output
        assert "Traceback" not in result.output and result.output.count("error:") == 1


# --- bench files: one metrics code path with bench/retrieval.py ----------------------------------


def test_bench_style_questions_report_the_same_answer_recall(
    seed_assistant: Any, seed_retriever: Any, tmp_path: Path
) -> None:
    from bench.common import load_questions, recall_table
    from bench.retrieval import run_mode

    rows = [
        {"id": "mayor", "question": "Who is the mayor of Makhmour?", "answer": "Rizgar Mohammed"},
        {
            "id": "days",
            "question": "How long did the Qarachokh airstrikes last?",
            "answer": "two days",
        },
        {
            "id": "veale",
            "question": "Who speaks for the US-led coalition?",
            "answer": "Thomas Veale",
        },
        {
            "id": "void",
            "question": "How far apart are Peshmerga and Iraqi forces?",
            "answer": "20 kilometers",
        },
        {
            "id": "paris",
            "question": "What is the capital of France?",
            "answer": "Paris",
            "answerable": False,
        },
    ]
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps({**row, "date": "2019-09-30"}) + "\n" for row in rows))
    report = evaluation.run_evaluation(load_goldens(path), seed_assistant)
    assert report["kind"] == "bench" and report["retrieval"] == "question"
    questions = load_questions(path)  # bench's own loader: answerable questions only
    ranks, _ = run_mode(seed_retriever, questions, "hybrid")
    expected = recall_table(ranks)
    for k, value in expected.items():
        assert report["metrics"][f"answer_recall@{k}"] == pytest.approx(value)
    assert report["metrics"]["answer_recall@10"] > 0
    assert report["metrics"]["answer_containment"] is not None


# --- LLM engines: --repeat and the reply cache ---------------------------------------------------


class ScriptedModel:
    """A stand-in LLM: answers from the passages it is given, counting its calls."""

    name = "openai:scripted"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.calls = 0

    def stream(self, system: str, user: str) -> Iterator[str]:
        self.calls += 1
        yield "Rizgar Mohammed is the Mayor of Makhmour [1]."
        yield f" (sample {self.calls})"

    def complete(self, system: str, user: str) -> str:
        return "".join(self.stream(system, user))

    def describe_error(self, error: BaseException) -> Exception:
        return RuntimeError(str(error))


def test_llm_replies_are_cached_per_prompt_and_run(
    seed_index: Settings, seed_retriever: Any, tmp_path: Path
) -> None:
    from newsrag.assistant import Assistant
    from newsrag.prompts import Prompts

    golden_set = load_golden_yaml(
        write(
            tmp_path,
            "goldens:\n  - question: Who is the mayor of Makhmour?\n    contains: [Rizgar Mohammed]\n",
        )
    )
    cache = tmp_path / "eval-cache"

    def run() -> tuple[ScriptedModel, dict[str, Any]]:
        model = ScriptedModel(seed_index)
        assistant = Assistant(
            settings=seed_index,
            retriever=seed_retriever,
            prompt_templates=Prompts.load(seed_index.prompts_dir),
            model=model,  # type: ignore[arg-type]
        )
        return model, evaluation.run_evaluation(golden_set, assistant, repeat=2, cache_dir=cache)

    first_model, first = run()
    assert first_model.calls == 2 and first["cache"] == {
        "folder": str(cache),
        "hits": 0,
        "misses": 2,
    }
    texts = [run_["answer"]["text"] for run_ in first["results"][0]["runs"]]
    assert texts[0] != texts[1] and not first["results"][0]["stable"]  # two samples, both stored
    assert len(list(cache.rglob("*.json"))) == 2
    second_model, second = run()
    assert second_model.calls == 0 and second["cache"]["hits"] == 2
    assert [run_["answer"]["text"] for run_ in second["results"][0]["runs"]] == texts
    assert second["passed"] and second["engine"] == "openai:scripted"
