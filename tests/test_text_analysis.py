"""Text analysis beyond the dev score: NER on training documents held out from every choice,
calibrated entity confidences, and the NEUTRAL sentiment class."""

import csv
import json
import sys
from pathlib import Path

import pytest

from services.backends.ner_confidence import EntityCalibrator
from services.catalog import PROJECT_ROOT
from services.local import LocalTasks
from services.stats import expected_calibration_error

from .conftest import DATA

sys.path.insert(0, str(PROJECT_ROOT / "tools"))
from train_ner import evaluate, read_documents, spans_of, split_held_out  # noqa: E402

CONLL = PROJECT_ROOT.parent / "shared" / "data" / "conll2003"


def held_out_sentences():
    if not (CONLL / "train.txt").exists():
        pytest.skip("../shared/data/conll2003 is not beside the project")
    return split_held_out(read_documents(CONLL / "train.txt"))[1]


def test_held_out_documents_never_reach_training():
    documents = read_documents(CONLL / "train.txt") if (CONLL / "train.txt").exists() else pytest.skip("no CoNLL")
    train, held_out = split_held_out(documents)
    assert len(held_out) > 1000 and len(train) + len(held_out) <= sum(len(d) for d in documents)
    assert not {" ".join(w) for w, _ in held_out} & {" ".join(w) for w, _ in train}  # repeated stories dropped


def test_calibrator_features_and_probability_move_the_right_way():
    calibrator = EntityCalibrator(weights=(1.0, 2.0, -1.0, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0), bias=0.0,
                                  labels=("PER", "LOC", "ORG", "MISC"), known=frozenset({"LOC\tParis", "ORG\tParis"}))
    seen = calibrator.probability("Paris", "LOC", 0.9, 1)
    seen_as_other = calibrator.probability("Paris", "PER", 0.9, 1)
    unseen = calibrator.probability("Zorgland", "LOC", 0.9, 1)
    unsure = calibrator.probability("Zorgland", "LOC", 0.3, 1)
    assert seen > unseen > unsure and seen_as_other < unseen
    assert calibrator.probability("ZORGLAND", "LOC", 0.9, 1) < unseen  # capitals are less sure
    assert 0 < unsure < seen < 1


@pytest.mark.slow
def test_ner_on_held_out_news_documents(manager):
    """The bundled model on CoNLL training documents it never saw (every 10th document)."""
    sentences = held_out_sentences()
    model = LocalTasks(manager)

    def predict(texts):
        return [[(e.start, e.end, e.label) for e in r.entities] for r in model.entities(texts)]

    report = evaluate(predict, sentences)
    assert report["PER+LOC+ORG"]["f1"] >= 0.88, report


@pytest.mark.slow
def test_entity_confidences_are_calibrated_on_held_out_news(manager):
    sentences = held_out_sentences()[:600]
    texts, golds = zip(*(spans_of(w, t) for w, t in sentences))
    results = LocalTasks(manager).entities(list(texts))
    confidence, correct = [], []
    for gold, result in zip(golds, results):
        for e in result.entities:
            confidence.append(e.score)
            correct.append((e.start, e.end, e.label) in set(gold))
    assert len(confidence) > 500 and all(0 < c < 1 for c in confidence)
    assert len({round(c, 2) for c in confidence}) > 20  # not a constant
    assert expected_calibration_error(confidence, correct) < 0.06
    right = [c for c, k in zip(confidence, correct) if k]
    wrong = [c for c, k in zip(confidence, correct) if not k]
    assert sum(wrong) / len(wrong) < sum(right) / len(right) - 0.15


@pytest.mark.slow
def test_entities_of_an_uncalibrated_model_carry_no_score(manager):
    result = LocalTasks(manager).entities("Angela Merkel visited Paris.", model="en-core-web-sm")[0]
    assert result.entities and all(e.score is None for e in result.entities)


def test_bundled_ner_scores_file_reports_dev_and_held_out():
    scores = json.loads((PROJECT_ROOT / "assets/models/ner-conll/scores.json").read_text())
    assert {"conll2003_dev", "held_out_train_documents", "entity_confidence"} <= set(scores)
    assert scores["entity_confidence"]["held_out_train_documents"]["ece_calibrated"] < 0.05


def read_reviews():
    with open(DATA / "reviews.tsv", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.mark.slow
def test_clear_reviews_keep_their_polarity_with_neutral_counted_wrong(manager):
    rows = read_reviews()
    results = LocalTasks(manager).sentiment([r["text"] for r in rows])
    correct = [res.label == ("POSITIVE" if r["label"] == "1" else "NEGATIVE") for r, res in zip(rows, results)]
    assert sum(correct) / len(correct) >= 0.88, [r.text for r, k in zip(results, correct) if not k]


@pytest.mark.slow
def test_factual_sentences_are_neutral(manager):
    texts = Path(DATA / "neutral.tsv").read_text(encoding="utf-8").splitlines()[1:]
    results = LocalTasks(manager).sentiment(texts)
    merkel = results[0]
    assert merkel.text.startswith("Angela Merkel") and merkel.label == "NEUTRAL"
    assert sum(r.label == "NEUTRAL" for r in results) / len(results) >= 0.8, [r.text for r in results if r.label != "NEUTRAL"]


@pytest.mark.slow
def test_sentiment_scores_cover_three_classes_and_sum_to_one(manager):
    for result in LocalTasks(manager).sentiment(["A wonderful, joyful film.", "A dull, painful mess.", "It opens on Friday."]):
        assert list(result.scores) == ["NEGATIVE", "NEUTRAL", "POSITIVE"]
        assert abs(sum(result.scores.values()) - 1) < 1e-3
        assert result.score == result.scores[result.label] == max(result.scores.values())


def test_expected_calibration_error_of_known_cases():
    assert expected_calibration_error([0.75] * 4, [True, True, True, False]) == 0
    assert abs(expected_calibration_error([0.95] * 10, [True] * 5 + [False] * 5) - 0.45) < 1e-9
    # two bins, each half the items: |1.0 - 0.85| and |0.0 - 0.15|
    assert abs(expected_calibration_error([0.85, 0.85, 0.15, 0.15], [True, True, False, False]) - 0.15) < 1e-9
