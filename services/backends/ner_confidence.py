"""Per-entity probabilities for spaCy's transition-based NER.

The greedy parser that finds the entities has no probability for them. A beam parse over the
same network gives each (span, label) a marginal over the beam's parses, but a model trained
greedily puts nearly all its mass on one parse, so those marginals are close to 0 or 1 and far
too sure on unseen names. A small logistic calibrator (fitted on CoNLL dev by
``tools/train_ner.py``, checked on training documents held out from everything) maps the
marginal, whether the name was seen in training with that label, its case and length to the
probability that the entity is right (exact span and label).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

BEAM_WIDTH = 16
BEAM_DENSITY = 0.0001
CALIBRATION_FILE = "calibration.json"
Span = tuple[int, int, str]  # token start, token end, label


def beam_marginals(ner, docs) -> list[dict[Span, float]]:
    """Each doc's (start, end, label) -> probability mass of the beam parses holding it."""
    if not docs:
        return []
    beams = ner.beam_parse(docs, beam_width=BEAM_WIDTH, beam_density=BEAM_DENSITY)
    return [dict(scores) for scores in ner.scored_ents(beams)]


def entity_marginals(nlp, docs) -> list[list[float]]:
    """The beam marginal of each entity the greedy parse put in ``docs`` (0 where the beam
    never holds it). The beam runs on fresh copies: the same tokens, no entities preset."""
    beams = beam_marginals(nlp.get_pipe("ner"), [nlp.make_doc(doc.text) for doc in docs])
    return [[beam.get((e.start, e.end, e.label_), 0.0) for e in doc.ents] for doc, beam in zip(docs, beams)]


@dataclass(frozen=True)
class EntityCalibrator:
    """Logistic regression over ``features``; ``known`` holds "LABEL\\ttext" seen in training."""

    weights: tuple[float, ...]
    bias: float
    labels: tuple[str, ...]
    known: frozenset[str]

    def features(self, text: str, label: str, marginal: float, tokens: int) -> list[float]:
        p = min(max(marginal, 1e-4), 1 - 1e-4)
        seen_as_label = f"{label}\t{text}" in self.known
        seen_at_all = seen_as_label or any(f"{other}\t{text}" in self.known for other in self.labels)
        return [
            math.log(p / (1 - p)) / 4,
            float(seen_as_label),
            float(seen_at_all and not seen_as_label),
            float(text.isupper() and len(text) > 1),
            min(tokens, 4) / 4,
            *(float(label == name) for name in self.labels),
        ]

    def probability(self, text: str, label: str, marginal: float, tokens: int) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, self.features(text, label, marginal, tokens)))
        return 1 / (1 + math.exp(-z))

    def to_json(self) -> dict:
        return {"weights": list(self.weights), "bias": self.bias, "labels": list(self.labels),
                "known": sorted(self.known), "beam_width": BEAM_WIDTH}

    @classmethod
    def load(cls, model_dir: Path) -> EntityCalibrator | None:
        """The calibrator saved beside a pipeline, or None (then entities carry no score)."""
        path = Path(model_dir) / CALIBRATION_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(tuple(data["weights"]), float(data["bias"]), tuple(data["labels"]), frozenset(data["known"]))
