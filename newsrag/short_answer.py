"""The short answer: a name, number, date, place or phrase copied verbatim from a cited passage.

1. The question's expected answer type (answer_types.py): who -> person, how many -> number, when
   -> date, where/which country -> place, which company -> organisation, a "which <noun>" head noun.
2. Candidates: the named entities (spaCy's small English pipeline, shipped in a PyPI wheel) and
   quoted titles of the best-scoring sentences whose label fits the type; a name the question
   already holds is not an answer to it.
3. Each candidate scores its sentence's relevance times the fit of its label, summed over the
   passages that name it (agreement across passages); the best one, as written in its best
   sentence, is the short answer, cited to that passage (rank_short_answers: all of them, best
   first). Amounts never merge ("2 million" is not a part of "2.5 million"); names do.
4. "Which <noun>" questions asking for a thing or place: the fit also scales with the span's
   similarity to the head noun ("which insect" -> "monarch butterflies", not the agency that
   listed them), and for things plain noun phrases are candidates too (entities.py).
Without the NER pipeline (not installed) capitalised word runs and numbers stand in for entities.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from newsrag.answer_types import (
    AGE,
    DATE,
    DURATION,
    MONEY,
    NUMBER,
    ORGANIZATION,
    PERCENT,
    PERSON,
    PLACE,
    THING,
    WHO_IS_NAME,
    WORD_PATTERN,
    answer_type,
    question_head,
    slot_anchors,
    word_key,
)
from newsrag.entities import FUNCTION_WORDS as _STOP
from newsrag.entities import Entity, EntityFinder
from newsrag.sentences import Candidate

MAX_SHORT_WORDS = 12
# Sentences (best first) whose entities are considered, and how far below the best they may score.
SENTENCES_CONSIDERED = 12
SENTENCE_SCORE_FLOOR = 0.5
# "Which <noun>" questions (HEAD_KINDS): a span's fit scales with its similarity to the head noun, from 0 at
# HEAD_SIMILARITY_NONE to 1 at HEAD_SIMILARITY_FULL (cosine, the answer embedder), never below
# HEAD_FIT_FLOOR; a plain noun phrase (no entity label) starts at PHRASE_FIT. Chosen on rtqa-dev
# (docs/benchmarks.md "Answers").
HEAD_SIMILARITY_NONE = 0.1
HEAD_SIMILARITY_FULL = 0.5
HEAD_FIT_FLOOR = 0.05
PHRASE_FIT = 0.5
# The answer stands where the question's wh-word stands: right after the question's last word
# before it ("an affair with [who]" -> "an affair with Nicole Shanahan") or right before its first
# word after it ("[which nation] plunged" -> "Sri Lanka has plunged", "lost [how many]
# subscribers" -> "970,000 subscribers"). A span within SLOT_WINDOW words of such an anchor
# in its sentence has its fit multiplied by 1 + SLOT_BONUS. Chosen on rtqa-dev (docs/benchmarks.md
# "Answers": a plateau over bonus 2-5, window 4-6).
SLOT_BONUS = 2.0
SLOT_WINDOW = 5
HEAD_KINDS = frozenset(
    {"thing", "place"}
)  # chosen on rtqa-dev: "organization" and "person" gained nothing there

# head noun, span texts -> cosine similarity of each span to the head
Similarity = Callable[[str, Sequence[str]], Sequence[float]]

# How well an NER label answers each type (1 = the type's own label).
_LABEL_FIT: dict[str, dict[str, float]] = {
    PERSON: {"PERSON": 1.0},
    NUMBER: {"CARDINAL": 1.0, "QUANTITY": 1.0, "MONEY": 0.6, "PERCENT": 0.5, "DATE": 0.2},
    MONEY: {"MONEY": 1.0, "CARDINAL": 0.4},
    PERCENT: {"PERCENT": 1.0, "CARDINAL": 0.3},
    DURATION: {"DATE": 1.0, "TIME": 1.0, "CARDINAL": 0.3},
    AGE: {"DATE": 1.0, "CARDINAL": 0.8},
    DATE: {"DATE": 1.0, "TIME": 0.6},
    PLACE: {"GPE": 1.0, "LOC": 1.0, "FAC": 0.8, "NORP": 0.4, "ORG": 0.3},
    ORGANIZATION: {"ORG": 1.0, "PRODUCT": 0.6, "PERSON": 0.3, "GPE": 0.3, "FAC": 0.4, "NORP": 0.3},
    THING: {
        "WORK_OF_ART": 1.0, "PRODUCT": 0.9, "EVENT": 0.9, "ORG": 0.8, "PERSON": 0.7, "LAW": 0.8,
        "GPE": 0.6, "LOC": 0.6, "FAC": 0.7, "NORP": 0.6, "LANGUAGE": 0.6, "QUOTE": 0.9,
        "MONEY": 0.3, "CARDINAL": 0.2, "PERCENT": 0.3, "DATE": 0.2, "QUANTITY": 0.3,
    },
}  # fmt: skip
_DURATION_UNIT = re.compile(
    r"\b(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?)\b", re.IGNORECASE
)


def _in_slot(sentence: str, entity: Entity, anchors: tuple[frozenset[str], frozenset[str]]) -> bool:
    """True when the span follows a left anchor or precedes a right anchor within SLOT_WINDOW words."""
    left, right = anchors
    if not left and not right:
        return False
    before = [word_key(word) for word in WORD_PATTERN.findall(sentence[: entity.start])]
    after = [word_key(word) for word in WORD_PATTERN.findall(sentence[entity.end :])]
    return bool(left & set(before[-SLOT_WINDOW:])) or bool(right & set(after[:SLOT_WINDOW]))


def _content_words(text: str) -> set[str]:
    folded = re.sub(r"['’]s\b", "", text.casefold().replace("’", "'"))
    return {word for word in re.findall(r"[\w']+", folded) if word not in _STOP}


def _key(text: str) -> str:
    """A candidate's identity across passages: case, articles, possessives, punctuation folded."""
    words = re.findall(r"[\w]+", re.sub(r"['’]s\b", "", text.casefold()))
    while words and words[0] in ("the", "a", "an"):
        words = words[1:]
    return " ".join(words)


