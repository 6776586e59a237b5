"""What the calibrated entity confidences and the NEUTRAL class cost, in the same process.

    .venv/bin/python benchmarks/run.py --tasks text-cost

Each row times the served model with and without the addition, on the same loaded weights:
NER with confidences (a beam parse + the calibrator) against the greedy parse alone (the
model's plain ``nlp.pipe``, what the app ran before), and three-way sentiment against the
two-way head alone. Interleaved rounds, medians; one text per call, as the page sends them,
and a batch of 64.
"""

from __future__ import annotations

import csv
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _median_seconds(call, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _pair(with_it, without_it, rounds: int) -> tuple[float, float]:
    a, b = [], []
    for _ in range(rounds):  # interleaved, so drift hits both
        a.append(_median_seconds(with_it, 3))
        b.append(_median_seconds(without_it, 3))
    return statistics.median(a), statistics.median(b)


def bench_text_cost(rounds: int = 9) -> str:
    from services.backends.ner import SpacyNER, load_spacy_ner
    from services.backends.sentiment import LABELS, TextClassifier, load_minilm_head
    from services.catalog import Catalog

    catalog = Catalog.load()
    with open(ROOT / "tests/data/reviews.tsv", encoding="utf-8") as f:
        reviews = [row["text"] for row in csv.DictReader(f, delimiter="\t")][:64]
    news = [
        "Angela Merkel met Emmanuel Macron in Paris on Tuesday, a spokesman for the European Union said.",
        "JAPAN BEAT CHINA 2-1 IN ASIAN CUP , SAYS KYODO .",
    ] * 32
    ner = load_spacy_ner(catalog.get("spacy-conll"), "cpu")
    greedy = SpacyNER(ner.nlp, ner.memory_bytes(), calibrator=None)
    three = load_minilm_head(catalog.get("minilm-sst2"), "cpu")
    module = three.module
    two = TextClassifier(module, three.tokenizer, "cpu", list(LABELS))
    neutral = module.neutral

    def two_way(texts):
        module.neutral = None
        try:
            return two.predict(texts)
        finally:
            module.neutral = neutral

    rows = []
    for name, with_it, without_it, texts in [
        ("NER: confidences (beam 16 + calibrator) vs greedy parse", ner.predict, greedy.predict, news),
        ("Sentiment: NEGATIVE/NEUTRAL/POSITIVE vs the two-way head", three.predict, two_way, reviews),
    ]:
        one_a, one_b = _pair(lambda: with_it(texts[:1]), lambda: without_it(texts[:1]), rounds)
        many_a, many_b = _pair(lambda: with_it(texts), lambda: without_it(texts), max(3, rounds // 3))
        rows.append(f"| {name} | {one_a * 1000:.1f} ms | {one_b * 1000:.1f} ms | {one_a / one_b:.2f}x |"
                    f" {many_a * 1000:.0f} ms | {many_b * 1000:.0f} ms | {many_a / many_b:.2f}x |")
    header = ("| what | one text, with | without | ratio | 64 texts, with | without | ratio |\n"
              "|---|---|---|---|---|---|---|")
    return "### Cost of entity confidences and the NEUTRAL class (same process, medians)\n\n" + header + "\n" + "\n".join(rows)


if __name__ == "__main__":
    print(bench_text_cost())
