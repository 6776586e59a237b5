"""ImageNet classifiers: bundled EfficientNet-Lite, torchvision models, HF image classifiers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from ..catalog import ModelSpec, resolve_path
from ..results import Prediction
from .common import TorchModel, half_precision_ok

Preprocess = Callable[[Image.Image], torch.Tensor]


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names that ship inside torchvision (no download)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


class ImageClassifier(TorchModel):
    """Runs a batch of RGB images through one network and returns top-k per image."""

    def __init__(self, module, device: str, preprocess: Preprocess, labels: list[str]) -> None:
        super().__init__(module, device)
        self.preprocess = preprocess
        self.labels = labels
        self.dtype = torch.float16 if half_precision_ok(device) else torch.float32
        self.module.to(self.dtype)

    @torch.inference_mode()
    def predict(self, images: list[Image.Image], top_k: int = 5) -> list[list[Prediction]]:
        batch = torch.stack([self.preprocess(img) for img in images]).to(self.device, self.dtype)
        logits = self._logits(batch).float()
        probs = torch.softmax(logits, dim=-1).cpu()
        k = max(1, min(top_k, probs.shape[-1]))
        scores, indices = probs.topk(k, dim=-1)
        return [
            [Prediction(label=self.labels[i], index=int(i), score=round(float(s), 6)) for s, i in zip(row_s, row_i)]
            for row_s, row_i in zip(scores.tolist(), indices.tolist())
        ]

    def _logits(self, batch: torch.Tensor) -> torch.Tensor:
        out = self.module(batch)
        return getattr(out, "logits", out)


def lite_preprocess(image_size: int = 224, resize: int = 256) -> Preprocess:
    """EfficientNet-Lite's own input: shorter side to ``resize``, centre crop, (x - 127) / 128."""
    from torchvision.transforms import functional as F

    def run(image: Image.Image) -> torch.Tensor:
        image = F.center_crop(F.resize(image, resize, interpolation=F.InterpolationMode.BICUBIC), image_size)
        array = np.asarray(image, dtype=np.float32)
        return torch.from_numpy((array - 127.0) / 128.0).permute(2, 0, 1)

    return run


def load_efficientnet_lite(spec: ModelSpec, device: str) -> ImageClassifier:
    from efficientnet_lite_pytorch import EfficientNet

    weights = resolve_path(spec)
    arch = spec.option("arch") or spec.id  # "efficientnet-lite0"
    model = EfficientNet.from_name(arch)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    size = EfficientNet.get_image_size(arch)
    return ImageClassifier(model, device, lite_preprocess(size, int(round(size / 0.875))), imagenet_labels())


def load_torchvision_classifier(spec: ModelSpec, device: str) -> ImageClassifier:
    from torchvision.models import get_model, get_weight

    weights = get_weight(spec.option("weights"))
    arch = spec.option("arch") or _arch_of(weights)
    model = get_model(arch, weights=None, num_classes=len(weights.meta["categories"]))
    state = torch.hub.load_state_dict_from_url(weights.url, progress=False, check_hash=True, weights_only=True)
    model.load_state_dict(state)
    transform = weights.transforms()
    return ImageClassifier(model, device, transform, list(weights.meta["categories"]))


def _arch_of(weights) -> str:
    """``ResNet50_Weights.IMAGENET1K_V2`` -> ``resnet50`` (torchvision's own naming)."""
    from torchvision.models import list_models, get_model_weights

    for name in list_models():
        try:
            if get_model_weights(name) is type(weights):
                return name
        except (ValueError, KeyError):
            continue
    raise ValueError(f"no torchvision model uses {weights}")


def load_hf_image_classifier(spec: ModelSpec, device: str) -> ImageClassifier:
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    repo = spec.option("repo")
    processor = AutoImageProcessor.from_pretrained(repo)
    model = AutoModelForImageClassification.from_pretrained(repo)
    labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]

    def preprocess(image: Image.Image) -> torch.Tensor:
        return processor(images=image, return_tensors="pt")["pixel_values"][0]

    return ImageClassifier(model, device, preprocess, labels)