@dataclass(frozen=True)
class ShortAnswer:
    """The short answer, where it was found and how strongly the passages back it."""

    text: str
    hit_index: int  # 0-based hit holding it
    sentence: Candidate  # the sentence it was copied from
    start: int  # offsets into the article text
    end: int
    score: float  # summed relevance x label fit over the sentences naming it
    typed: bool  # the label fits the expected type exactly (fit 1.0)


def _widen_pair(sentence: str, first: Entity, entities: Sequence[Entity]) -> Entity:
    """'Sweden and Finland': an entity joined by 'and'/'&' to one of the same label becomes one."""
    for other in entities:
        gap = sentence[first.end : other.start]
        if (
            other.start > first.end
            and other.label == first.label
            and re.fullmatch(r",?\s+(?:and|&)\s+", gap)
        ):
            return Entity(sentence[first.start : other.end], first.label, first.start, other.end)
    return first


_AGE_CONTEXT = re.compile(r"\baged?\b|\byears?[- ]old\b|\b\d{1,3}-year-old\b", re.IGNORECASE)


# "LONDON, July 7 (Reuters) -", "(CNN) —", "WASHINGTON —": a dateline names where the story was
# filed and who filed it, not an answer.
_DATELINE = re.compile(
    r"^\W{0,3}(?:[A-Z][\w.'’-]*(?:[ ,]+[A-Z0-9][\w.'’-]*){0,4}[ ,]*)?(?:\([^)]{1,40}\)\s*)?[-—–:]+\s"
    r"|^\W{0,3}\([^)]{1,40}\)\s*[-—–:]*\s?"
)
_CURRENCY = "$£€¥"


def dateline_end(sentence: str) -> int:
    """Where a sentence's dateline ends (0 when it has none)."""
    found = _DATELINE.match(sentence)
    return found.end() if found and found.end() <= 60 else 0


def _without_possessive(entity: Entity) -> Entity:
    """ "Sri Lanka's" -> "Sri Lanka": the name, not its possessive."""
    found = re.search(r"\s?['’]s$", entity.text)
    if found is None:
        return entity
    return Entity(
        entity.text[: found.start()], entity.label, entity.start, entity.start + found.start()
    )


