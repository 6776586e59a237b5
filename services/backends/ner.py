"""Named entities: spaCy pipelines (bundled) or a transformers token classifier (hub)."""

from __future__ import annotations

from ..catalog import ModelSpec, resolve_path
from ..inputs.text import split_sentences
from ..results import Entity, EntityResult

CHUNK_CHARS = 5000  # long texts are processed in sentence-aligned pieces, never cut


class SpacyNER:
    """A spaCy pipeline; entities carry character offsets into the original text.

    spaCy's transition-based NER has no per-entity probability, so ``score`` is 1.0.
    """

    device = "cpu"
    dtype = "float32"

    def __init__(self, nlp, size_bytes: int) -> None:
        self.nlp = nlp
        self._bytes = size_bytes

    def memory_bytes(self) -> int:
        return self._bytes

    def predict(self, texts: list[str]) -> list[EntityResult]:
        """All texts' pieces go through one ``nlp.pipe`` call, so a batch shares the network."""
        pieces = [(index, start, end) for index, text in enumerate(texts) for start, end in _chunks(text)]
        found: list[list[Entity]] = [[] for _ in texts]
        docs = self.nlp.pipe(texts[index][start:end] for index, start, end in pieces)
        for (index, start, _end), doc in zip(pieces, docs):
            found[index].extend(
                Entity(text=ent.text, label=ent.label_, start=start + ent.start_char, end=start + ent.end_char, score=1.0)
                for ent in doc.ents
            )
        return [EntityResult(text=text, entities=entities) for text, entities in zip(texts, found)]


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
    for name in list(nlp.pipe_names):
        if not _needed_for_entities(name, nlp.get_pipe(name)):
            nlp.disable_pipe(name)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return SpacyNER(nlp, size)


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
