"""Prompt templates from prompts/ (system, qa, condense, refuse) and the fencing of passages.

Templates are plain text files `<name>.txt` with named placeholders in `str.format` syntax
(`{question}`; a literal brace is written `{{` or `}}`). Each template has required and
allowed placeholders; a missing file, an unknown or missing placeholder or a malformed brace is a
PromptError naming the file, raised once when the Assistant opens (never mid-answer).
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from newsrag.errors import EngineUnavailableError
from newsrag.models import Hit

# name -> (required placeholders, optional placeholders)
TEMPLATE_SPECS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "system": (frozenset(), frozenset({"refusal", "today"})),
    "qa": (frozenset({"question", "passages"}), frozenset({"refusal", "today"})),
    "condense": (frozenset({"history", "question"}), frozenset({"today"})),
    "refuse": (frozenset(), frozenset({"question"})),
    "reader": (frozenset({"question", "passages"}), frozenset({"today"})),
}
TEMPLATE_SUFFIX = ".txt"
PACKAGE_PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"
MAX_HISTORY_TURN_CHARS = 600
# "<passage", "</passage" in any case and spacing: the fence the LLM prompt puts around passages.
_FENCE_MARKER = re.compile(r"<(\s*/?\s*passage)", re.IGNORECASE)


class PromptError(EngineUnavailableError, ValueError):
    """A prompt template is missing or broken; the message names the file and the fix."""

    hint = "fix the template named (NEWSRAG_PROMPTS_DIR)"


def resolve_prompts_dir(directory: Path) -> Path:
    """The prompts folder: as given, or (relative and absent) the one beside the package."""
    folder = Path(directory)
    if folder.is_dir() or folder.is_absolute():
        return folder
    # Run from another working directory: fall back to the checkout's own prompts/.
    fallback = PACKAGE_PROMPTS_DIR.parent / folder
    return fallback if fallback.is_dir() else folder


def placeholders(template: str, *, where: str) -> set[str]:
    """The named placeholders of a template; positional or odd fields are a PromptError."""
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise PromptError(
            f"{where}: malformed braces ({error}): write a literal brace as {{{{ or }}}}"
        ) from error
    for _literal, field, _spec, _conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier():
            raise PromptError(
                f"{where}: placeholder {{{field}}} is not a plain name: use e.g. {{question}}"
            )
        names.add(field)
    return names


def check_template(name: str, text: str, *, where: str) -> None:
    """Raise PromptError when the template uses unknown placeholders or lacks required ones."""
    required, optional = TEMPLATE_SPECS[name]
    found = placeholders(text, where=where)
    unknown = sorted(found - required - optional)
    if unknown:
        allowed = ", ".join("{" + item + "}" for item in sorted(required | optional)) or "none"
        raise PromptError(
            f"{where}: unknown placeholder {', '.join('{' + item + '}' for item in unknown)} "
            f"(allowed: {allowed})"
        )
    missing = sorted(required - found)
    if missing:
        raise PromptError(
            f"{where}: missing placeholder {', '.join('{' + item + '}' for item in missing)}: "
            "the template must contain it"
        )
    if not text.strip():
        raise PromptError(f"{where}: the template is empty")


@dataclass(frozen=True)
class Prompts:
    """The templates, checked; render them with the helpers below."""

    system: str
    qa: str
    condense: str
    refuse: str
    reader: str
    directory: Path

    @classmethod
    def load(cls, directory: Path) -> Prompts:
        """Read and check <directory>/{system,qa,condense,refuse,reader}.txt."""
        folder = resolve_prompts_dir(directory)
        texts: dict[str, str] = {}
        for name in TEMPLATE_SPECS:
            path = folder / f"{name}{TEMPLATE_SUFFIX}"
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError as error:
                raise PromptError(
                    f"{path}: prompt template missing: restore it or point NEWSRAG_PROMPTS_DIR "
                    f"at a folder holding {', '.join(name + TEMPLATE_SUFFIX for name in TEMPLATE_SPECS)}"
                ) from error
            except (OSError, UnicodeDecodeError) as error:
                raise PromptError(f"{path}: cannot read the prompt template: {error}") from error
            check_template(name, text, where=str(path))
            texts[name] = text.strip()
        return cls(directory=folder, **texts)

    def refusal(self, question: str = "") -> str:
        """The plain refusal sentence."""
        return self.refuse.format(question=question).strip()

    def system_prompt(self, *, today: str = "") -> str:
        """The system message of the answer prompt."""
        return self.system.format(refusal=self.refusal(), today=today)

    def qa_prompt(self, *, question: str, passages: str, today: str = "") -> str:
        """The user message of the answer prompt: fenced passages and the question."""
        return self.qa.format(
            question=question, passages=passages, refusal=self.refusal(question), today=today
        )

    def reader_prompt(self, *, question: str, passages: str, today: str = "") -> str:
        """The reader engine's prompt: fenced sentences, the question, "reply with a phrase"."""
        return self.reader.format(question=question, passages=passages, today=today)

    def condense_prompt(self, *, history: str, question: str, today: str = "") -> str:
        """The prompt that turns a follow-up into a standalone question."""
        return self.condense.format(history=history, question=question, today=today)


def neutralize(text: str) -> str:
    """Passage text with anything that looks like the passage fence defused ('<' -> '‹')."""
    return _FENCE_MARKER.sub(lambda match: "‹" + match.group(1), text)


def _attribute(value: str) -> str:
    """A metadata value safe inside a fence tag attribute (one line, no quotes or angles)."""
    cleaned = " ".join(value.split()).replace('"', "'").replace("<", "‹").replace(">", "›")
    return cleaned[:200]


def fence_passages(hits: Sequence[Hit]) -> str:
    """Number the passages [1]..[n] and fence each one as data for the LLM prompt."""
    blocks: list[str] = []
    for number, hit in enumerate(hits, start=1):
        meta = hit.article
        attributes = f'n="{number}" title="{_attribute(meta.title)}"'
        if meta.source:
            attributes += f' outlet="{_attribute(meta.source)}"'
        attributes += f' date="{_attribute(meta.date or "undated")}"'
        body = neutralize(hit.chunk.text.strip())
        blocks.append(f"<passage {attributes}>\n{body}\n</passage>")
    return "\n\n".join(blocks)


def render_history(turns: Sequence[tuple[str, str]], *, limit: int = 6) -> str:
    """The last turns as 'User: ...' / 'Assistant: ...' lines, each cut to a few hundred chars."""
    lines: list[str] = []
    for role, content in list(turns)[-limit:]:
        text = " ".join(content.split())
        if len(text) > MAX_HISTORY_TURN_CHARS:
            text = text[: MAX_HISTORY_TURN_CHARS - 1] + "…"
        lines.append(f"{'User' if role == 'user' else 'Assistant'}: {text}")
    return "\n".join(lines)
