"""Conversations: a follow-up question becomes a standalone query ("searched for").

Without an LLM the rewrite is rule-based: a question with a pronoun ("What did he say about
Daesh?") or a fragment ("And in 2018?") after an earlier turn borrows that turn's subject:
- "he/him/his/she/her" -> the first person's name (two or more capitalized words) in the last user
  question, else in the last answer; a role from a "Who is X?" question is added in brackets:
  "What did Rizgar Mohammed (the mayor of Makhmour) say about Daesh?"
- "it/they/them/this/these/those" -> the last question's subject ("the airstrikes on Qarachokh
  mountain"): "Where did it happen?" -> "Where did the airstrikes on Qarachokh mountain happen?"
- an elliptical turn borrows the last question's frame: "And in 2018?" -> "How long did the
  airstrikes on Qarachokh mountain last in 2018?"; "And of Erbil?" after "Who is the mayor of
  Makhmour?" -> "Who is the mayor of Erbil?"; "What about the ground operation?" -> "How long did
  the ground operation last?"; "Tell me more." -> "Tell me more about the airstrikes on ...".
- an imperative first turn ("Tell me about the airstrikes on X.") gives its object as the subject.
- otherwise the subject is added in brackets: "Why (the airstrikes on Qarachokh mountain)?"
With an LLM engine the condense prompt (prompts/condense.txt) does the rewrite instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol

from newsrag.answering import strip_markers, word_set

PERSON_PRONOUNS = {"he": "", "him": "", "she": "", "his": "'s", "hers": "'s"}
THING_PRONOUNS = ("they", "them", "it", "these", "those", "this")
FOLLOW_UP_OPENERS = re.compile(
    r"^(?:and|but|also|so|then|what about|how about|what else|anything else)\b",
    re.IGNORECASE,
)
QUESTION_HEAD = re.compile(
    r"^(?:who|whom|whose|what|when|where|why|which|how(?:\s+(?:long|many|much|often|far))?)"
    r"(?:\s+(?:is|are|was|were|did|do|does|has|have|had|will|would|can|could|should))?\s+",
    re.IGNORECASE,
)
# Requests that are not questions: what follows them is the subject.
IMPERATIVE_HEAD = re.compile(
    r"^(?:please\s+)?(?:(?:can|could|would|will)\s+you\s+)?(?:please\s+)?"
    r"(?:tell\s+me(?:\s+(?:more|everything|all))?\s+(?:about|of|on)"
    r"|(?:give|show|find)\s+me(?:\s+(?:more|the))?(?:\s+(?:news|articles|information|info|details))?"
    r"(?:\s+(?:about|on|regarding))?"
    r"|(?:explain|describe|summari[sz]e|outline|report\s+on|search\s+for|look\s+up|find)"
    r"|i(?:'d|’d|\s+would)\s+like\s+to\s+know\s+about|i\s+want\s+to\s+know\s+about"
    r"|what\s+do\s+you\s+know\s+about|what\s+is\s+known\s+about"
    r"|(?:any\s+)?(?:news|information|info|details|more)\s+(?:about|on|regarding))\s+",
    re.IGNORECASE,
)
ELLIPSIS_OPENER = re.compile(
    r"^(?:and|but|also|so|then)?\s*(?:what|how)\s+about\s+|^(?:and|but|also|so|then)\s+",
    re.IGNORECASE,
)
MORE_PLEASE = re.compile(
    r"^(?:tell\s+me\s+more|more|go\s+on|continue|more\s+details|details|elaborate)$",
    re.IGNORECASE,
)
# "What did X say about Y?": the topic Y is what a later "they/it" points at, not "X say about Y".
REPORTED_TOPIC = re.compile(
    r"^.+?\s+(?:say|said|tell|told|think|thought|report|reported|write|wrote|speak|spoke|talk|"
    r"talked|know|knew|hear|heard|ask|asked|feel|felt|warn|warned)\s+(?:about|of|on|regarding)\s+"
    r"(.+)$",
    re.IGNORECASE,
)
PREPOSITIONS = word_set(
    "in on at of for from since before after during near around by about with between until "
    "inside outside across against"
)
ROLE_QUESTION = re.compile(r"^who\s+(?:is|was|are|were)\s+(the\s+.+?)\s*[?.!]*$", re.IGNORECASE)
# Verbs that end a "did the X <verb>?" question: dropping them leaves the subject phrase.
TRAILING_VERBS = word_set(
    "last happen occur start begin end take say mean do die win lose leave arrive come go "
    "start end happen attack strike announce report kill"
)
# Capitalized words that open sentences or name organizations, not people.
NOT_NAME_WORDS = word_set(
    "the a an in on at of for to by from with and or but as since after before during while "
    "what who when where why which how he she it they we you i this that these those his her "
    "their its our according following unfortunately furthermore however meanwhile although "
    "is are was were did does do has have had will would can could"
)
ORGANIZATION_WORDS = word_set(
    "forces force coalition region state army command government ministry council party "
    "university news agency police security mobilization militia province district city "
    "committee union office department centre center company group organization nations "
    "kurdistan iraq syria iran turkey islamic united"
)
_NAME_RUN = re.compile(
    r"[A-Z][\w’'-]*(?:\s+(?:(?:al|bin|ibn|de|van|von|der)[\s-]+)?[A-Z][\w’'-]*|\s+[0-9]+\b)*"
)
MAX_CONDENSED_CHARS = 500


class TurnLike(Protocol):
    """A message of a conversation (assistant.Turn)."""

    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...


def _words(text: str) -> list[str]:
    return re.findall(r"[\w’'-]+", text.casefold())


def is_follow_up(question: str) -> bool:
    """True when the question leans on an earlier turn (pronoun, opener, or a short fragment)."""
    words = _words(question)
    if not words:
        return False
    if set(words) & (set(PERSON_PRONOUNS) | set(THING_PRONOUNS) | {"her", "their", "its"}):
        return True
    if re.search(r"\bthere\s*[?.!]*$", question, re.IGNORECASE):
        return True
    return bool(FOLLOW_UP_OPENERS.match(question.strip())) or len(words) <= 3


def names(text: str) -> list[str]:
    """Capitalized name runs in text ("Rizgar Mohammed", "Kurdistan 24"), leading function words cut."""
    found: list[str] = []
    for match in _NAME_RUN.finditer(text):
        words = match.group(0).split()
        while words and words[0].casefold() in NOT_NAME_WORDS:
            words = words[1:]
        if words:
            name = " ".join(words)
            if name not in found:
                found.append(name)
    return found


def person_names(text: str) -> list[str]:
    """Names that look like a person's: two or more capitalized words, no digits or org words."""
    return [
        name
        for name in names(text)
        if len(name.split()) >= 2
        and not any(character.isdigit() for character in name)
        and not set(_words(name)) & ORGANIZATION_WORDS
    ]