def _with_currency(sentence: str, entity: Entity) -> Entity:
    """ "10,000" written "$10,000": the symbol belongs to the amount."""
    if entity.start > 0 and sentence[entity.start - 1] in _CURRENCY:
        return Entity(
            sentence[entity.start - 1 : entity.end], entity.label, entity.start - 1, entity.end
        )
    return entity


# "£7m", "$1.5bn": spaCy ends the amount before a unit written onto it.
_ATTACHED_UNIT = re.compile(r"(?:bn|mn|tn|m|k|b)\b")
# A person's title as news writes it before the name ("UK Prime Minister Boris Johnson",
# "President Joe Biden", "Rep. Glenn Thompson, R-Pa."): part of the answer, not of the name.
_TITLE_BEFORE = re.compile(
    r"(?:(?:(?:UK|US|U\.S\.|British|French|German|Russian|Ukrainian|Chinese|then-|former)\s+)?"
    r"(?:Prime\s+Minister|(?:Vice\s+)?President|Chancellor|Secretary\s+of\s+State|Secretary|"
    r"Sen\.|Senator|Rep\.|Representative|Gov\.|Governor|Mayor|Dr\.|King|Queen|Prince|Princess|"
    r"Pope|Judge|Justice|Speaker|Ambassador|General|Gen\.|Col\.|Minister|CEO)\s+)$"
)
_PARTY_AFTER = re.compile(r",\s+[RDI]-[A-Z][A-Za-z]{1,4}\.?(?=[\s,;.)]|$)")


def _with_unit(sentence: str, entity: Entity) -> Entity:
    """ "£7" of "£7m": the amount with the unit written onto it."""
    if entity.label not in ("MONEY", "CARDINAL", "QUANTITY"):
        return entity
    unit = _ATTACHED_UNIT.match(sentence, entity.end)
    if unit is None:
        return entity
    return Entity(sentence[entity.start : unit.end()], entity.label, entity.start, unit.end())


def _with_title(sentence: str, entity: Entity) -> Entity:
    """ "Joe Biden" said "President Joe Biden": the title (and a US party-state tag) with the name."""
    if entity.label != "PERSON":
        return entity
    start, end = entity.start, entity.end
    title = _TITLE_BEFORE.search(sentence[max(0, start - 60) : start])
    if title is not None:
        start -= len(title.group(0))
    party = _PARTY_AFTER.match(sentence, end)
    if party is not None:
        end = party.end()
    if (start, end) == (entity.start, entity.end):
        return entity
    return Entity(sentence[start:end], entity.label, start, end)


def _fits(kind: str, entity: Entity, sentence: str = "") -> float:
    fit = _LABEL_FIT.get(kind, _LABEL_FIT[THING]).get(entity.label, 0.0)
    if kind == AGE and not _AGE_CONTEXT.search(sentence):
        fit *= 0.3  # a number is an age only where the text says "aged 40" or "40 years old"
    if (
        kind == DURATION
        and entity.label in ("DATE", "TIME")
        and not _DURATION_UNIT.search(entity.text)
    ):
        fit *= 0.3  # "Monday" does not say how long
    if (
        kind == DATE
        and entity.label == "DATE"
        and re.fullmatch(r"(?i)(?:today|now|this week|yesterday)", entity.text)
    ):
        fit *= 0.3
    return fit


def find_short_answer(
    question: str,
    candidates: Sequence[Candidate],
    *,
    finder: EntityFinder,
    kind: str | None = None,
    outlets: dict[int, str] | None = None,
    similarity: Similarity | None = None,
) -> ShortAnswer | None:
    """The best-backed span of the expected type in the top sentences, or None."""
    ranked = rank_short_answers(
        question, candidates, finder=finder, kind=kind, outlets=outlets, similarity=similarity
    )
    return ranked[0] if ranked else None


