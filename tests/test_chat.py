"""Follow-ups: rule-based standalone rewrites, a two-turn conversation, and the ask/chat commands."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from newsrag.assistant import Assistant, Turn
from newsrag.chat import (
    is_follow_up,
    person_names,
    rewrite_follow_up,
    standalone_question,
    subject_phrase,
)
from newsrag.chat_terminal import ChatSession
from newsrag.cli import EXIT_NOTHING, app
from newsrag.config import Settings

runner = CliRunner()
MAYOR_ANSWER = (
    "Rizgar Mohammed, the Mayor of Makhmour, previously told Kurdistan 24 that IS militants had "
    "increased their activities near the town. [1]"
)
STRIKES_ANSWER = "Sirwan Barzani told Kurdistan 24 that the airstrikes “lasted two days.” [1]"


@pytest.fixture(scope="module")
def assistant(seed_index: Settings, seed_retriever) -> Assistant:
    return Assistant.open(seed_index, retriever=seed_retriever)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What did he say about Daesh?", True),
        ("And in 2018?", True),
        ("Where did it happen?", True),
        ("What happened there?", True),
        ("Who is the mayor of Makhmour?", False),
        ("How long did the airstrikes on Qarachokh mountain last?", False),
    ],
)
def test_is_follow_up(question: str, expected: bool) -> None:
    assert is_follow_up(question) is expected


def test_person_names_and_subjects() -> None:
    assert person_names(MAYOR_ANSWER)[0] == "Rizgar Mohammed"
    assert "Kurdistan 24" not in person_names(MAYOR_ANSWER)
    assert subject_phrase("How long did the airstrikes on Qarachokh mountain last?") == (
        "the airstrikes on Qarachokh mountain"
    )
    assert subject_phrase("Who is the mayor of Makhmour?") == "the mayor of Makhmour"


@pytest.mark.parametrize(
    ("history", "question", "expected"),
    [
        (
            [("user", "Who is the mayor of Makhmour?"), ("assistant", MAYOR_ANSWER)],
            "What did he say about Daesh?",
            "What did Rizgar Mohammed (the mayor of Makhmour) say about Daesh?",
        ),
        (
            [("user", "Who is the mayor of Makhmour?"), ("assistant", MAYOR_ANSWER)],
            "What are his views on the coalition?",
            "What are Rizgar Mohammed's views on the coalition?",
        ),
        (
            [("user", "How long did the airstrikes on Qarachokh mountain last?"),
             ("assistant", STRIKES_ANSWER)],
            "Where did they happen?",
            "Where did the airstrikes on Qarachokh mountain happen?",
        ),
        (
            [("user", "How long did the airstrikes on Qarachokh mountain last?"),
             ("assistant", STRIKES_ANSWER)],
            "And in 2018?",
            "How long did the airstrikes on Qarachokh mountain last in 2018?",
        ),
        (  # "say about Y": Y is what "they" points at
            [("user", "What did Sirwan Barzani say about the airstrikes?"),
             ("assistant", STRIKES_ANSWER)],
            "How long did they last?",
            "How long did the airstrikes last?",
        ),
        # Imperative first turns: their object is the subject.
        (
            [("user", "Tell me about the airstrikes on Qarachokh mountain."),
             ("assistant", STRIKES_ANSWER)],
            "How long did they last?",
            "How long did the airstrikes on Qarachokh mountain last?",
        ),
        (
            [("user", "Could you describe the coalition strikes near Makhmour?"),
             ("assistant", STRIKES_ANSWER)],
            "When did they start?",
            "When did the coalition strikes near Makhmour start?",
        ),
        (
            [("user", "Tell me about the airstrikes on Qarachokh mountain."),
             ("assistant", STRIKES_ANSWER)],
            "And in 2018?",
            "Tell me about the airstrikes on Qarachokh mountain in 2018.",
        ),
        # Elliptical turns take the last question's frame.
        (
            [("user", "Who is the mayor of Makhmour?"), ("assistant", MAYOR_ANSWER)],
            "And of Erbil?",
            "Who is the mayor of Erbil?",
        ),
        (
            [("user", "Who is the mayor of Makhmour?"), ("assistant", MAYOR_ANSWER)],
            "What about Erbil?",
            "Who is the mayor of Erbil?",
        ),
        (
            [("user", "Who is the mayor of Makhmour?"), ("assistant", MAYOR_ANSWER)],
            "And the governor?",
            "Who is the governor of Makhmour?",
        ),
        (
            [("user", "How long did the airstrikes on Qarachokh mountain last?"),
             ("assistant", STRIKES_ANSWER)],
            "What about the ground operation?",
            "How long did the ground operation last?",
        ),
        (
            [("user", "How long did the airstrikes on Qarachokh mountain last?"),
             ("assistant", STRIKES_ANSWER)],
            "In 2018?",
            "How long did the airstrikes on Qarachokh mountain last in 2018?",
        ),
        (  # a short new question without an opener is not merged into the last one
            [("user", "How long did the airstrikes on Qarachokh mountain last?"),
             ("assistant", STRIKES_ANSWER)],
            "Makhmour attacks?",
            "Makhmour attacks (the airstrikes on Qarachokh mountain)?",
        ),
        (
            [("user", "How long did the airstrikes on Qarachokh mountain last?"),
             ("assistant", STRIKES_ANSWER)],
            "Tell me more.",
            "Tell me more about the airstrikes on Qarachokh mountain.",
        ),
        (
            [("user", "Who is the mayor of Makhmour?"), ("assistant", MAYOR_ANSWER)],
            "When did the coalition strike near Makhmour?",
            "When did the coalition strike near Makhmour?",  # standalone: left alone
        ),
        ([], "What did he say about Daesh?", "What did he say about Daesh?"),  # no history
    ],
)  # fmt: skip
def test_rule_based_rewrite(history: list[tuple[str, str]], question: str, expected: str) -> None:
    turns = [Turn(role, content) for role, content in history]  # type: ignore[arg-type]
    assert rewrite_follow_up(question, turns) == expected


def test_condense_callable_is_used_when_given_and_sane() -> None:
    history = [Turn("user", "Who is the mayor of Makhmour?"), Turn("assistant", MAYOR_ANSWER)]
    seen: list[tuple[str, str]] = []

    def condense(rendered: str, question: str) -> str:
        seen.append((rendered, question))
        return '"What did Rizgar Mohammed say about Daesh?"\nextra chatter'

    def render(turns) -> str:
        return " | ".join(turn.content for turn in turns)

    result = standalone_question(
        "What did he say about Daesh?", history, condense=condense, render_history=render
    )
    assert result == "What did Rizgar Mohammed say about Daesh?"
    assert seen[0][1] == "What did he say about Daesh?" and "Rizgar" in seen[0][0]
    # An empty reply falls back to the rule-based rewrite.
    fallback = standalone_question(
        "What did he say about Daesh?", history, condense=lambda *_: "  ", render_history=render
    )
    assert fallback.startswith("What did Rizgar Mohammed")


def test_two_turn_follow_up_on_the_seeds(assistant: Assistant) -> None:
    session = ChatSession(assistant)
    first = session.ask("Who is the mayor of Makhmour?")
    assert "Rizgar Mohammed" in first.text
    second = session.ask("What did he say about Daesh?")
    assert "Rizgar Mohammed" in second.searched_for and "Daesh" in second.searched_for
    assert second.question == "What did he say about Daesh?"
    assert "presence and activities of Daesh" in second.text, second.text
    assert second.citations[0].title.startswith("Coalition continues strikes")
    assert [turn.role for turn in session.history] == ["user", "assistant"] * 2
    session.reset()
    assert session.history == []


def test_ask_command_text_and_json(seed_index: Settings) -> None:
    index = str(seed_index.index_dir)
    result = runner.invoke(
        app, ["ask", "How long did the airstrikes on Qarachokh mountain last?", "--index", index]
    )
    assert result.exit_code == 0, result.output
    answer_text, sources = result.stdout.split("\n\nSources:\n")
    assert "two days" in answer_text and "[1]" in answer_text
    assert sources.startswith("[1] In coordination with Peshmerga")
    assert "Kurdistan 24, 2019-09-09" in sources and "lasted two days" in sources

    result = runner.invoke(
        app, ["ask", "Who is the mayor of Makhmour?", "--index", index, "--json", "-k", "3"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "Rizgar Mohammed" in data["text"] and data["refused"] is False
    citation = data["citations"][0]
    assert citation["quote_end"] > citation["quote_start"] >= citation["passage_start"]
    assert data["sentences"][0]["supported"] is True and data["searched_for"]
    assert data["filters"] == {"since": None, "until": None, "sources": []}


def test_ask_command_refusal_and_bad_input(seed_index: Settings) -> None:
    index = str(seed_index.index_dir)
    result = runner.invoke(app, ["ask", "What is the capital of France?", "--index", index])
    assert result.exit_code == 0, result.output
    assert "do not answer" in result.stdout and "Closest passages:" in result.stdout
    result = runner.invoke(app, ["ask", "Who?", "--index", index, "--as-of", "yesterday"])
    assert result.exit_code == EXIT_NOTHING and "--as-of" in result.stderr
    result = runner.invoke(app, ["ask", "  ", "--index", index])
    assert result.exit_code == EXIT_NOTHING and "empty" in result.stderr


def test_chat_command_keeps_context(seed_index: Settings) -> None:
    conversation = "Who is the mayor of Makhmour?\nWhat did he say about Daesh?\n/quit\n"
    result = runner.invoke(app, ["chat", "--index", str(seed_index.index_dir)], input=conversation)
    assert result.exit_code == 0, result.output
    assert "Rizgar Mohammed" in result.stdout
    assert "(searched for: What did Rizgar Mohammed" in result.stdout
    assert "presence and activities of Daesh" in " ".join(result.stdout.split())


def test_imperative_then_follow_up_on_the_seeds(assistant: Assistant) -> None:
    session = ChatSession(assistant)
    session.ask("Tell me about the airstrikes on Qarachokh mountain.")
    answer = session.ask("How long did they last?")
    assert answer.searched_for == "How long did the airstrikes on Qarachokh mountain last?"
    assert "two days" in answer.text


def test_quotes_are_shown_once() -> None:
    from newsrag.answer_text import quoted

    assert quoted("“lasted two days.”") == "“lasted two days.”"
    assert quoted("lasted two days.") == "“lasted two days.”"
    assert quoted("the airstrikes “lasted two days.”") == "‘the airstrikes “lasted two days.”’"
    assert quoted("“Daesh is a fact,” Mohammed said.") == "‘“Daesh is a fact,” Mohammed said.’"


def test_ask_command_shows_each_quote_once(seed_index: Settings) -> None:
    result = runner.invoke(
        app,
        [
            "ask",
            "How long did the airstrikes on Qarachokh mountain last?",
            "--index",
            str(seed_index.index_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    for doubled in ("““", "””", "“ “", "” ”"):
        assert doubled not in result.stdout, result.stdout
