"""What one explanation costs, against the prediction it explains, in the same process.

    .venv/bin/python benchmarks/run.py --tasks explain

Through the task API with the bundled defaults, warm (the first explanation in a process also
imports captum and builds the module tree it hooks; that once-only cost is printed below the table).
Baseline: the plain prediction of the same input by the same loaded model. Interleaved
rounds, medians; the issue's bar is an explanation under 2 s on 2 cores.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from benchmarks.text_cost import _pair

ROOT = Path(__file__).resolve().parent.parent


def bench_explain(rounds: int = 5) -> str:
    from services.local import LocalTasks

    tasks = LocalTasks()
    photos = [ROOT / "assets/samples" / name for name in ("cat.jpg", "coffee.jpg", "street.jpg")]
    with open(ROOT / "tests/data/reviews.tsv", encoding="utf-8") as f:
        reviews = [row["text"] for row in csv.DictReader(f, delimiter="\t")]
    paragraph = " ".join(reviews[:5])  # five sentences, about 50 words
    tasks.classify(photos[:1])
    started = time.perf_counter()
    tasks.explain_image(photos[0])  # once: captum's import and the module tree it hooks
    first = time.perf_counter() - started
    tasks.sentiment(reviews[:1])
    tasks.explain_sentiment(reviews[0])

    rows = []
    for name, explain, predict in [
        ("Grad-CAM of the top class, EfficientNet-Lite0, one photo", lambda: [tasks.explain_image(p) for p in photos],
         lambda: [tasks.classify([p]) for p in photos]),
        ("Integrated gradients (32 steps), MiniLM, one review sentence", lambda: [tasks.explain_sentiment(t) for t in reviews[:3]],
         lambda: [tasks.sentiment(t) for t in reviews[:3]]),
        (f"Integrated gradients, a paragraph of five reviews ({len(paragraph.split())} words)",
         lambda: tasks.explain_sentiment(paragraph), lambda: tasks.sentiment(paragraph)),
    ]:
        count = 3 if "one" in name else 1
        with_it, without_it = _pair(explain, predict, rounds)
        rows.append(f"| {name} | {with_it / count * 1000:.0f} ms | {without_it / count * 1000:.1f} ms |"
                    f" {with_it / without_it:.1f}x |")
    header = "| explanation | time | the prediction alone | ratio |\n|---|---|---|---|"
    note = f"\n\nFirst image explanation in the process (imports captum, builds the hooked tree): {first * 1000:.0f} ms."
    return ("### Cost of one explanation (same process, warm, medians)\n\n" + header + "\n" + "\n".join(rows) + note)


if __name__ == "__main__":
    print(bench_explain())