def subject_phrase(question: str) -> str:
    """The subject of a question: "How long did the airstrikes on X last?" -> "the airstrikes on X"."""
    text = re.sub(r"\s*[?.!]+\s*$", "", " ".join(question.split()))
    text = re.sub(r"\s*\([^)]*\)\s*$", "", text)  # a bracket an earlier rewrite added
    requested = IMPERATIVE_HEAD.sub("", text, count=1)
    if requested != text:
        return requested  # "Tell me about the airstrikes on X" -> "the airstrikes on X"
    body = QUESTION_HEAD.sub("", text, count=1)
    reported = REPORTED_TOPIC.match(body)
    if reported:
        return reported.group(1)  # "Sirwan Barzani say about the airstrikes" -> "the airstrikes"
    words = body.split()
    if len(words) >= 3 and words[-1].casefold() in TRAILING_VERBS:
        words = words[:-1]
    return " ".join(words) or text


def _last(history: Sequence[TurnLike], role: str) -> str:
    for turn in reversed(history):
        if turn.role == role and turn.content.strip():
            return turn.content
    return ""


def _replace_first(pattern: str, replacement: str, text: str) -> tuple[str, bool]:
    replaced, count = re.subn(
        pattern, lambda _match: replacement, text, count=1, flags=re.IGNORECASE
    )
    return replaced, bool(count)


def _fragment(question: str) -> str | None:
    """The bare phrase of an elliptical turn ("And in 2018?" -> "in 2018"), None for a question."""
    body = re.sub(r"\s*[?.!]+\s*$", "", " ".join(question.split()))
    opened = ELLIPSIS_OPENER.sub("", body, count=1)
    words = _words(opened)
    if not words or QUESTION_HEAD.match(opened + " ") or IMPERATIVE_HEAD.match(opened + " "):
        return None
    if set(words) & (set(PERSON_PRONOUNS) | set(THING_PRONOUNS) | {"her", "their", "its"}):
        return None
    if opened == body and len(words) > 3:
        return None  # no opener and more than a few words: a sentence, not a fragment
    if words[0] in {"is", "are", "was", "were", "did", "do", "does", "has", "have", "had"}:
        return None  # "And did it work?": a question of its own
    return opened


def _frame(previous_question: str) -> tuple[str, str, str]:
    """The last question as (core, trailing verb, end mark): "How long did X", "last", "?"."""
    text = re.sub(r"\s*\([^)]*\)\s*(?=[?.!]*$)", "", " ".join(previous_question.split()))
    ending = re.search(r"[?.!]+$", text)
    mark = ending.group(0)[-1] if ending else "?"
    core = text[: ending.start()] if ending else text
    words = core.split()
    verb = ""
    if QUESTION_HEAD.match(core) and len(words) >= 4 and words[-1].casefold() in TRAILING_VERBS:
        core, verb = " ".join(words[:-1]), words[-1]
    return core, verb, mark


