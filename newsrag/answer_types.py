"""What a question asks for: its answer type, the head noun of "which <noun>", its slot anchors.

who -> person, how many -> number, when -> date, where/which country -> place, which company ->
organisation, how much -> money or number, what percentage -> percent, how long -> duration, which
show/film/... -> a named thing; "" when it expects no type (yes/no, why, how). The slot anchors are
the question's words just before and just after its wh-phrase, where the answer stands in a sentence.
"""

from __future__ import annotations

import re

from newsrag.entities import FUNCTION_WORDS as _STOP

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
        (
            r"\bhow\s+long\b|\bhow\s+many\s+(?:seconds|minutes|hours|days|weeks|months|years)\b",
            DURATION,
        ),
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


WHO_IS_NAME = re.compile(
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
    if WHO_IS_NAME.match(question):
        return ""
    for pattern, kind in _TYPE_PATTERNS:
        if pattern.search(question):
            return kind
    which = _WHICH.search(question)
    if which is None:
        return ""
    return _head_kind(which.group(1) or "")


WORD_PATTERN = re.compile(r"[\w'’.-]*\w")
_WH = re.compile(r"\b(?:which|what|who|whom|whose|how\s+(?:many|much)|when|where)\b", re.IGNORECASE)
_AUXILIARY = frozenset({
    "did", "does", "do", "was", "were", "is", "are", "has", "have", "had", "will", "would", "can",
    "could", "should", "may", "might",
})  # fmt: skip


def word_key(word: str) -> str:
    """A word folded for matching: case, a possessive and a plural s."""
    folded = re.sub(r"['’]s$", "", word.casefold())
    return folded[:-1] if len(folded) > 3 and folded.endswith("s") else folded


def slot_anchors(question: str) -> tuple[frozenset[str], frozenset[str]]:
    """The question's last content word before its wh-phrase and first after it (word keys)."""
    found = _WH.search(question)
    if found is None:
        return frozenset(), frozenset()
    before = [
        word
        for word in WORD_PATTERN.findall(question[: found.start()])
        if word.casefold() not in _STOP
    ]
    after_text = question[found.end() :]
    head = question_head(question) if found.group(0).casefold() in ("which", "what") else ""
    after = WORD_PATTERN.findall(after_text)
    if head and after_text.strip().startswith(head.split()[0]):
        after = after[len(head.split()) :]  # past the head noun: "which island nation | plunged"
    left = frozenset({word_key(before[-1])} if before else set())
    right: set[str] = set()
    if found.group(0).casefold().startswith("how") and after:
        right.add(word_key(after[0]))  # the counted noun: "how many subscribers"
    elif after and after[0].casefold() not in _AUXILIARY:
        content = [word for word in after if word.casefold() not in _STOP]
        if content and content[0] == after[0]:
            right.add(word_key(content[0]))
    return left, frozenset(right)
