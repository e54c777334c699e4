"""Near-duplicate passages found on disk decide exactly as the in-memory LSH table did."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from newsrag.chunking import LSH_BANDS, SIGNATURE_SIZE, NearDuplicates, PassageSignature


class InMemoryNearDuplicates:
    """The previous implementation (every signature in a dict), kept as the reference."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.rows = SIGNATURE_SIZE // LSH_BANDS
        self._buckets: dict[int, list[str]] = {}
        self._signatures: dict[str, PassageSignature] = {}

    def find(self, signature: PassageSignature) -> str | None:
        seen: set[str] = set()
        for band in range(LSH_BANDS):
            for key in self._buckets.get(self._band(signature, band), ()):
                if key in seen:
                    continue
                seen.add(key)
                if signature.jaccard(self._signatures[key]) >= self.threshold:
                    return key
        return None

    def add(self, key: str, signature: PassageSignature) -> None:
        self._signatures[key] = signature
        for band in range(LSH_BANDS):
            self._buckets.setdefault(self._band(signature, band), []).append(key)

    def _band(self, signature: PassageSignature, band: int) -> int:
        return hash((band, signature.minhash[band * self.rows : (band + 1) * self.rows].tobytes()))


def _passages(seed: int) -> list[str]:
    """Originals, copies with a few words changed (near), more changed (far), and repeats."""
    rng = random.Random(seed)
    vocabulary = [f"word{n}" for n in range(400)]
    originals = [" ".join(rng.choices(vocabulary, k=rng.randint(60, 220))) for _ in range(60)]
    passages: list[str] = []
    for _ in range(600):
        words = rng.choice(originals).split()
        for _ in range(rng.choice([0, 1, 2, 4, 10, 40])):
            words[rng.randrange(len(words))] = rng.choice(vocabulary)
        passages.append(" ".join(words))
    return passages


def _decisions(index: NearDuplicates | InMemoryNearDuplicates, passages: list[str]) -> list[str]:
    decisions: list[str] = []
    for number, text in enumerate(passages):
        signature = PassageSignature.of(text)
        if signature is None:
            decisions.append("short")
            continue
        holder = index.find(signature)
        if holder is None:
            index.add(f"p{number}", signature)
        decisions.append(holder or "new")
    return decisions


def test_on_disk_table_makes_the_same_decisions(tmp_path: Path) -> None:
    for seed, threshold in ((1, 0.9), (2, 0.9), (3, 0.7)):
        passages = _passages(seed)
        expected = _decisions(InMemoryNearDuplicates(threshold), passages)
        on_disk = NearDuplicates(threshold, folder=tmp_path)
        assert _decisions(on_disk, passages) == expected
        on_disk.close()
        # Enough of each kind that a lost signature or a wrong order would show.
        assert expected.count("new") > 30
        assert sum(decision.startswith("p") for decision in expected) > 100
    assert list(tmp_path.iterdir()) == []  # the scratch file is unlinked while open


def test_temporary_table_without_folder_and_round_trip_of_shingles() -> None:
    words = " ".join(f"term{index}" for index in range(120))
    signature = PassageSignature.of(words)
    assert signature is not None
    index = NearDuplicates(0.95)
    index.add("first", signature)
    assert index.find(signature) == "first"
    shifted = PassageSignature.of(words.replace("term60", "other"))
    # One word changed of 120: five of 116 shingles differ, Jaccard 111/121 < 0.95.
    assert shifted is not None and signature.jaccard(shifted) < 0.95
    assert index.find(shifted) is None
    stored = np.frombuffer(signature.shingles.astype(np.uint32).tobytes(), dtype=np.uint32)
    assert np.array_equal(stored, signature.shingles)
    index.close()
