"""Accuracy and calibration of a sentiment model from the catalog.

    .venv/bin/python tools/eval_sentiment.py [--model minilm-sst2] [--sst2 ../shared/data/sst2/dev.tsv]

Reports accuracy per domain on tests/data/reviews.tsv (short review sentences of
clear polarity; NEUTRAL counts as wrong), the share of tests/data/neutral.tsv
(factual sentences) labelled NEUTRAL, and on SST-2 dev the accuracy with NEUTRAL
counted wrong, the polarity accuracy (positive vs negative probability) and the
expected calibration error, through ``services.api.sentiment`` (the app's own path).
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
from services.stats import expected_calibration_error  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--sst2", type=Path, default=ROOT.parent / "shared/data/sst2/dev.tsv")
    args = parser.parse_args()

    with open(ROOT / "tests/data/reviews.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    results = api.sentiment([r["text"] for r in rows], model=args.model)
    print("| domain | sentences | accuracy |\n|---|---|---|")
    expected = ["POSITIVE" if r["label"] == "1" else "NEGATIVE" for r in rows]
    for domain in dict.fromkeys(r["domain"] for r in rows):
        hits = [res.label == want for r, res, want in zip(rows, results, expected) if r["domain"] == domain]
        print(f"| {domain} | {len(hits)} | {np.mean(hits):.3f} |")
    hits = [res.label == want for res, want in zip(results, expected)]
    print(f"| all | {len(hits)} | {np.mean(hits):.3f} |")
    for r, res, want in zip(rows, results, expected):
        if res.label != want:
            print(f"  miss ({r['domain']}): {res.label} {res.score:.2f}  {r['text']}")
    factual = (ROOT / "tests/data/neutral.tsv").read_text(encoding="utf-8").splitlines()[1:]
    labels = [res.label for res in api.sentiment(factual, model=args.model)]
    print(f"\nfactual sentences labelled NEUTRAL: {labels.count('NEUTRAL')} of {len(labels)}")
    if args.sst2.exists():
        with open(args.sst2, encoding="utf-8") as f:
            dev = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        out = api.sentiment([r["text_a"] for r in dev], model=args.model)
        want = ["POSITIVE" if r["label"] == "1" else "NEGATIVE" for r in dev]
        correct = np.array([o.label == w for o, w in zip(out, want)])
        polarity = np.array([(o.scores["POSITIVE"] > o.scores["NEGATIVE"]) == (w == "POSITIVE") for o, w in zip(out, want)])
        confidence = np.array([o.score for o in out])
        print(f"SST-2 dev: {len(dev)} sentences, accuracy {correct.mean():.4f} (NEUTRAL counted wrong;"
              f" {sum(o.label == 'NEUTRAL' for o in out)} NEUTRAL), polarity {polarity.mean():.4f},"
              f" ECE {expected_calibration_error(confidence.tolist(), correct.tolist()):.4f}")


if __name__ == "__main__":
    main()
