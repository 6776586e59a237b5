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

    def __init__(self, nlp, size_bytes: int) -> None:
        self.nlp = nlp
        self._bytes = size_bytes

    def memory_bytes(self) -> int:
        return self._bytes

    def predict(self, texts: list[str]) -> list[EntityResult]:
        results = []
        for text in texts:
            pieces = _chunks(text)
            entities: list[Entity] = []
            for (start, _end), doc in zip(pieces, self.nlp.pipe(text[s:e] for s, e in pieces)):
                for ent in doc.ents:
                    entities.append(
                        Entity(
                            text=ent.text,
                            label=ent.label_,
                            start=start + ent.start_char,
                            end=start + ent.end_char,
                            score=1.0,
                        )
                    )
            results.append(EntityResult(text=text, entities=entities))
        return results


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
    keep = {"tok2vec", "ner", "transformer"}
    for name in list(nlp.pipe_names):
        if name not in keep:
            nlp.disable_pipe(name)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return SpacyNER(nlp, size)


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
