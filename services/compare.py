"""Compare mode: the same input through two models (or two settings of one), and what differs.

``run_side`` runs one side through the task API, so both models come from the shared
manager (its memory budget and eviction hold); a side that cannot run carries the
reason instead of a result, and the other side is still shown. The rest are pure
functions from two typed results to their differences.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError, ModelUnavailable
from .results import Classification, Detection, Entity, EntityResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Side:
    """One side of a comparison: its result, or why there is none."""

    title: str  # what the user chose, e.g. "EfficientNet-Lite2" or "NanoDet-G, tiled"
    model: str  # catalog id
    result: Any = None
    seconds: float = 0.0  # wall time of the call (the model already loaded)
    memory_mb: float | None = None  # the model's memory as the manager counts it
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_side(tasks, task: str, model: str | None, call: Callable[[str], Any], title: str = "") -> Side:
    """Load ``model`` for ``task`` and time ``call(model_id)``. A model that cannot load or
    run gives a ``Side`` with the reason; bad input raises (it is bad for both sides)."""
    model_id = model or tasks.model_for(task)
    title = title or tasks.catalog.get(model_id).name
    try:
        tasks.load(task, model_id)
        started = time.perf_counter()
        result = call(model_id)
        seconds = time.perf_counter() - started
    except InputError:
        raise
    except ModelUnavailable as exc:
        return Side(title, model_id, error=f"model unavailable: {exc}")
    except Exception as exc:  # logged; the page shows the other side and this one line
        log.exception("compare: %s failed", model_id)
        return Side(title, model_id, error=f"{type(exc).__name__} (details in the server log)")
    memory = next((s.memory_mb for s in tasks.status() if s.id == model_id and s.loaded), None)
    return Side(title, model_id, result, round(seconds, 4), memory)


# ---------------------------------------------------------------------------- image classification
def top1_agrees(a: Classification, b: Classification) -> bool:
    return a.predictions[0].index == b.predictions[0].index


# ---------------------------------------------------------------------------- entities
def entities_only_in(a: EntityResult, b: EntityResult) -> tuple[list[Entity], list[Entity]]:
    """The entities of ``a`` whose exact span ``b`` did not find, and ``b``'s not in ``a``. Spans, not
    types: models name their types differently (CoNLL's PER and LOC, OntoNotes' PERSON and GPE)."""
    spans_a = {(e.start, e.end) for e in a.entities}
    spans_b = {(e.start, e.end) for e in b.entities}
    return ([e for e in a.entities if (e.start, e.end) not in spans_b],
            [e for e in b.entities if (e.start, e.end) not in spans_a])


# ---------------------------------------------------------------------------- transcripts
@dataclass(frozen=True)
class DiffChunk:
    kind: str  # "equal" | "substitute" | "delete" (only in A) | "insert" (only in B)
    a: list[str]
    b: list[str]


@dataclass(frozen=True)
class WordDiff:
    """B's words against A's, compared lowercased without punctuation."""

    wer: float  # word error rate of B with A as the reference
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int
    chunks: list[DiffChunk] = field(default_factory=list)


def word_diff(a: str, b: str) -> WordDiff:
    """The word-level alignment of two transcripts (jiwer), and B's WER against A."""
    import jiwer

    words_a, words_b = _normal_words(a), _normal_words(b)
    if not words_a:
        return WordDiff(wer=0.0 if not words_b else 1.0, substitutions=0, deletions=0, insertions=len(words_b),
                        reference_words=0, chunks=[DiffChunk("insert", [], words_b)] if words_b else [])
    if not words_b:
        return WordDiff(1.0, 0, len(words_a), 0, len(words_a), [DiffChunk("delete", words_a, [])])
    out = jiwer.process_words(" ".join(words_a), " ".join(words_b))
    chunks = [DiffChunk(c.type, words_a[c.ref_start_idx:c.ref_end_idx], words_b[c.hyp_start_idx:c.hyp_end_idx])
              for c in out.alignments[0]]
    return WordDiff(round(out.wer, 4), out.substitutions, out.deletions, out.insertions, len(words_a), chunks)


def _normal_words(text: str) -> list[str]:
    import jiwer

    return jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                          jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])(text)[0]


# ---------------------------------------------------------------------------- detection
@dataclass(frozen=True)
class BoxMatch:
    """Boxes of A and B paired one to one (same class, IoU at least ``min_iou``), and the rest."""

    pairs: list[tuple[int, int, float]]  # (index in A, index in B, IoU)
    only_a: list[int]
    only_b: list[int]


def match_boxes(a: list[Detection], b: list[Detection], min_iou: float = 0.5) -> BoxMatch:
    """Greedy by IoU (supervision's ``box_iou_batch``), best pair first."""
    import supervision as sv

    if not a or not b:
        return BoxMatch([], list(range(len(a))), list(range(len(b))))
    iou = sv.box_iou_batch(np.array([d.box for d in a], float), np.array([d.box for d in b], float))
    iou[np.array([[da.label != db.label for db in b] for da in a])] = 0
    pairs, used_a, used_b = [], set(), set()
    for flat in np.argsort(-iou, axis=None):
        i, j = divmod(int(flat), len(b))
        if iou[i, j] < min_iou:
            break
        if i not in used_a and j not in used_b:
            pairs.append((i, j, round(float(iou[i, j]), 3)))
            used_a.add(i)
            used_b.add(j)
    return BoxMatch(pairs, [i for i in range(len(a)) if i not in used_a], [j for j in range(len(b)) if j not in used_b])
