"""The reader engine on the wire: a real llama.cpp server (Gemma 3 270M) picks the short answer.

Gemma 270M is too small to read well, so the replies that decide what the engine does are forced
through a llama.cpp grammar: the tests check that a verbatim span leads the answer, that anything
else (NONE, a phrase not in the passages, a ramble) leaves the extractive short answer in place,
and that a server that is down is a one-line AnswerEngineError. The reply parsing is tested
without a server.
"""

from __future__ import annotations

import pytest

from newsrag.assistant import AnswerEngineError, Assistant, StreamEvent
from newsrag.config import Settings
from newsrag.engines import ReaderEngine, engine_kind
from newsrag.engines.reader import clean_reply, locate
from newsrag.sentences import Candidate
from tests.conftest import free_port
from tests.test_llm_engine import forced_assistant, llama_server, needs_server  # noqa: F401

# The extractive engine finds no place for it ("Iraq and Syria" is untyped): the model is asked.
MOUNTAIN = "Which mountain did the coalition strike?"
# The extractive engine finds a person ("Rizgar Mohammed"): the model is not asked.
MAYOR = "Who is the mayor of Makhmour?"


def sentence(text: str, hit_index: int = 0) -> Candidate:
    return Candidate(hit_index=hit_index, start=0, end=len(text), text=text, raw=text)


@pytest.mark.parametrize(
    ("reply", "phrase"),
    [
        ("two days", "two days"),
        ('"Two days."', "Two days"),
        ("Answer: two days\nBecause the passage says so.", "two days"),
        ("the U.S.", "the U.S."),
        ("Sri Lanka.", "Sri Lanka"),
        ("$2.39.", "$2.39"),
        ("NONE", ""),
        ("None.", ""),
        ("  \n", ""),
    ],
)
def test_clean_reply_keeps_the_phrase_only(reply: str, phrase: str) -> None:
    assert clean_reply(reply) == phrase


def test_locate_copies_the_passage_words_whole() -> None:
    candidates = [
        sentence("The mayor of Makhmour, Rizgar Mohammed, said the strikes lasted two days."),
        sentence("Coalition jets struck  Qarachokh mountain.", hit_index=1),
    ]
    assert locate("rizgar mohammed", candidates) == ("Rizgar Mohammed", candidates[0])
    assert locate("Qarachokh mountain", candidates) == ("Qarachokh mountain", candidates[1])
    assert locate("Makh", candidates) is None  # inside a word is not a span of the passage
    assert locate("three weeks", candidates) is None  # not in what the model read
    assert locate(" ".join(["word"] * 13), candidates) is None  # longer than a short answer


def reader_assistant(seed_index: Settings, seed_retriever, base_url: str, reply: str) -> Assistant:
    """The reader engine over a client whose every reply the grammar forces to be `reply`."""
    settings = seed_index.model_copy(
        update={
            "engine": "reader",
            "llm_base_url": base_url,
            "llm_model": "gemma-3-270m",
            "llm_timeout": 120.0,
            "llm_max_tokens": 32,
        }
    )
    return forced_assistant(settings, seed_retriever, reply)


def extractive_short(seed_index: Settings, seed_retriever, question: str) -> str:
    return Assistant.open(seed_index, retriever=seed_retriever).ask(question).short_answer


@needs_server
@pytest.mark.server
def test_a_verbatim_span_leads_the_answer(
    llama_server: str,  # noqa: F811
    seed_index: Settings,
    seed_retriever,
) -> None:
    assert extractive_short(seed_index, seed_retriever, MOUNTAIN) == "Iraq and Syria"
    assistant = reader_assistant(seed_index, seed_retriever, llama_server, "qarachokh Mountain")
    assert isinstance(assistant.engine, ReaderEngine)
    events: list[StreamEvent] = list(assistant.ask_stream(MOUNTAIN))
    answer = events[-1].answer
    assert answer is not None and not answer.refused
    assert answer.short_answer == "Qarachokh mountain"  # the passage's own casing
    assert answer.engine == "reader:gemma-3-270m" and "reader" in answer.timings
    number = answer.short_answer_citation
    assert number is not None
    assert "Qarachokh mountain" in answer.citations[number - 1].passage  # the passage it cites
    # The sentence it came from is quoted right after the short answer, also cited.
    first_sentence = answer.sentences[1]
    assert "Qarachokh mountain" in first_sentence.text and first_sentence.citations
    # Tokens are the checked answer's, not the model's raw reply.
    tokens = "".join(event.text for event in events if event.kind == "token")
    assert tokens.startswith("Qarachokh mountain [")


