"""Why a model decided, with captum: Grad-CAM (or occlusion) over a photo, integrated
gradients over the words of a text.

Explanations run on request, never on every prediction: each costs a backward pass
(Grad-CAM) or a few dozen (integrated gradients). Neither adds hooks to the network
that serves predictions, so a request running beside an explanation is not disturbed:
Grad-CAM hooks a second module tree over the same weights (``explanation_network``), and
integrated gradients differentiate the served network from its word embeddings (no hooks).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from PIL import Image

from .errors import InputError
from .results import ImageExplanation, TextExplanation, WordAttribution

IG_STEPS = 32  # integration steps: the convergence delta is ~1e-3 of the log-odds on review sentences
MAX_TOKENS = 128  # a text's first 128 tokens (about 100 words) are explained: under 3 s on 2 cores
OCCLUSION_WINDOW, OCCLUSION_STRIDE = 32, 16  # pixels of the model input; 13 x 13 masks on a 224 input


# ---------------------------------------------------------------------------- images
def explain_image(classifier, image: Image.Image, name: str = "image", index: int | None = None) -> ImageExplanation:
    """The evidence for class ``index`` (default: the top class) as a grid over the region the model saw."""
    started = time.perf_counter()
    x = classifier.prepare(image)[None].to(classifier.device)
    with torch.inference_mode():
        probs = classifier.run_batch([x[0]])[0]
    index = int(probs.argmax()) if index is None else int(index)
    if not 0 <= index < probs.shape[-1]:
        raise InputError(f"class index {index} is outside 0..{probs.shape[-1] - 1}")
    network = classifier.explanation_network()
    if network.last_conv is not None:
        grid, method = _grad_cam(classifier, network, x, index), "grad-cam"
    else:
        grid, method = _occlusion(classifier, x, index), "occlusion"
    peak = float(grid.max())
    grid = grid / peak if peak > 0 else grid
    return ImageExplanation(
        file=name, label=classifier.labels[index], index=index, score=round(float(probs[index]), 6), method=method,
        heatmap=np.round(grid, 4).tolist(), box=seen_region(image.size, classifier.crop_fraction),
        width=image.width, height=image.height, seconds=round(time.perf_counter() - started, 4))


def _grad_cam(classifier, network, x: torch.Tensor, index: int) -> np.ndarray:
    from captum.attr import LayerGradCam

    with network.lock:  # captum's hooks on the tree hold one request's activations at a time
        cam = LayerGradCam(network.logits, network.last_conv)
        attribution = cam.attribute(x.to(classifier.dtype), target=index, relu_attributions=True)
    return attribution[0, 0].detach().float().cpu().numpy()


def _occlusion(classifier, x: torch.Tensor, index: int) -> np.ndarray:
    """For networks without a convolution (ViT): how much the class probability drops under a grey square."""
    from captum.attr import Occlusion

    def probability(batch: torch.Tensor) -> torch.Tensor:
        return torch.softmax(classifier._logits(batch.to(classifier.dtype)).float(), dim=-1)

    with torch.no_grad():
        drop = Occlusion(probability).attribute(
            x.float(), target=index, sliding_window_shapes=(x.shape[1], OCCLUSION_WINDOW, OCCLUSION_WINDOW),
            strides=(x.shape[1], OCCLUSION_STRIDE, OCCLUSION_STRIDE), baselines=0.0, perturbations_per_eval=16)
    cells = torch.nn.functional.avg_pool2d(drop.sum(1, keepdim=True), OCCLUSION_STRIDE)
    return cells[0, 0].clamp(min=0).cpu().numpy()


def seen_region(size: tuple[int, int], crop_fraction: float | None) -> tuple[int, int, int, int]:
    """The part of a ``size`` photo a "resize the shorter side, crop the centre" input covers
    (``crop_fraction`` = crop / resize); None: the whole photo, squashed to the input."""
    width, height = size
    if crop_fraction is None:
        return 0, 0, width, height
    side = min(width, height) * crop_fraction
    left, top = (width - side) / 2, (height - side) / 2
    return round(left), round(top), round(left + side), round(top + side)


def heatmap_pixels(explanation: ImageExplanation) -> np.ndarray:
    """The heatmap at the photo's size (bilinear), zero outside the region the model saw."""
    left, top, right, bottom = explanation.box
    grid = Image.fromarray(np.asarray(explanation.heatmap, dtype=np.float32), mode="F")
    full = np.zeros((explanation.height, explanation.width), dtype=np.float32)
    full[top:bottom, left:right] = np.asarray(grid.resize((right - left, bottom - top), Image.BILINEAR))
    return full.clip(0, 1)


# ---------------------------------------------------------------------------- text
def explain_text(classifier, text: str) -> TextExplanation:
    """Integrated gradients of the POSITIVE-vs-NEGATIVE log-odds, from a baseline of padding
    (the special tokens kept), summed per word; over the first ``MAX_TOKENS`` tokens."""
    from captum.attr import IntegratedGradients

    started = time.perf_counter()
    verdict = classifier.predict([text])[0]
    tokenizer = classifier.tokenizer
    enc = tokenizer([text], truncation=True, max_length=MAX_TOKENS, return_offsets_mapping=True, return_tensors="pt")
    ids, mask = enc["input_ids"].to(classifier.device), enc["attention_mask"].to(classifier.device)
    word_ids = enc.word_ids(0)
    embed = classifier.module.get_input_embeddings()
    baseline_ids = ids.clone()
    plain = torch.tensor([w is not None for w in word_ids], device=ids.device)
    baseline_ids[0, plain] = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with torch.no_grad():
        inputs, baseline = embed(ids), embed(baseline_ids)
    attributions = IntegratedGradients(classifier.polarity).attribute(
        inputs, baselines=baseline, additional_forward_args=(mask,), n_steps=IG_STEPS, internal_batch_size=IG_STEPS)
    per_token = attributions.sum(-1)[0].detach().float().cpu().tolist()
    words = _per_word(text, word_ids, enc["offset_mapping"][0].tolist(), per_token)
    cut = len(tokenizer(text, add_special_tokens=True)["input_ids"]) > MAX_TOKENS
    return TextExplanation(text=text, label=verdict.label, score=verdict.score, method="integrated gradients",
                           words=words, covered=words[-1].end if cut and words else len(text),
                           seconds=round(time.perf_counter() - started, 4))


def _per_word(text: str, word_ids: list, offsets: list, scores: list[float]) -> list[WordAttribution]:
    spans: dict[int, list] = {}
    for word, (start, end), score in zip(word_ids, offsets, scores):
        if word is None:
            continue
        span = spans.setdefault(word, [start, end, 0.0])
        span[0], span[1], span[2] = min(span[0], start), max(span[1], end), span[2] + score
    peak = max((abs(s) for _, _, s in spans.values()), default=0.0) or 1.0
    return [WordAttribution(text=text[a:b], start=a, end=b, score=round(s / peak, 4))
            for a, b, s in (spans[w] for w in sorted(spans))]


def most_attributed(explanation: TextExplanation) -> WordAttribution | None:
    """The word that pushes hardest towards the text's own label (NEUTRAL: the largest either way)."""
    if not explanation.words:
        return None
    sign = {"POSITIVE": 1, "NEGATIVE": -1}.get(explanation.label)
    return max(explanation.words, key=lambda w: w.score * sign if sign else abs(w.score))
