"""Write a held-out slice of a bench data set as a data set folder of its own (outside the repo).

The slice pools the articles published in a date range and keeps the questions asked in another
range; `answerable` is recomputed against the slice's own articles (the gold string occurs in
one of them), so the figures of a slice mean what rtqa-dev's mean.

    .venv/bin/python bench/slice.py --dataset rtqa-2022 --name rtqa-2022-aug-dec \\
        --articles-from 2022-08-01 --articles-until 2022-12-31 \\
        --questions-from 2022-08-01 --questions-until 2022-12-31 --out /work/bench-index/slices
    # then: bench/answers.py --bench /work/bench-index/slices --dataset rtqa-2022-aug-dec
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_BENCH_DIR, bench_folder, fold_text


def in_range(day: str, first: str, last: str) -> bool:
    """True when the ISO day lies in [first, last] (an empty bound is open)."""
    return bool(day) and (not first or day >= first) and (not last or day <= last)


def main(argv: list[str] | None = None) -> int:
    """Write corpus.jsonl.gz and questions.jsonl of the slice; print what it holds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=DEFAULT_BENCH_DIR)
    parser.add_argument("--dataset", default="rtqa-2022")
    parser.add_argument("--name", required=True, help="folder name of the slice")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the slice into")
    parser.add_argument("--articles-from", default="")
    parser.add_argument("--articles-until", default="")
    parser.add_argument("--questions-from", default="")
    parser.add_argument("--questions-until", default="")
    args = parser.parse_args(argv)

    source = bench_folder(args.bench, args.dataset)
    target = args.out / args.name
    target.mkdir(parents=True, exist_ok=True)
    articles = []
    with gzip.open(source / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if in_range(str(record.get("date") or ""), args.articles_from, args.articles_until):
                articles.append(record)
    texts = [fold_text(str(record.get("text") or "")) for record in articles]
    questions = []
    with (source / "questions.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if in_range(str(record.get("date") or ""), args.questions_from, args.questions_until):
                gold = fold_text(record["answer"])
                record["answerable"] = bool(gold) and any(gold in text for text in texts)
                questions.append(record)
    with gzip.open(target / "corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
        for record in articles:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    with (target / "questions.jsonl").open("w", encoding="utf-8") as handle:
        for record in questions:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    answerable = sum(record["answerable"] for record in questions)
    print(
        f"{target}: {len(articles)} articles, {len(questions)} questions ({answerable} answerable)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
