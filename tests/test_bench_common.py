"""The benchmark helpers: answer matching, answer-recall@k, question loading, tables, overrides."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from bench.common import (
    BenchDataError,
    answer_recall,
    contains_answer,
    first_answer_rank,
    fold_text,
    load_questions,
    markdown_table,
    recall_table,
    write_results,
)
from bench.retrieval import parse_overrides, run_mode


def test_fold_text_casefolds_and_collapses_whitespace() -> None:
    assert fold_text("  Bed  Bath\n&\tBeyond ") == "bed bath & beyond"


@pytest.mark.parametrize(
    ("text", "answer", "expected"),
    [
        ("Analysts accuse Bed Bath & Beyond of ...", "bed bath & beyond", True),
        ("Analysts accuse BED BATH\n &   BEYOND of ...", "Bed Bath & Beyond", True),
        ("Analysts accuse Bed Bath of ...", "Bed Bath & Beyond", False),
        ("Sweden and\nFinland were invited", "Sweden and Finland", True),
        ("Finland and Sweden were invited", "Sweden and Finland", False),
        ("any text", "   ", False),
        ("", "White House", False),
    ],
)
def test_contains_answer(text: str, answer: str, expected: bool) -> None:
    assert contains_answer(text, answer) is expected


def test_first_answer_rank_is_one_based_and_first_match() -> None:
    texts = ["nothing here", "the White House tours", "White House again"]
    assert first_answer_rank(texts, "white house") == 2
    assert first_answer_rank(texts, "Yosemite") is None
    assert first_answer_rank([], "anything") is None


def test_answer_recall_counts_ranks_within_k() -> None:
    ranks = [1, 3, None, 7, 2]
    assert answer_recall(ranks, 1) == pytest.approx(1 / 5)
    assert answer_recall(ranks, 3) == pytest.approx(3 / 5)
    assert answer_recall(ranks, 10) == pytest.approx(4 / 5)
    assert answer_recall([], 5) == 0.0
    table = recall_table(ranks)
    assert list(table) == [1, 3, 5, 10]
    assert [table[k] for k in (1, 3, 5, 10)] == sorted(table.values())  # never falls as k grows


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def question_line(identifier: str, *, answerable: bool = True, **fields: object) -> str:
    record = {
        "id": identifier,
        "question": "Which company?",
        "date": "2022-07-01",
        "answer": "Bed Bath & Beyond",
        "choices": ["Bed Bath & Beyond", "IKEA"],
        "answerable": answerable,
    }
    record.update(fields)
    return json.dumps(record)


def test_load_questions_keeps_answerable_ones(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "questions.jsonl",
        [question_line("a"), "", question_line("b", answerable=False), question_line("c")],
    )
    answerable = load_questions(path)
    assert [question.id for question in answerable] == ["a", "c"]
    assert answerable[0].choices == ("Bed Bath & Beyond", "IKEA")
    assert answerable[0].date == "2022-07-01"
    assert len(load_questions(path, answerable_only=False)) == 3


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        (question_line("x", answer=""), "'answer'"),
        (question_line("x", question=None), "'question'"),
        (question_line("x", choices="A or B"), "'choices'"),
    ],
)
def test_load_questions_names_file_line_and_field(
    tmp_path: Path, bad_line: str, message: str
) -> None:
    path = write_lines(tmp_path / "questions.jsonl", [question_line("a"), bad_line])
    with pytest.raises(BenchDataError, match=message) as caught:
        load_questions(path)
    assert f"{path}:2" in str(caught.value)


def test_the_shared_rtqa_dev_questions_load() -> None:
    path = Path(__file__).resolve().parents[2] / "shared" / "bench" / "rtqa-dev" / "questions.jsonl"
    if not path.exists():
        pytest.skip("the shared bench folder is not beside this checkout")
    assert len(load_questions(path)) == 117
    assert len(load_questions(path, answerable_only=False)) == 150


def test_markdown_table_and_results(tmp_path: Path) -> None:
    table = markdown_table(["retriever", "@1"], [["BM25", 0.5], ["dense", 1 / 3]])
    assert table.splitlines() == [
        "| retriever | @1 |",
        "| --- | --- |",
        "| BM25 | 0.500 |",
        "| dense | 0.333 |",
    ]
    path = write_results("retrieval-test", {"recall": {1: 0.5}}, folder=tmp_path / "out")
    assert json.loads(path.read_text(encoding="utf-8")) == {"recall": {"1": 0.5}}


def test_parse_overrides() -> None:
    assert parse_overrides(["rrf_k=20", " candidates = 100 "]) == {
        "rrf_k": "20",
        "candidates": "100",
    }
    with pytest.raises(SystemExit, match="name=value"):
        parse_overrides(["rrf_k"])


def test_run_mode_on_the_seed_index(seed_retriever) -> None:
    from bench.common import BenchQuestion

    questions = [
        BenchQuestion("mayor", "Who is the mayor of Makhmour?", "", "rizgar  MOHAMMED", (), True),
        BenchQuestion(
            "strikes",
            "How long did the airstrikes on Qarachokh mountain last?",
            "",
            "two days",
            (),
            True,
        ),
        BenchQuestion("absent", "Who won the Stanley Cup?", "", "Colorado Avalanche", (), True),
    ]
    ranks, seconds = run_mode(seed_retriever, questions, "hybrid")
    assert ranks == [1, 1, None]
    assert len(seconds) == 3 and all(value > 0 for value in seconds)


# The fusion the benchmark measures (newsrag.retrieval.convex_fusion, the default since rtqa-dev).
def test_convex_fusion_combines_cosine_and_normalized_bm25() -> None:
    from newsrag.retrieval import convex_fusion

    fused = convex_fusion(
        [("a", 0.8), ("b", 0.6)],
        [("b", 10.0), ("c", 5.0)],
        dense_weight=1.0,
        keyword_weight=1.0,
    )
    # b: both sides; a: BM25 floor (0.5 = c's normalized score); c: cosine floor (0.6).
    assert fused["b"] == pytest.approx(0.5 * 0.6 + 0.5 * 1.0)
    assert fused["a"] == pytest.approx(0.5 * 0.8 + 0.5 * 0.5)
    assert fused["c"] == pytest.approx(0.5 * 0.6 + 0.5 * 0.5)
    complete = convex_fusion(
        [("a", 0.8)], [("c", 5.0)], dense_weight=1.0, keyword_weight=1.0, keyword_complete=True
    )
    assert complete["a"] == pytest.approx(0.4)  # BM25 listed every match: a scores 0 there


def test_convex_fusion_weights() -> None:
    from newsrag.retrieval import convex_fusion

    dense, keyword = [("a", 0.9), ("b", 0.1)], [("b", 3.0), ("a", 1.0)]
    dense_only = convex_fusion(dense, keyword, dense_weight=1.0, keyword_weight=0.0)
    keyword_only = convex_fusion(dense, keyword, dense_weight=0.0, keyword_weight=2.0)
    assert max(dense_only, key=dense_only.__getitem__) == "a"
    assert max(keyword_only, key=keyword_only.__getitem__) == "b"
    assert convex_fusion(dense, keyword, dense_weight=0.0, keyword_weight=0.0) == convex_fusion(
        dense, keyword, dense_weight=1.0, keyword_weight=1.0
    )
    assert convex_fusion([], [], dense_weight=1.0, keyword_weight=1.0) == {}


def test_built_slice_names_an_unbuilt_index_and_returns_a_built_one(
    tmp_path: Path, seed_index
) -> None:
    from types import SimpleNamespace

    from bench.common import built_slice

    folder = tmp_path / "tiny"
    folder.mkdir()
    with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8"):
        pass  # the articles are not read here, but a bench folder has them
    write_lines(
        folder / "questions.jsonl",
        [question_line("a"), question_line("b", date="2022-08-03")],
    )
    arguments = SimpleNamespace(
        bench=tmp_path,
        dataset="tiny",
        index=tmp_path / "no-index",
        questions_from="2022-08-01",
        questions_until="",
    )
    with pytest.raises(BenchDataError, match="no-index is not a finished index"):
        built_slice(arguments)
    arguments.index = seed_index.index_dir
    questions, index_dir = built_slice(arguments)
    assert [question.id for question in questions] == ["b"]
    assert index_dir == Path(seed_index.index_dir)
