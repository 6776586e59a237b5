"""Sentiment: the bundled MiniLM encoder with a head trained here, or a hub classifier."""

from __future__ import annotations

import functools
import os

import torch

from ..catalog import PROJECT_ROOT, ModelSpec, resolve_path
from ..results import Sentiment
from .common import TorchModel, inference_dtype

LABELS = ("NEGATIVE", "POSITIVE")
LABELS_3 = ("NEGATIVE", "NEUTRAL", "POSITIVE")
MAX_TOKENS = 256


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sentence-transformers' pooling for all-MiniLM-L6-v2: mean of real tokens."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


class MiniLMSentimentModel(torch.nn.Module):
    """Encoder + mean pooling + linear head, divided by a fitted temperature."""

    def __init__(self, encoder: torch.nn.Module, dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(dim, len(LABELS))
        self.register_buffer("temperature", torch.ones(()))
        self.neutral: NeutralDetector | None = None

    def pooled(self, input_ids, attention_mask) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return mean_pool(hidden.float(), attention_mask)  # sum in float32 even when the encoder runs in bf16

    def _polarity(self, hidden: torch.Tensor, attention_mask) -> torch.Tensor:
        pooled = mean_pool(hidden.float(), attention_mask)
        return self.head(pooled.to(self.head.weight.dtype)) / self.temperature

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              inputs_embeds=inputs_embeds).last_hidden_state
        return self._polarity(hidden, attention_mask)

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.encoder.get_input_embeddings()

    def forward_with_neutral(self, input_ids, attention_mask) -> tuple[torch.Tensor, torch.Tensor]:
        """Polarity logits and P(neutral) from one pass through the shared lower layers."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        shared = out.hidden_states[self.neutral.first_layer]
        return self._polarity(out.last_hidden_state, attention_mask), self.neutral(shared, attention_mask)


class NeutralDetector(torch.nn.Module):
    """P(a sentence has no polarity), the NEUTRAL class's second head.

    It reads the *shipped* all-MiniLM-L6-v2 sentence vector: the layers the SST-2 fine-tuning
    left alone are computed once for both heads; the ones it changed run again as shipped
    (``layers``, from ``first_layer`` up). On the fine-tuned vector a head calls short factual
    sentences positive. Trained on SST-5 (neutral vs the rest) plus news sentences as neutral
    (``tools/train_sentiment.py --three-way``), with a fitted temperature; then damped by how
    much sentiment vocabulary VADER's lexicon finds (``neutral x (1 - |compound|)``), so a plain
    description full of praise or blame stays polar."""

    def __init__(self, layers: torch.nn.ModuleList, first_layer: int, dim: int) -> None:
        super().__init__()
        self.layers = layers
        self.first_layer = first_layer
        self.head = torch.nn.Linear(dim, 1)
        self.register_buffer("temperature", torch.ones(()))

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        additive = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        for layer in self.layers:
            hidden = layer(hidden, attention_mask=additive)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        pooled = mean_pool(hidden.float(), attention_mask).to(self.head.weight.dtype)
        return torch.sigmoid(self.head(pooled).squeeze(-1).float() / self.temperature)


def lexicon_strength(texts: list[str]) -> torch.Tensor:
    """|VADER compound| per text: 0 with no sentiment words, near 1 with strong ones."""
    analyzer = _vader()
    return torch.tensor([abs(analyzer.polarity_scores(t)["compound"]) for t in texts])


@functools.cache
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def three_way(polarity: torch.Tensor, neutral: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """[negative, neutral, positive] from two-way polarity probabilities and P(neutral)."""
    gated = neutral * (1 - strength.clamp(max=1))
    return torch.stack([(1 - gated) * polarity[:, 0], gated, (1 - gated) * polarity[:, 1]], dim=1)


class TextClassifier(TorchModel):
    """Batches texts through a sequence classifier; the label order is ``labels``.

    Runs in ``inference_dtype``: on a bf16 CPU, MiniLM is 1.6x faster for one sentence and
    2.4x for a batch of 8, with the same SST-2 dev accuracy (see the model card)."""

    def __init__(self, module, tokenizer, device: str, labels: list[str]) -> None:
        super().__init__(module, device)
        self.tokenizer = tokenizer
        self.labels = labels
        self.dtype = inference_dtype(device)
        self.module.to(self.dtype)

    @torch.inference_mode()
    def predict(self, texts: list[str], batch_size: int = 32) -> list[Sentiment]:
        out: list[Sentiment] = []
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            enc = self.tokenizer(chunk, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            if getattr(self.module, "neutral", None) is not None:
                logits, neutral = self.module.forward_with_neutral(**enc)
                probs = three_way(torch.softmax(logits.float(), -1), neutral, lexicon_strength(chunk).to(neutral.device))
            else:
                logits = self.module(**enc)
                probs = torch.softmax(getattr(logits, "logits", logits).float(), dim=-1)
            probs = probs.cpu()
            for text, row in zip(chunk, probs):
                index = int(row.argmax())
                scores = {label: round(float(p), 6) for label, p in zip(self.labels, row)}
                out.append(Sentiment(text=text, label=self.labels[index], score=scores[self.labels[index]], scores=scores))
        return out

    def polarity(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """log P(POSITIVE) - log P(NEGATIVE) from word embeddings: what explanations differentiate.
        (A three-way model's NEUTRAL head is left out: its lexicon damping has no gradient.)"""
        out = self.module(inputs_embeds=inputs_embeds.to(self.dtype), attention_mask=attention_mask)
        logits = getattr(out, "logits", out).float()
        names = self.labels if len(self.labels) == logits.shape[-1] else list(LABELS)
        return logits[:, names.index("POSITIVE")] - logits[:, names.index("NEGATIVE")]


def build_minilm_sentiment(encoder_dir, head_path=None) -> tuple[MiniLMSentimentModel, object]:
    """The model as trained by ``tools/train_sentiment.py``; the head file also
    carries the fine-tuned top encoder layers (keys ``encoder.*``)."""
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir))
    encoder = AutoModel.from_pretrained(str(encoder_dir))
    model = MiniLMSentimentModel(encoder, encoder.config.hidden_size)
    if head_path is not None:
        state = load_file(str(head_path))
        if "neutral.head.weight" in state:
            model.neutral = NeutralDetector(*_shipped_top_layers(encoder_dir, state), encoder.config.hidden_size)
        own = model.state_dict()
        unknown = [k for k in state if k not in own]
        if unknown:
            raise ValueError(f"sentiment head has unknown tensors: {unknown[:3]}")
        missing = [k for k in ("head.weight", "head.bias", "temperature") if k not in state]
        if missing:
            raise ValueError(f"sentiment head lacks {missing}")
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    return model, tokenizer


