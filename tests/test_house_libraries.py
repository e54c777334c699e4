"""Pieces now done by their libraries frame and filter exactly as the hand-written ones did."""

from __future__ import annotations

import json

from newsrag import evaluation, keyword, stopwords
from newsrag.api_plumbing import sse


def test_sse_framing_is_byte_for_byte_the_old_one() -> None:
    data = {"text": "two\nlines, “quoted” ünïcode"}
    old = f"event: token\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
    assert sse("token", data) == old
    assert sse(None, {"a": 1}) == 'data: {"a": 1}\n\n'
    assert sse(None, "[DONE]") == "data: [DONE]\n\n"


def test_one_stop_word_module() -> None:
    assert keyword.STOPWORDS is stopwords.STOPWORDS
    assert keyword.Tokenizer().tokens("The mayor of the town and his deputies") == [
        token for token in keyword.Tokenizer().tokens("mayor town deputies")
    ]
    assert evaluation.content_words("He said the strikes also lasted two days") == {
        "strikes",
        "lasted",
        "two",
        "days",
    }
