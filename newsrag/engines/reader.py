"""The reader engine: a language model picks the short answer, a phrase it must copy verbatim from
the best sentences; the sentences quoted and cited are chosen as by the extractive engine.

The model only points at words already in a passage, so it can mis-pick but never invent: a reply
that is NONE, too long, or not found word for word in the sentences it read leaves the extractive
engine's own short answer in place. The model is asked only when the extractive engine found no
span of the expected type (a "who" question with no person in the best sentences, any "which
<thing>" question): where the types agree the extractive span was right as often as the model, and
the model costs seconds (docs/benchmarks.md "Answers: the reader engine").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from newsrag import prompts
from newsrag.engines.base import Draft, Retrieval
from newsrag.engines.extractive import ExtractiveEngine
from newsrag.engines.llm import LanguageModel
from newsrag.sentences import Candidate
from newsrag.short_answer import ShortAnswer

# The model reads the question's best sentences, not whole passages: 8 sentences are ~360 prompt
# tokens, three 256-token passages ~1,100, and prompt processing dominates a CPU call.
READER_SENTENCES = 8
# A short answer is at most this many words (the "at most ~12 words").
READER_SPAN_WORDS = 12
# The reply is one short phrase: a small budget keeps a rambling model from costing seconds.
READER_MAX_TOKENS = 32

_NO_ANSWER = re.compile(r"^\W*(none|n/?a|unknown|not (stated|given|mentioned))\W*$", re.IGNORECASE)
_LEAD_IN = re.compile(r"^\s*(answer|short answer)\s*:\s*", re.IGNORECASE)
_INITIALS = re.compile(r"(?<![\w.])(?:[A-Za-z]\.)+[A-Za-z]$")
_EDGE = "\"'“”‘’`*.,;: \t\n"


def clean_reply(reply: str) -> str:
    """The phrase in a reply: its first line, without an "Answer:" lead-in, quotes or end stops."""
    lines = [line for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = _LEAD_IN.sub("", lines[0]).strip(_EDGE.replace(".", ""))
    phrase = line.strip(_EDGE)
    if line.endswith(".") and _INITIALS.search(phrase):
        phrase += "."  # initials keep their last dot: "the U.S.", "Washington, D.C." ("$2.39." not)
    return "" if _NO_ANSWER.match(phrase) else phrase


def locate(phrase: str, candidates: Sequence[Candidate]) -> tuple[str, Candidate] | None:
    """The phrase as written in the first sentence holding it (case and spacing aside), or None."""
    words = phrase.split()
    if not words or len(words) > READER_SPAN_WORDS:
        return None
    # Word boundaries at the phrase's ends, so "Ma" is not found inside "Makhmour".
    pattern = re.compile(
        r"(?<!\w)" + r"\s+".join(re.escape(word) for word in words) + r"(?!\w)", re.IGNORECASE
    )
    for candidate in candidates:
        match = pattern.search(candidate.text)
        if match:
            return match.group(0), candidate
    return None


class ReaderEngine:
    """The extractive answer, with its short answer chosen by a language model when it can."""

    def __init__(
        self, model: LanguageModel, templates: prompts.Prompts, extractive: ExtractiveEngine
    ) -> None:
        self.model = model
        self.prompts = templates
        self.extractive = extractive
        self.name = model.name

    def build_prompt(self, question: str, candidates: Sequence[Candidate]) -> tuple[str, str]:
        """The (system, user) messages: the rules, then the numbered sentences fenced as data."""
        lines = [
            f'<passage n="{number}">{prompts.neutralize(candidate.text)}</passage>'
            for number, candidate in enumerate(candidates, start=1)
        ]
        return "", self.prompts.reader_prompt(question=question, passages="\n".join(lines))

    def write(self, retrieval: Retrieval) -> Iterator[str | Draft]:
        """One Draft: the extractive one, led by the model's verbatim span when it gave one."""
        read = retrieval.candidates[:READER_SENTENCES]
        found = None
        if read and not (retrieval.short is not None and retrieval.short.typed):
            system, user = self.build_prompt(retrieval.searched_for, read)
            found = locate(clean_reply(self.model.complete(system, user)), read)
        if found is None:
            yield from self.extractive.write(retrieval)
            return
        span, sentence = found
        # The span leads with its own sentence quoted first, as the extractive short answer does.
        short = ShortAnswer(
            span, sentence.hit_index, sentence, sentence.start, sentence.end, 0.0, False
        )
        yield self.extractive.draft(retrieval, [short])
