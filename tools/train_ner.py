"""Train the bundled NER model: spaCy's en_core_web_md NER (its CNN token encoder over
static word vectors, and its weights, as the starting point) retrained on CoNLL-2003 for
PER/LOC/ORG/MISC, a quarter of the sentences added again in capitals; the epoch with the
best dev F1 is kept (early stopping); then the entity-confidence calibrator is fitted.

    .venv/bin/python tools/train_ner.py [--data ../shared/data/conll2003] [--base md] [--case-augment 0.25]
    .venv/bin/python tools/train_ner.py --calibrate-only      # refit the calibrator only

Every 10th training document is held out from everything (training, the epoch, every
setting, the calibrator): our own test. Writes assets/models/ner-conll/ (a spaCy pipeline
folder without the vector table, which the app attaches from its pinned package) and
prints exact-span precision/recall/F1 per type on dev and on the held-out documents,
measured on raw text through the same code path the app uses, and the calibration error.
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
from services.stats import expected_calibration_error  # noqa: E402

OUT = ROOT / "assets/models/ner-conll"
TYPES = ("PER", "LOC", "ORG", "MISC")
HELD_OUT_EVERY = 10


def read_conll(path: Path) -> list[tuple[list[str], list[str]]]:
    """Sentences as (tokens, BIO tags); CoNLL-2003's IOB1 is converted to BIO."""
    return [sentence for document in read_documents(path) for sentence in document]


def read_documents(path: Path) -> list[list[tuple[list[str], list[str]]]]:
    """Documents (split at ``-DOCSTART-``), each a list of (tokens, BIO tags) sentences."""
    documents: list[list[tuple[list[str], list[str]]]] = [[]]
    words, tags = [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                documents[-1].append((words, tags))
            words, tags = [], []
            if line.startswith("-DOCSTART-") and documents[-1]:
                documents.append([])
            continue
        parts = line.split()
        tag = parts[-1]
        if tag.startswith("I-") and (not tags or tags[-1][2:] != tag[2:]):
            tag = "B-" + tag[2:]
        words.append(parts[0])
        tags.append(tag)
    return [document for document in documents if document]


def split_held_out(documents, every: int = HELD_OUT_EVERY):
    """Every ``every``-th training document is kept aside as our own test set: whole
    documents, so a story's names do not leak from its other sentences into training.
    Reuters ran some stories twice, so a held-out sentence that also occurs word for word in
    a training document is dropped. It is never used for a choice (the epoch, a setting, the
    calibrator): dev makes those."""
    train = [s for i, d in enumerate(documents) if i % every != every - 1 for s in d]
    seen = {tuple(words) for words, _ in train}
    held_out = [s for i, d in enumerate(documents) if i % every == every - 1 for s in d if tuple(s[0]) not in seen]
    return train, held_out


def case_variants(sentences, fraction: float, seed: int = 0):
    """Upper-cased copies of a share of the sentences: CoNLL news has many ALL-CAPS
    headlines and sports-table lines, and names there look nothing like in running text."""
    rng = random.Random(seed)
    return [([w.upper() for w in words], tags) for words, tags in sentences if rng.random() < fraction]


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


def span_predictor(nlp):
    """``evaluate``'s predict: each text's (start char, end char, label) entities."""
    def predict(texts):
        return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts, batch_size=256)]

    return predict


def entity_rows(nlp, sentences):
    """(text, label, beam marginal, tokens, correct) for every entity the model finds."""
    from services.backends.ner_confidence import entity_marginals

    texts, golds = zip(*(spans_of(w, t) for w, t in sentences))
    docs = list(nlp.pipe(texts, batch_size=256))
    marginals = [m for start in range(0, len(docs), 256) for m in entity_marginals(nlp, docs[start : start + 256])]
    return [
        (ent.text, ent.label_, marginal, len(ent), (ent.start_char, ent.end_char, ent.label_) in set(gold))
        for doc, gold, doc_marginals in zip(docs, golds, marginals)
        for ent, marginal in zip(doc.ents, doc_marginals)
    ]


