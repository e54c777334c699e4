"""/v1 streaming with an LLM engine: a real llama.cpp server (Gemma 3 270M) behind newsrag.

The reply is forced through a llama.cpp grammar (as in test_llm_engine.py) so the stream can be
checked on a known text: the model's tokens go out as they come, then the checked citations.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from newsrag.config import Settings
from newsrag.server import create_app
from tests.test_llm_engine import (
    QUESTION,
    forced_assistant,
    llama_server,
    llm_settings,
    needs_server,
)

__all__ = ["llama_server"]  # the fixture, shared

pytestmark = [needs_server, pytest.mark.server]


def test_llm_tokens_stream_as_they_come_then_the_sources(
    llama_server: str, seed_index: Settings, seed_retriever
) -> None:
    from tests.conftest import REPO_ROOT

    settings = llm_settings(
        seed_index, llama_server, llm_max_tokens=96, prompts_dir=REPO_ROOT / "prompts"
    )
    hits = seed_retriever.search(QUESTION, 2)
    strikes = next(number for number, hit in enumerate(hits, 1) if "two days" in hit.chunk.text)
    reply = f"The airstrikes on Qarachokh mountain lasted two days [{strikes}]."
    assistant = forced_assistant(settings, seed_retriever, reply)
    request = {
        "model": "newsrag-sources",
        "messages": [{"role": "user", "content": QUESTION}],
        "stream": True,
    }
    with (
        TestClient(create_app(settings, assistant=assistant)) as test_client,
        test_client.stream("POST", "/v1/chat/completions", json=request) as response,
    ):
        assert response.status_code == 200
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    deltas = [
        chunk["choices"][0]["delta"].get("content")
        for chunk in chunks
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content")
    ]
    assert len(deltas) > 5  # the model's tokens, one delta each
    streamed = "".join(deltas)
    text, sources = streamed.split("\n\n**Sources**\n\n")
    assert text.strip() == reply
    assert sources.startswith("1. ") and "Kurdistan 24" in sources
    final = chunks[-1]["choices"][0]
    assert final["finish_reason"] == "stop" and final["delta"]["citations"]
    assert "lasted two days" in final["delta"]["citations"][0]["quote"]
