"""The short answer: a name, number, date, place or phrase copied verbatim from a cited passage.

1. The question's expected answer type (answer_type): who -> person, how many -> number, when ->
   date, where/which country -> place, which company -> organisation, how much -> money or number,
   what percentage -> percent, how long -> duration, which show/film/... -> a named thing.
2. Candidates: the named entities (spaCy's small English pipeline, shipped in a PyPI wheel) and
   quoted titles of the best-scoring sentences whose label fits the type; a name the question
   already holds is not an answer to it.
3. Each candidate scores its sentence's relevance times the fit of its label, summed over the
   passages that name it (agreement across passages); the best one, as written in its best
   sentence, is the short answer, cited to that passage.
4. "Which <noun>" questions asking for a thing or place: the fit also scales with the span's
   similarity to the head noun ("which insect" -> "monarch butterflies", not the agency that
   listed them), and for things plain noun phrases are candidates too (entities.py).
Without the NER pipeline (not installed) capitalised word runs and numbers stand in for entities.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
HEAD_KINDS = frozenset(
    {"thing", "place"}
)  # chosen on rtqa-dev: "organization" and "person" gained nothing there

# head noun, span texts -> cosine similarity of each span to the head
Similarity = Callable[[str, Sequence[str]], Sequence[float]]

PERSON, NUMBER, MONEY, PERCENT, DURATION, AGE, DATE, PLACE, ORGANIZATION, THING = [
    "person",
    "number",
    "money",
    "percent",
    "duration",
    "age",
    "date",
    "place",
    "organization",
    "thing",
]

_PERSON_NOUNS = (
    r"person|man|woman|men|women|people|actor|actress|singer|star|player|politician|leader|"
    r"celebs?|celebrit(?:y|ies)|musician|rapper|artist|athlete|author|writer|ceo|chief|minister|"
    r"president|senator|judge|justice|member|candidate|official|director|executive|founder|"
    r"host|comedian|footballer|golfer|quarterback|coach|lawmaker|governor|mayor|king|queen|"
    r"prince|princess|monarch|billionaire|journalist|presenter|pop star|model|tennis star|"
    r"head of state|world leader|figure|legend|icon|pitcher|driver|boxer|swimmer|gymnast|"
    r"suspect|victim|survivor|astronaut|scientist|designer|chef|filmmaker|producer|mp|peer|"
    r"lawyer|attorney|general|officer|spokesman|spokeswoman|spokesperson|commander|pope|colonel|"
    r"captain|sergeant|lieutenant|soldier|fighter|militant|diplomat|envoy|ambassador|"
    r"activist|protester|employee|worker|owner|heir|son|daughter|wife|husband|mother|father"
)
_PLACE_NOUNS = (
    r"country|countries|city|cities|state|states|nation|nations|town|island|region|province|"
    r"continent|capital|location|place|county|park|national park|territory|village|area|"
    r"sea|ocean|river|lake|mountain|volcano|airport|stadium|district|neighbou?rhood|border"
)
_ORGANIZATION_NOUNS = (
    r"company|companies|firm|organi[sz]ation|team|teams|agency|party|group|network|brand|"
    r"retailer|chain|airline|bank|university|school|schools|club|service|outlet|newspaper|"
    r"channel|union|carrier|automaker|carmaker|manufacturer|startup|business|store|restaurant|"
    r"platform|app|website|site|studio|label|charity|court|department|ministry|body|church|"
    r"college|hospital|league|federation|committee|coalition|alliance|government|streamer|"
    r"broadcaster|publisher|giant|maker|supermarket|grocer|provider|operator|developer|"
    r"conglomerate|exchange|regulator|watchdog|cartel|gang|militia"
)
_TYPE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind)
    for pattern, kind in (
        (
            r"\bwhat\s+(?:percentage|percent|proportion|share|fraction)\b|\bhow\s+much\s+of\b",
            PERCENT,
        ),
        (r"\bhow\s+old\b|\bwhat\s+age\b|\bat\s+what\s+age\b", AGE),
        (r"\bhow\s+long\b|\bfor\s+how\s+many\s+(?:days|weeks|months|years|hours)\b", DURATION),
        (
            r"\bhow\s+much\s+(?:money|cash|funding|did\b|does\b|do\b|has\b|have\b|is\b|was\b|will\b"
            r"|would\b|are\b|were\b)|\bhow\s+much\b.*\b(?:cost|costs|raise[sd]?|pay|paid|worth|"
            r"spend|spent|earn|earned|fine[sd]?|offer(?:ed)?|price|budget|charge[sd]?)\b"
            r"|\bwhat\s+(?:amount|sum|price)\b|\bhow\s+much\s+(?:\w+\s+){0,4}(?:dollars|pounds|euros)",
            MONEY,
        ),
        (r"\bhow\s+(?:many|much)\b|\bwhat\s+number\b", NUMBER),
        (
            r"^\W*when\b|\bsince\s+when\b|\b(?:what|which)\s+(?:year|date|day|month|time|decade"
            r"|century)\b|\bby\s+when\b|\bwhen\s+(?:did|does|will|was|is|were)\b",
            DATE,
        ),
        (r"\bwho(?:m|se)?\b", PERSON),
        (r"^\W*where\b|\bwhere\s+(?:is|are|was|were|did|does|do|will)\b|\bin\s+which\s+\w+", PLACE),
    )
)
# "Which <head noun>": the first noun of a known kind within the next few words decides.
_HEAD_NOUNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"^(?:{_PERSON_NOUNS})$", re.IGNORECASE), PERSON),
    (re.compile(rf"^(?:{_PLACE_NOUNS})$", re.IGNORECASE), PLACE),
    (re.compile(rf"^(?:{_ORGANIZATION_NOUNS})$", re.IGNORECASE), ORGANIZATION),
)
_WHICH = re.compile(
    r"\b(?:which|what)\s+(?!(?:is|are|was|were|did|does|do|has|have|had|happened|happens|will"
    r"|would|can|could|should|about|if|else)\b)((?:[\w'’-]+\s+){0,3}[\w'’-]+)|\bname\s+the\b",
    re.IGNORECASE,
)


_VERB_LIKE = re.compile(
    r"^(?:\w+ed|is|are|was|were|has|have|had|did|does|do|will|would|can|could|won|made|became"
    r"|said|says|fled|got|took|led|hit|beat|set|lost|sent|ran|went|came|gave|told|saw|wrote|sold"
    r"|bought|left|became|becomes|makes|wins|plans|faces|wants|says)$"
)


def _head_kind(words: str) -> str:
    """The kind of the last known noun among the words after "which"/"what" (THING if none):
    "which major US retailer" is a retailer, "which tennis star" a star."""
    tokens = words.split()
    found = THING
    index = 0
    while index < len(tokens):
        token = tokens[index].casefold()
        if index and (_VERB_LIKE.match(token) or token in _STOP):
            break  # the noun phrase after "which" ends at its verb: "which country fled ..."
        for size in [size for size in (3, 2, 1) if index + size <= len(tokens)]:  # "head of state"
            phrase = " ".join(tokens[index : index + size]).casefold().strip("'’?,.")
            phrase = re.sub(r"['’]s$", "", phrase)
            kind = next((kind for pattern, kind in _HEAD_NOUNS if pattern.match(phrase)), None)
            if kind is not None:
                found = kind
                index += size - 1
                if re.search(r"['’]s$", tokens[index]):
                    return found  # "which company's stock": the possessor is asked for
                break
        index += 1
    return found


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


_WHO_IS_NAME = re.compile(
    r"^\W*(?i:who\s+(?:is|was|are|were))\s+(?P<name>[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*)"
)


_TYPE_OF = re.compile(
    r"^(?:types?|kinds?|sorts?|forms?|species|breeds?|brands?|makes?)\s+of\s+", re.IGNORECASE
)


def question_head(question: str) -> str:
    """The noun phrase a "which/what <noun>" question asks for an instance of ("virus",
    "menu item", "John Constable painting"); "" when there is none ("which of these")."""
    which = _WHICH.search(question)
    if which is None or not which.group(1):
        return ""
    words: list[str] = []
    for index, token in enumerate(_TYPE_OF.sub("", which.group(1)).split()):
        folded = token.casefold().strip("'’?,.")
        if folded in _STOP or (index and _VERB_LIKE.match(folded)):
            break  # "which country fled": the noun phrase ends at its verb
        words.append(token.strip("?,."))
        if re.search(r"['’]s$", token):
            break
    return " ".join(words)


def answer_type(question: str) -> str:
    """The expected answer type of a question ("" when it expects none: yes/no, why, how).

    "Who is Sirwan Barzani?" asks for a description, not a name: no type.
    """
    if _WHO_IS_NAME.match(question):
        return ""
    for pattern, kind in _TYPE_PATTERNS:
        if pattern.search(question):
            return kind
    which = _WHICH.search(question)
    if which is None:
        return ""
    return _head_kind(which.group(1) or "")


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
    """The best-backed span of the expected type in the top sentences, or None.

    outlets: hit index -> the outlet that published it (never the answer about its own story).
    similarity: for "which <thing>" questions, spans nearer the head noun fit better and noun
    phrases become candidates too ("which insect" -> "monarch butterflies").
    """
    outlets = outlets or {}
    kind = answer_type(question) if kind is None else kind
    if not candidates or not kind:
        return None  # no type to look for ("what did X say"): phrase_answer stands in
    best = candidates[0].score
    pool = [
        candidate
        for candidate in candidates[:SENTENCES_CONSIDERED]
        if candidate.score >= SENTENCE_SCORE_FLOOR * best
    ]
    question_words = _content_words(question)
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
                entity = _without_possessive(entity)
                fit = _fits(kind or THING, entity, candidate.raw)
            words = _content_words(entity.text)
            if fit <= 0 or not words or words <= question_words:
                continue  # no fit, or a name the question already holds
            # "Spirit and Frontier" when the question names Spirit: half of it is the question's.
            fit *= 1.0 - len(words & question_words) / len(words)
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
        value = max(candidate.score, 0.0) * fit
        totals[key] = totals.get(key, 0.0) + value
        if key not in best_seen or value > best_seen[key][0]:
            best_seen[key] = (value, candidate, entity, fit >= 1.0)
    if not totals:
        return None
    # "Beth" and "Beth Mead", "UCLA" and "USC and UCLA": the fuller name gets the shorter's votes.
    merged = dict(totals)
    for short_key in totals:
        words = set(short_key.split())
        fuller = [
            other
            for other in totals
            if other != short_key and words < set(other.split()) and len(other.split()) <= 6
        ]
        if fuller:
            target = max(fuller, key=lambda other: totals[other])
            merged[target] += totals[short_key]
            merged[short_key] = 0.0
    totals = merged
    key = max(totals, key=lambda name: (totals[name], best_seen[name][0]))
    _, sentence, entity, typed = best_seen[key]
    text = entity.text.strip(" ,;:")
    start = sentence.start + entity.start
    return ShortAnswer(
        text=text,
        hit_index=sentence.hit_index,
        sentence=sentence,
        start=start,
        end=start + len(text),
        score=totals[key],
        typed=typed,
    )


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
    who = _WHO_IS_NAME.match(question)
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
