"""Accuracy and calibration of a sentiment model from the catalog.

    .venv/bin/python tools/eval_sentiment.py [--model minilm-sst2] [--sst2 ../shared/data/sst2/dev.tsv]

Reports accuracy per domain on tests/data/reviews.tsv (short product,
restaurant and movie review sentences), accuracy and expected calibration
error on SST-2 dev, through ``services.api.sentiment`` (the app's own path).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services import api  # noqa: E402


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    total = 0.0
    for lo in range(bins):
        mask = (confidence > lo / bins) & (confidence <= (lo + 1) / bins)
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--sst2", type=Path, default=ROOT.parent / "shared/data/sst2/dev.tsv")
    args = parser.parse_args()

    with open(ROOT / "tests/data/reviews.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    results = api.sentiment([r["text"] for r in rows], model=args.model)
    print("| domain | sentences | accuracy |\n|---|---|---|")
    for domain in sorted({r["domain"] for r in rows}):
        hits = [(res.label == "POSITIVE") == (r["label"] == "1") for r, res in zip(rows, results) if r["domain"] == domain]
        print(f"| {domain} | {len(hits)} | {np.mean(hits):.3f} |")
    for r, res in zip(rows, results):
        if (res.label == "POSITIVE") != (r["label"] == "1"):
            print(f"  miss ({r['domain']}): {res.label} {res.score:.2f}  {r['text']}")
    if args.sst2.exists():
        with open(args.sst2, encoding="utf-8") as f:
            dev = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        out = api.sentiment([r["text_a"] for r in dev], model=args.model)
        correct = np.array([(o.label == "POSITIVE") == (r["label"] == "1") for r, o in zip(dev, out)])
        confidence = np.array([o.score for o in out])
        print(f"\nSST-2 dev: {len(dev)} sentences, accuracy {correct.mean():.4f}, ECE {ece(confidence, correct):.4f}")


if __name__ == "__main__":
    main()
