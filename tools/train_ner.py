"""Train the bundled NER model: spaCy's en_core_web_sm NER (its CNN token
encoder and weights as the starting point) retrained on CoNLL-2003 for
PER/LOC/ORG/MISC.

    .venv/bin/python tools/train_ner.py [--data ../shared/data/conll2003] [--epochs 12]

Writes assets/models/ner-conll/ (a spaCy pipeline folder) and prints dev
exact-span precision/recall/F1 per type, measured on raw text through the
same code path the app uses.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.catalog import Catalog, resolve_path  # noqa: E402

OUT = ROOT / "assets/models/ner-conll"
TYPES = ("PER", "LOC", "ORG", "MISC")


def read_conll(path: Path) -> list[tuple[list[str], list[str]]]:
    """Sentences as (tokens, BIO tags); CoNLL-2003's IOB1 is converted to BIO."""
    sentences, words, tags = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                sentences.append((words, tags))
            words, tags = [], []
            continue
        parts = line.split()
        tag = parts[-1]
        if tag.startswith("I-") and (not tags or tags[-1][2:] != tag[2:]):
            tag = "B-" + tag[2:]
        words.append(parts[0])
        tags.append(tag)
    return sentences


def spans_of(words: list[str], tags: list[str]) -> tuple[str, list[tuple[int, int, str]]]:
    """The sentence as text (tokens joined by spaces) and its entity character spans."""
    text, offsets = "", []
    for word in words:
        if text:
            text += " "
        offsets.append((len(text), len(text) + len(word)))
        text += word
    spans, current = [], None
    for (start, end), tag in zip(offsets, tags):
        if tag.startswith("B-") or tag == "O" or (current and tag[2:] != current[2]):
            if current:
                spans.append(tuple(current))
            current = [start, end, tag[2:]] if tag != "O" else None
        else:
            current[1] = end
    if current:
        spans.append(tuple(current))
    return text, spans


def evaluate(predict, sentences) -> dict[str, dict[str, float]]:
    """Exact-span P/R/F1 per type and for PER+LOC+ORG together."""
    counts = {t: [0, 0, 0] for t in TYPES}  # true positive, predicted, gold
    texts, golds = zip(*(spans_of(w, t) for w, t in sentences))
    for gold, found in zip(golds, predict(list(texts))):
        gold_set, found_set = set(gold), set(found)
        for t in TYPES:
            g = {s for s in gold_set if s[2] == t}
            f = {s for s in found_set if s[2] == t}
            counts[t][0] += len(g & f)
            counts[t][1] += len(f)
            counts[t][2] += len(g)
    report = {}
    for name, types in [(t, (t,)) for t in TYPES] + [("PER+LOC+ORG", ("PER", "LOC", "ORG"))]:
        tp = sum(counts[t][0] for t in types)
        pred = sum(counts[t][1] for t in types)
        gold = sum(counts[t][2] for t in types)
        p, r = tp / max(pred, 1), tp / max(gold, 1)
        report[name] = {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / max(p + r, 1e-9), 4),
                        "support": gold}
    return report


def main() -> None:
    import spacy
    from spacy.tokens import Doc
    from spacy.training import Example, biluo_tags_to_offsets, iob_to_biluo  # noqa: F401

    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/conll2003")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    random.seed(0)
    spacy.util.fix_random_seed(0)

    train = read_conll(args.data / "train.txt")
    dev = read_conll(args.data / "dev.txt")
    if args.limit:
        train, dev = train[: args.limit], dev[: args.limit]
    base = resolve_path(Catalog.load().get("en-core-web-sm"))
    nlp = spacy.load(base, exclude=["tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])
    ner = nlp.get_pipe("ner")
    for label in TYPES:
        ner.add_label(label)

    def example(words, tags):
        doc = Doc(nlp.vocab, words=words)
        return Example.from_dict(doc, {"entities": iob_to_biluo(tags)})

    examples = [example(w, t) for w, t in train]
    optimizer = nlp.resume_training()
    optimizer.learn_rate = 0.001

    def predict(texts):
        out = []
        for doc in nlp.pipe(texts, batch_size=256):
            out.append([(e.start_char, e.end_char, e.label_) for e in doc.ents])
        return out

    started = time.time()
    best, best_f1 = None, -1.0
    for epoch in range(args.epochs):
        random.shuffle(examples)
        losses: dict[str, float] = {}
        for batch in spacy.util.minibatch(examples, size=spacy.util.compounding(8.0, 64.0, 1.001)):
            nlp.update(batch, sgd=optimizer, drop=0.2, losses=losses)
        with nlp.select_pipes(enable=nlp.pipe_names):
            with ner.model.use_params(optimizer.averages):
                report = evaluate(predict, dev)
        f1 = report["PER+LOC+ORG"]["f1"]
        print(f"epoch {epoch}: loss {losses.get('ner', 0):.0f}  dev PER/LOC/ORG F1 {f1:.4f}"
              f"  all {json.dumps({k: v['f1'] for k, v in report.items()})}  {time.time() - started:.0f}s", flush=True)
        if f1 > best_f1:
            best_f1 = f1
            with ner.model.use_params(optimizer.averages):
                best = nlp.to_bytes()
    nlp.from_bytes(best)
    report = evaluate(predict, dev)
    tmp = args.out.with_name(args.out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    nlp.meta["name"] = "ner_conll"
    nlp.meta["description"] = "en_core_web_sm 3.8 NER retrained on CoNLL-2003 (PER/LOC/ORG/MISC)"
    nlp.meta["performance"] = {"conll2003_dev": report}
    nlp.to_disk(tmp)
    shutil.rmtree(args.out, ignore_errors=True)
    tmp.rename(args.out)
    (args.out / "scores.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"wrote {args.out} in {time.time() - started:.0f}s")


if __name__ == "__main__":
    main()