def rank_short_answers(
    question: str,
    candidates: Sequence[Candidate],
    *,
    finder: EntityFinder,
    kind: str | None = None,
    outlets: dict[int, str] | None = None,
    similarity: Similarity | None = None,
) -> list[ShortAnswer]:
    """Every span of the expected type in the top sentences, best-backed first ([] if none).

    outlets: hit index -> the outlet that published it (never the answer about its own story).
    similarity: for "which <thing>" questions, spans nearer the head noun fit better and noun
    phrases become candidates too ("which insect" -> "monarch butterflies").
    """
    outlets = outlets or {}
    kind = answer_type(question) if kind is None else kind
    if not candidates or not kind:
        return []  # no type to look for ("what did X say"): phrase_answer stands in
    best = candidates[0].score
    pool = [
        candidate
        for candidate in candidates[:SENTENCES_CONSIDERED]
        if candidate.score >= SENTENCE_SCORE_FLOOR * best
    ]
    question_words = _content_words(question)
    # "near which national park" -> "Yosemite National Park": the head noun's words name the type
    # asked for, so a span holding them does not repeat the question.
    repeated = question_words - _content_words(question_head(question))
    anchors = slot_anchors(question)
    totals: dict[str, float] = {}
    best_seen: dict[str, tuple[float, Candidate, Entity, bool]] = {}
    texts = [candidate.raw for candidate in pool]
    head = question_head(question) if kind in HEAD_KINDS and similarity is not None else ""
    phrases = finder.phrases(texts) if head and kind == THING else [() for _ in pool]
    eligible: list[tuple[Candidate, Entity, float, str]] = []
    for candidate, entities, found_nouns in zip(pool, finder.entities(texts), phrases, strict=True):
        # A noun phrase cut from a name ("Nature" of "the International Union for the
        # Conservation of Nature") is not a candidate: the name is.
        nouns = [
            noun
            for noun in found_nouns
            if not any(
                e.start <= noun.start and noun.end <= e.end and e.end - e.start > len(noun.text)
                for e in entities
            )
        ]
        seen_here: set[str] = set()
        skip_until = dateline_end(candidate.raw)
        outlet = _key(outlets.get(candidate.hit_index, ""))
        for entity in (*entities, *nouns):
            if entity.start < skip_until:
                continue  # the dateline's place and agency
            if entity.label == "PHRASE":
                fit = PHRASE_FIT
            else:
                entity = _with_currency(candidate.raw, _widen_pair(candidate.raw, entity, entities))
                entity = _with_unit(candidate.raw, _without_possessive(entity))
                fit = _fits(kind or THING, entity, candidate.raw)
            # The question-word checks look at the name alone: "President" in the question does
            # not make "President Joe Biden" half the question's.
            words = _content_words(entity.text)
            entity = _with_title(candidate.raw, entity)
            if fit <= 0 or not words or words <= question_words:
                continue  # no fit, or a name the question already holds
            # "Spirit and Frontier" when the question names Spirit: half of it is the question's.
            fit *= 1.0 - len(words & repeated) / len(words)
            if len(entity.text.split()) > MAX_SHORT_WORDS:
                continue
            key = _key(entity.text)
            if not key or key in seen_here or (outlet and (key in outlet or outlet in key)):
                continue  # the outlet that published the passage is not what it reports
            seen_here.add(key)
            eligible.append((candidate, entity, fit, key))
    nearness: dict[str, float] = {}
    if head and similarity is not None and eligible:
        # Only the spans that can still win are embedded: one small batch per question.
        spans = list(dict.fromkeys(entity.text for _, entity, _, _ in eligible))
        nearness = dict(zip(spans, similarity(head, spans), strict=True))
    for candidate, entity, fit, key in eligible:
        if nearness:
            scale = (nearness[entity.text] - HEAD_SIMILARITY_NONE) / (
                HEAD_SIMILARITY_FULL - HEAD_SIMILARITY_NONE
            )
            fit *= min(1.0, max(HEAD_FIT_FLOOR, scale))
        typed = fit >= 1.0
        if SLOT_BONUS and _in_slot(candidate.raw, entity, anchors):
            fit *= 1.0 + SLOT_BONUS
        value = max(candidate.score, 0.0) * fit
        totals[key] = totals.get(key, 0.0) + value
        if key not in best_seen or value > best_seen[key][0]:
            best_seen[key] = (value, candidate, entity, typed)
    if not totals:
        return []
    # "Beth" and "Beth Mead", "UCLA" and "USC and UCLA": the fuller name gets the shorter's votes.
    merged = dict(totals)  # a shorter name merged into a fuller one leaves the ranking
    for short_key in totals:
        if any(character.isdigit() for character in short_key):
            continue  # "2 million" is not part of "2.5 million": amounts never merge
        words = set(short_key.split())
        fuller = [
            other
            for other in merged
            if other != short_key and words < set(other.split()) and len(other.split()) <= 6
        ]
        if fuller:
            target = max(fuller, key=lambda other: totals[other])
            merged[target] += totals[short_key]
            del merged[short_key]
    order = sorted(
        merged,
        key=lambda name: (merged[name], best_seen[name][0]),
        reverse=True,
    )
    ranked: list[ShortAnswer] = []
    for key in order:
        _, sentence, entity, typed = best_seen[key]
        text = entity.text.strip(" ,;:")
        start = sentence.start + entity.start
        ranked.append(
            ShortAnswer(
                text=text,
                hit_index=sentence.hit_index,
                sentence=sentence,
                start=start,
                end=start + len(text),
                score=merged[key],
                typed=typed,
            )
        )
    return ranked