def _shipped_top_layers(encoder_dir, state: dict) -> tuple[torch.nn.ModuleList, int]:
    """The encoder layers the head file replaces (``encoder.encoder.layer.N.*``), as the package
    ships them, and the index of the first; they must be the top ones."""
    from transformers import AutoModel

    shipped = AutoModel.from_pretrained(str(encoder_dir))
    count = len(shipped.encoder.layer)
    tuned = sorted({int(k.split(".")[3]) for k in state if k.startswith("encoder.encoder.layer.")})
    if not tuned or tuned != list(range(tuned[0], count)):
        raise ValueError(f"the neutral head needs the fine-tuned layers to be the top ones, got {tuned}")
    return torch.nn.ModuleList(shipped.encoder.layer[tuned[0] :]), tuned[0]


def load_minilm_head(spec: ModelSpec, device: str) -> TextClassifier:
    encoder_dir = resolve_path(spec)
    head = PROJECT_ROOT / spec.option("head")
    model, tokenizer = build_minilm_sentiment(encoder_dir, head)
    return TextClassifier(model, tokenizer, device, list(LABELS if model.neutral is None else LABELS_3))


def load_hf_text_classifier(spec: ModelSpec, device: str) -> TextClassifier:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    repo = spec.option("repo")
    tokenizer = AutoTokenizer.from_pretrained(repo)
    model = AutoModelForSequenceClassification.from_pretrained(repo)
    return hf_text_classifier(model, tokenizer, device)


def hf_text_classifier(model, tokenizer, device: str) -> TextClassifier:
    """Wrap a transformers sequence classifier; its labels are mapped to POSITIVE/NEGATIVE."""
    labels = [str(model.config.id2label[i]).upper() for i in range(model.config.num_labels)]
    labels = ["NEGATIVE" if l in ("LABEL_0", "NEG") else "POSITIVE" if l in ("LABEL_1", "POS") else l for l in labels]
    return TextClassifier(model, tokenizer, device, labels)

