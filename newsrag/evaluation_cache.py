"""The evaluation's LLM reply cache: replies stored per prompt and sample, replayed on a re-run."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class CachedModel:
    """Wraps the assistant's LLM (stream/complete) to replay replies stored under a folder.

    The key is a sha256 of engine name, endpoint, system prompt, user prompt and sample number:
    `--repeat N` stores N samples per prompt and a re-run replays them, cheap and stable.
    """

    def __init__(self, inner: Any, folder: Path) -> None:
        self.inner = inner
        self.folder = folder
        self.name: str = inner.name
        self.settings = inner.settings
        self.sample = 0
        self.hits = 0
        self.misses = 0

    def path_for(self, system: str, user: str) -> Path:
        """Where the reply to this prompt (and sample) is stored."""
        key = json.dumps([self.name, self.settings.llm_base_url, system, user, self.sample])
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self.folder / digest[:2] / f"{digest}.json"

    def stream(self, system: str, user: str) -> Iterator[str]:
        """The stored reply in one piece, or the model's pieces (stored once complete)."""
        path = self.path_for(system, user)
        try:
            reply = json.loads(path.read_text(encoding="utf-8"))["reply"]
        except (OSError, ValueError, KeyError, TypeError):
            reply = None  # not cached yet, or a damaged entry: ask the model again
        if isinstance(reply, str):
            self.hits += 1
            yield reply
            return
        self.misses += 1
        pieces: list[str] = []
        for piece in self.inner.stream(system, user):
            pieces.append(piece)
            yield piece
        entry = {"model": self.name, "sample": self.sample, "system": system, "user": user}
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({**entry, "reply": "".join(pieces)}), encoding="utf-8")
        temporary.replace(path)  # atomic: a concurrent reader sees all of it or nothing

    def complete(self, system: str, user: str) -> str:
        """The whole reply as one string."""
        return "".join(self.stream(system, user))

    def describe_error(self, error: BaseException) -> Any:
        """The wrapped model's one-line error."""
        return self.inner.describe_error(error)


def cache_model_outputs(source: Any, folder: Path) -> list[CachedModel]:
    """Route the assistant's LLM calls (answer and condense) through CachedModel; [] if none."""
    wrappers = []
    for attribute in ("model", "condense_model"):
        inner = getattr(source, attribute, None)
        if inner is not None and not isinstance(inner, CachedModel):
            wrapper = CachedModel(inner, folder)
            setattr(source, attribute, wrapper)
            wrappers.append(wrapper)
    return wrappers