_THAT_CLAUSE = re.compile(
    r"\b(?:said|says|told\s+[^,.;]{0,40}?|announced|added|warned|stated|claimed|explained|noted"
    r"|reported|confirmed|revealed|insisted|argued|believes?|believed|clarified|suggested|predicted"
    r"|estimated|acknowledged|admitted|denied|found|shows?|showed)\s*,?(?:\s*however,)?\s+"
    r"(?:on\s+\w+\s+)?that\s+",
    re.IGNORECASE,
)
_LONG_QUOTE = re.compile(r"[“\"]([^“”\"]{20,}?)[”\"]")


def _first_words(text: str, start: int) -> tuple[int, int] | None:
    """Offsets of up to MAX_SHORT_WORDS words of text from start, stopping at , ; : or ."""
    words = list(re.finditer(r"[^\s]+", text[start:]))[:MAX_SHORT_WORDS]
    if not words:
        return None
    end = start + words[-1].end()
    stop = re.search(r"[,;:.!?”\"]", text[start:end])
    if stop and stop.start() > 0 and len(text[start : start + stop.start()].split()) >= 3:
        end = start + stop.start()
    return start, end


def phrase_answer(question: str, sentence: Candidate) -> tuple[str, int] | None:
    """A stand-in short answer from the best sentence, with its offset in the sentence's raw text:
    what someone said ("... told X that <clause>"), a quotation, else the longest run
    (<= MAX_SHORT_WORDS) of words the question does not hold (None when there is none)."""
    raw = sentence.raw
    who = WHO_IS_NAME.match(question)
    if who:  # "Sirwan Barzani, a Peshmerga Commander at the front line, told ...": the apposition
        surname = re.escape(who.group("name").split()[-1])
        apposition = re.search(rf"{surname}\s*,\s+((?:a|an|the)\s+[^,;]{{3,100}})", raw)
        if apposition and len(apposition.group(1).split()) <= MAX_SHORT_WORDS:
            return apposition.group(1), apposition.start(1)
    clause = _THAT_CLAUSE.search(raw)
    quote = _LONG_QUOTE.search(raw)
    for found in (clause.end() if clause else None, quote.start(1) if quote else None):
        if found is None:
            continue
        span = _first_words(raw, found)
        if span is not None:
            text = raw[span[0] : span[1]].strip(" ,;:“”\"'‘’")
            if len(text.split()) >= 2:
                return text, raw.index(text, span[0])
    question_words = _content_words(question)
    words = list(re.finditer(r"[^\s]+", sentence.raw))
    best: tuple[int, int] = (0, 0)
    run_start = None
    for index, match in enumerate([*words, None]):
        token = _key(match.group(0)) if match is not None else ""
        inside = match is not None and token not in question_words and bool(token)
        if inside and run_start is None:
            run_start = index
        if not inside and run_start is not None:
            # Trim stop words at both ends of the run: "the drought in" -> "drought".
            first, last = run_start, index
            while first < last and _key(words[first].group(0)) in _STOP:
                first += 1
            while last > first and _key(words[last - 1].group(0)) in _STOP:
                last -= 1
            last = min(last, first + MAX_SHORT_WORDS)
            if last - first > best[1] - best[0]:
                best = (first, last)
            run_start = None
    if best[1] <= best[0]:
        return None
    start, end = words[best[0]].start(), words[best[1] - 1].end()
    text = sentence.raw[start:end].rstrip(".,;:!?\"”’')").lstrip("\"“‘'(")
    if not text:
        return None
    offset = sentence.raw.index(text, start)
    return text, offset
