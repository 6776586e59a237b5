"""Named entities: spaCy pipelines (bundled) or a transformers token classifier (hub)."""

from __future__ import annotations

from ..catalog import ModelSpec, resolve_path
from ..errors import ModelUnavailable
from ..inputs.text import split_sentences
from ..results import Entity, EntityResult
from .gguf_files import sha256_of
from .ner_confidence import EntityCalibrator, entity_marginals

CHUNK_CHARS = 5000  # long texts are processed in sentence-aligned pieces, never cut


class SpacyNER:
    """A spaCy pipeline; entities carry character offsets into the original text.

    With a calibrator beside the pipeline (the bundled CoNLL model) each entity's ``score`` is
    a calibrated probability (see ``ner_confidence``); without one it is None: an uncalibrated
    number, or spaCy's constant 1.0, would tell the user nothing.
    """

    device = "cpu"
    dtype = "float32"

    def __init__(self, nlp, size_bytes: int, calibrator: EntityCalibrator | None = None) -> None:
        self.nlp = nlp
        self._bytes = size_bytes
        self.calibrator = calibrator

    def memory_bytes(self) -> int:
        return self._bytes

    def predict(self, texts: list[str]) -> list[EntityResult]:
        """All texts' pieces go through one ``nlp.pipe`` call, so a batch shares the network."""
        pieces = [(index, start, end) for index, text in enumerate(texts) for start, end in _chunks(text)]
        found: list[list[Entity]] = [[] for _ in texts]
        docs = list(self.nlp.pipe(texts[index][start:end] for index, start, end in pieces))
        for (index, start, _end), doc, scores in zip(pieces, docs, self._scores(docs)):
            found[index].extend(
                Entity(text=ent.text, label=ent.label_, start=start + ent.start_char, end=start + ent.end_char, score=score)
                for ent, score in zip(doc.ents, scores)
            )
        return [EntityResult(text=text, entities=entities) for text, entities in zip(texts, found)]

    def _scores(self, docs) -> list[list[float | None]]:
        """Calibrated probabilities of each doc's entities (None each without a calibrator)."""
        if self.calibrator is None:
            return [[None] * len(doc.ents) for doc in docs]
        return [
            [round(self.calibrator.probability(ent.text, ent.label_, marginal, len(ent)), 4)
             for ent, marginal in zip(doc.ents, marginals)]
            for doc, marginals in zip(docs, entity_marginals(self.nlp, docs))
        ]


def _chunks(text: str) -> list[tuple[int, int]]:
    """Sentence spans merged greedily up to ``CHUNK_CHARS``."""
    merged: list[tuple[int, int]] = []
    for start, end in split_sentences(text, max_chars=CHUNK_CHARS):
        if merged and end - merged[-1][0] <= CHUNK_CHARS:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def load_spacy_ner(spec: ModelSpec, device: str) -> SpacyNER:
    import spacy

    path = resolve_path(spec)
    nlp = spacy.load(path, exclude=["lemmatizer"])
    if spec.option("extra_path"):
        attach_vectors(nlp, spec)
    for name in list(nlp.pipe_names):
        if not _needed_for_entities(name, nlp.get_pipe(name)):
            nlp.disable_pipe(name)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) + nlp.vocab.vectors.data.nbytes
    return SpacyNER(nlp, size, EntityCalibrator.load(path))


VECTOR_FILES = ("vectors", "key2row")


def attach_vectors(nlp, spec: ModelSpec) -> None:
    """Static word vectors kept in another package (the bundled CoNLL model was trained over
    en_core_web_md's; the repository holds the network, not the 32 MB table). The package
    is a third party's re-upload, so each file must match the sha256 pinned in the catalog."""
    folder = resolve_path(spec, "extra_path", "extra_package")
    for name in VECTOR_FILES:
        pinned = spec.option(f"{name}_sha256", "").lower()
        if sha256_of(folder / name) != pinned:
            raise ModelUnavailable(f"word vectors file {folder / name} does not match its pinned sha256")
    nlp.vocab.vectors.from_disk(folder)


def _needed_for_entities(name: str, component) -> bool:
    """The NER itself, and a shared embedding layer only if some component listens to it
    (the bundled NER has its own: its stand-alone tok2vec was a third of the time, unused)."""
    if name == "ner":
        return True
    if name in ("tok2vec", "transformer"):
        return bool(getattr(component, "listening_components", []))
    return False


class TransformersNER:
    """A transformers token classifier with word-aggregated spans (``dslim/bert-base-NER``)."""

    def __init__(self, model, tokenizer, device: str) -> None:
        from transformers import pipeline

        from .common import module_bytes

        self.device = device
        self._bytes = module_bytes(model)
        self.pipe = pipeline(
            "token-classification", model=model.to(device).eval(), tokenizer=tokenizer,
            aggregation_strategy="simple", device=device,
        )

    def memory_bytes(self) -> int:
        return self._bytes

    def predict(self, texts: list[str]) -> list[EntityResult]:
        results = []
        for text in texts:
            pieces = split_sentences(text, max_chars=1000)
            outputs = self.pipe([text[s:e] for s, e in pieces]) if pieces else []
            entities = [
                Entity(
                    text=text[start + item["start"] : start + item["end"]],
                    label=item["entity_group"],
                    start=start + int(item["start"]),
                    end=start + int(item["end"]),
                    score=round(float(item["score"]), 6),
                )
                for (start, _), found in zip(pieces, outputs)
                for item in found
            ]
            results.append(EntityResult(text=text, entities=entities))
        return results

    def close(self) -> None:
        self.pipe.model.to("cpu")
        del self.pipe


def load_hf_token_classifier(spec: ModelSpec, device: str) -> TransformersNER:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    repo = spec.option("repo")
    return TransformersNER(AutoModelForTokenClassification.from_pretrained(repo), AutoTokenizer.from_pretrained(repo), device)