def fit_calibrator(nlp, train, dev, held_out):
    """The entity calibrator, fitted on dev; ECE and accuracy on held-out training documents."""
    import torch

    from services.backends.ner_confidence import EntityCalibrator

    known = set()
    for words, tags in train:
        text, spans = spans_of(words, tags)
        known.update(f"{label}\t{text[a:b]}" for a, b, label in spans)
    draft = EntityCalibrator((), 0.0, TYPES, frozenset(known))
    rows = entity_rows(nlp, dev)
    x = torch.tensor([draft.features(t, l, m, n) for t, l, m, n, _ in rows])
    y = torch.tensor([float(k) for *_, k in rows])
    linear = torch.nn.Linear(x.shape[1], 1)
    optimizer = torch.optim.LBFGS(linear.parameters(), lr=1, max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(linear(x).squeeze(1), y) + 1e-3 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    calibrator = EntityCalibrator(tuple(round(v, 6) for v in linear.weight[0].detach().tolist()), round(float(linear.bias.detach()), 6),
                                  TYPES, frozenset(known))
    report = {}
    for name, rows in (("conll2003_dev (fitted here)", rows), ("held_out_train_documents", entity_rows(nlp, held_out))):
        correct = [k for *_, k in rows]
        raw = [m for _, _, m, _, _ in rows]
        calibrated = [calibrator.probability(t, l, m, n) for t, l, m, n, _ in rows]
        report[name] = {"entities": len(rows), "accuracy": round(sum(correct) / len(rows), 4),
                        "ece_beam_marginal": round(expected_calibration_error(raw, correct), 4),
                        "ece_calibrated": round(expected_calibration_error(calibrated, correct), 4),
                        "mean_calibrated": round(sum(calibrated) / len(rows), 4)}
    return calibrator, report


def load_pipeline(path: Path):
    """A trained folder as the app loads it: with the catalog's word vectors attached
    when the folder was saved without them (``strip_vectors``)."""
    import spacy

    from services.backends.ner import attach_vectors

    nlp = spacy.load(path)
    if not (path / "vocab" / "vectors").exists():
        attach_vectors(nlp, Catalog.load().get("spacy-conll"))
    return nlp


def strip_vectors(path: Path) -> None:
    """Leave the 32 MB vector table (and the 10 MB string store it came with) out of the folder:
    the app attaches the same vectors from their sha256-pinned package. Entities are identical
    (checked on 800 dev sentences); an empty string store is enough for the network."""
    for name in ("vectors", "key2row"):
        (path / "vocab" / name).unlink(missing_ok=True)
    (path / "vocab" / "strings.json").write_text("[]\n")


def calibrate_only(args) -> None:
    """Fit and save the calibrator for an already trained pipeline (``--calibrate-only``)."""
    from services.backends.ner_confidence import CALIBRATION_FILE

    train, held_out = split_held_out(read_documents(args.data / "train.txt"))
    dev = read_conll(args.data / "dev.txt")
    nlp = load_pipeline(args.out)
    predict = span_predictor(nlp)
    calibrator, report = fit_calibrator(nlp, train, dev, held_out)
    (args.out / CALIBRATION_FILE).write_text(json.dumps(calibrator.to_json()) + "\n")
    scores_path = args.out / "scores.json"
    scores = json.loads(scores_path.read_text()) if scores_path.exists() else {}
    scores["entity_confidence"] = report
    scores["conll2003_dev"], scores["held_out_train_documents"] = evaluate(predict, dev), evaluate(predict, held_out)
    scores["held_out_sentences"] = len(held_out)
    scores_path.write_text(json.dumps(scores, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def main() -> None:
    import spacy
    from spacy.tokens import Doc
    from spacy.training import Example, iob_to_biluo

    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/conll2003")
    parser.add_argument("--base", default="md", help="'md' (en_core_web_md 3.8, with word vectors: the bundled model),"
                        " a catalog id such as en-core-web-sm, or a spaCy pipeline folder")
    parser.add_argument("--max-epochs", type=int, default=25)
    parser.add_argument("--patience", type=int, default=3, help="stop after this many epochs without a better dev F1")
    parser.add_argument("--case-augment", type=float, default=0.25, help="share of sentences added again in capitals")
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--learn-rate", type=float, default=0.001)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--calibrate-only", action="store_true", help="fit the entity calibrator for --out and stop")
    args = parser.parse_args()
    if args.calibrate_only:
        return calibrate_only(args)
    random.seed(0)
    spacy.util.fix_random_seed(0)

    train, held_out = split_held_out(read_documents(args.data / "train.txt"))
    dev = read_conll(args.data / "dev.txt")
    if args.limit:
        train, dev, held_out = train[: args.limit], dev[: args.limit], held_out[: args.limit]
    print(f"train {len(train)} sentences (+{args.case_augment:.0%} in capitals), dev {len(dev)},"
          f" held out from train {len(held_out)}", flush=True)
    if args.base == "md":
        base = resolve_path(Catalog.load().get("spacy-conll"), "extra_path", "extra_package").parent
    elif Path(args.base).exists():
        base = Path(args.base)
    else:
        base = resolve_path(Catalog.load().get(args.base))
    nlp = spacy.load(base, exclude=["tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])
    ner = nlp.get_pipe("ner")
    for label in TYPES:
        ner.add_label(label)

    def example(words, tags):
        doc = Doc(nlp.vocab, words=words)
        return Example.from_dict(doc, {"entities": iob_to_biluo(tags)})

    examples = [example(w, t) for w, t in train + case_variants(train, args.case_augment)]
    optimizer = nlp.resume_training()
    optimizer.learn_rate = args.learn_rate

    predict = span_predictor(nlp)
    started = time.time()
    best, best_f1, best_epoch = None, -1.0, -1
    for epoch in range(args.max_epochs):
        random.shuffle(examples)
        losses: dict[str, float] = {}
        for batch in spacy.util.minibatch(examples, size=spacy.util.compounding(8.0, 64.0, 1.001)):
            nlp.update(batch, sgd=optimizer, drop=args.dropout, losses=losses)
        with ner.model.use_params(optimizer.averages):
            report = evaluate(predict, dev)
            f1 = report["PER+LOC+ORG"]["f1"]
            if f1 > best_f1:
                best, best_f1, best_epoch = nlp.to_bytes(), f1, epoch
        print(f"epoch {epoch}: loss {losses.get('ner', 0):.0f}  dev PER/LOC/ORG F1 {f1:.4f}"
              f"  all {json.dumps({k: v['f1'] for k, v in report.items()})}  {time.time() - started:.0f}s", flush=True)
        if epoch - best_epoch >= args.patience:
            break
    nlp.from_bytes(best)
    scores = {"conll2003_dev": evaluate(predict, dev), "held_out_train_documents": evaluate(predict, held_out),
              "epoch": best_epoch, "settings": {k: v for k, v in vars(args).items() if k not in ("data", "out", "limit")}}
    tmp = args.out.with_name(args.out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    nlp.meta["name"] = "ner_conll"
    nlp.meta["description"] = f"{'en_core_web_md 3.8' if args.base == 'md' else base.name} NER retrained on CoNLL-2003 (PER/LOC/ORG/MISC)"
    nlp.meta["performance"] = {k: v for k, v in scores.items() if k != "settings"}
    nlp.to_disk(tmp)
    shutil.rmtree(args.out, ignore_errors=True)
    tmp.rename(args.out)
    (args.out / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    print(json.dumps(scores, indent=2))
    if nlp.vocab.vectors.shape[0]:
        strip_vectors(args.out)
    calibrate_only(args)
    print(f"wrote {args.out} in {time.time() - started:.0f}s")


if __name__ == "__main__":
    main()