@needs_server
@pytest.mark.server
def test_a_typed_extractive_answer_is_not_sent_to_the_model(
    llama_server: str,  # noqa: F811
    seed_index: Settings,
    seed_retriever,
) -> None:
    assistant = reader_assistant(seed_index, seed_retriever, llama_server, "the Mayor of Makhmour")
    answer = assistant.ask(MAYOR)
    assert answer.short_answer == "Rizgar Mohammed"  # a person, as "who" asks: kept


@needs_server
@pytest.mark.server
@pytest.mark.parametrize("reply", ["NONE", "three weeks", "It was a long time ago, I think."])
def test_anything_but_a_verbatim_span_keeps_the_extractive_short_answer(
    llama_server: str,  # noqa: F811
    seed_index: Settings,
    seed_retriever,
    reply: str,
) -> None:
    expected = extractive_short(seed_index, seed_retriever, MOUNTAIN)
    answer = reader_assistant(seed_index, seed_retriever, llama_server, reply).ask(MOUNTAIN)
    assert not answer.refused and answer.short_answer == expected
    assert reply not in answer.text


@needs_server
@pytest.mark.server
def test_the_real_model_reply_is_parsed(
    llama_server: str,  # noqa: F811
    seed_index: Settings,
    seed_retriever,
) -> None:
    # Unforced: whatever the tiny model says, the short answer is a span of a cited passage.
    settings = seed_index.model_copy(
        update={"engine": "reader", "llm_base_url": llama_server, "llm_timeout": 120.0}
    )
    answer = Assistant.open(settings, retriever=seed_retriever).ask(MOUNTAIN)
    assert answer.short_answer and answer.short_answer_citation is not None
    cited = answer.citations[answer.short_answer_citation - 1]
    assert answer.short_answer.casefold() in " ".join(cited.passage.split()).casefold()


def test_reader_endpoint_down_is_one_line(seed_index: Settings, seed_retriever) -> None:
    assert engine_kind("reader") == "reader"
    settings = seed_index.model_copy(
        update={
            "engine": "reader",
            "llm_base_url": f"http://127.0.0.1:{free_port()}/v1",
            "llm_timeout": 5.0,
        }
    )
    assistant = Assistant.open(settings, retriever=seed_retriever)
    with pytest.raises(AnswerEngineError) as raised:
        assistant.ask(MOUNTAIN)
    assert "cannot reach" in str(raised.value) and "\n" not in str(raised.value)


@needs_server
@pytest.mark.server
def test_ask_json_with_the_reader_engine(
    llama_server: str,  # noqa: F811
    seed_index: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    from typer.testing import CliRunner

    from newsrag.cli import app

    monkeypatch.setenv("NEWSRAG_LLM_BASE_URL", llama_server)
    monkeypatch.setenv("NEWSRAG_LLM_MODEL", "gemma-3-270m")
    result = CliRunner().invoke(
        app,
        ["ask", MOUNTAIN, "--engine", "reader", "--json", "--index", str(seed_index.index_dir)],
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["engine"] == "reader:gemma-3-270m"
    # Whatever the tiny model replied, the short answer is words of the passage it cites.
    cited = answer["citations"][answer["short_answer_citation"] - 1]
    assert answer["short_answer"].casefold() in " ".join(cited["passage"].split()).casefold()