def resolve_ellipsis(fragment: str, previous_question: str, *, opened: bool = True) -> str | None:
    """The last question with the fragment put in its place, or None when no rule fits.

    opened: the turn began with "and", "what about"...; only then may a bare noun phrase take the
    place of the last question's subject (a short new question must not be merged into the old).
    """
    core, verb, mark = _frame(previous_question)
    join = (lambda text: f"{text} {verb}".strip()) if verb else (lambda text: text)
    if MORE_PLEASE.match(fragment):
        return f"Tell me more about {subject_phrase(previous_question)}."
    if re.fullmatch(r"\d{4}", fragment):
        fragment = f"in {fragment}"
    first = fragment.split()[0].casefold()
    if first in PREPOSITIONS:
        fragment = first + fragment[len(first) :]  # "In 2018" mid-sentence: "in 2018"
        # The same preposition in the last question: replace its phrase ("of Makhmour" -> "of
        # Erbil"); otherwise the phrase is added at the end ("... last in 2018?").
        same = list(re.finditer(rf"\b{re.escape(first)}\s+", core, flags=re.IGNORECASE))
        if same and same[-1].start() > 0:
            return f"{join(core[: same[-1].start()] + fragment)}{mark}"
        return f"{join(core)} {fragment}{mark}"
    if not opened:
        return None
    previous_names = [name for name in names(core) if not core.startswith(name)]
    if fragment[:1].isupper() and names(fragment) == [fragment] and previous_names:
        replaced = core[::-1].replace(previous_names[-1][::-1], fragment[::-1], 1)[::-1]
        return f"{join(replaced)}{mark}"
    subject = subject_phrase(previous_question)
    head, of, _rest = subject.partition(" of ")
    if of and " of " not in fragment and head in core:
        subject = head  # "the mayor of Makhmour" + "And the governor?": "the governor of Makhmour"
    if subject and subject in core and subject != core:
        return f"{join(core.replace(subject, fragment, 1))}{mark}"
    if IMPERATIVE_HEAD.match(core + " "):
        return f"{core[: len(core) - len(subject)]}{fragment}{mark}" if subject else None
    return None


def rewrite_follow_up(question: str, history: Sequence[TurnLike]) -> str:
    """Rule-based standalone version of a follow-up (the question itself when it is not one)."""
    previous_question = _last(history, "user")
    # An answer opens with its short answer line: the sentences after it name things in context.
    previous_answer = strip_markers(_last(history, "assistant").split("\n\n", 1)[-1])
    if not previous_question or not is_follow_up(question):
        return question
    fragment = _fragment(question)
    if fragment:
        opened = bool(ELLIPSIS_OPENER.match(" ".join(question.split())))
        resolved = resolve_ellipsis(fragment, previous_question, opened=opened)
        if resolved:
            return " ".join(resolved.split())
    subject = subject_phrase(previous_question)
    role = ROLE_QUESTION.match(previous_question.strip())
    people = person_names(previous_question) + person_names(previous_answer)
    rewritten, changed = question, False
    if people:
        person = people[0]
        label = f"{person} ({role.group(1)})" if role else person
        for pronoun, suffix in PERSON_PRONOUNS.items():
            replacement = person + suffix if suffix else label  # no bracket before "'s"
            rewritten, changed = _replace_first(rf"\b{pronoun}\b", replacement, rewritten)
            if changed:
                break
        if not changed:  # "her" is object or possessive: a noun after it means possessive
            rewritten, changed = _replace_first(r"\bher\b(?=\s+[a-z])", person + "'s", rewritten)
        if not changed:
            rewritten, changed = _replace_first(r"\bher\b", label, rewritten)
    if not changed and subject:
        for pronoun in THING_PRONOUNS:
            rewritten, changed = _replace_first(rf"\b{pronoun}\b", subject, rewritten)
            if changed:
                break
    if not changed:
        context = subject or (people[0] if people else "")
        if context and context.casefold() not in question.casefold():
            ending = re.search(r"[?.!]*\s*$", question)
            cut = ending.start() if ending else len(question)
            rewritten = f"{question[:cut].rstrip()} ({context}){question[cut:].strip() or '?'}"
    return " ".join(rewritten.split())


def standalone_question(
    question: str,
    history: Sequence[TurnLike],
    *,
    condense: Callable[[str, str], str] | None = None,
    render_history: Callable[[Sequence[TurnLike]], str] | None = None,
) -> str:
    """The query to search for: the question, or its standalone rewrite after earlier turns.

    condense(rendered_history, question) is the LLM rewrite; its output is used when it is one
    sensible line, else the rule-based rewrite is.
    """
    if not any(turn.role == "user" for turn in history):
        return question
    if condense is not None and render_history is not None:
        condensed = condense(render_history(history), question)
        line = condensed.strip().splitlines()[0].strip().strip("\"'“”") if condensed.strip() else ""
        line = re.sub(r"^(?:standalone question|question)\s*:\s*", "", line, flags=re.IGNORECASE)
        echoed = re.match(r"^(?:user|assistant)\s*:", line, flags=re.IGNORECASE)
        if 3 <= len(line) <= MAX_CONDENSED_CHARS and not echoed:
            return line
    return rewrite_follow_up(question, history)
