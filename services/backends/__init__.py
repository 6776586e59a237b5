"""Backends: one loader per catalog ``backend`` name, imported only when used."""

from __future__ import annotations

import importlib

from ..catalog import ModelSpec

# backend name -> "module:function" (module relative to this package)
LOADERS = {
    "efficientnet_lite": "image_classification:load_efficientnet_lite",
    "torchvision_classifier": "image_classification:load_torchvision_classifier",
    "hf_image_classifier": "image_classification:load_hf_image_classifier",
    "minilm_head": "sentiment:load_minilm_head",
    "hf_text_classifier": "sentiment:load_hf_text_classifier",
    "spacy_ner": "ner:load_spacy_ner",
    "hf_token_classifier": "ner:load_hf_token_classifier",
    "hf_causal_lm": "generation:load_causal_lm",
    "llamacpp": "llamacpp:load_gguf_chat",
    "whisper": "transcription:load_whisper",
    "faster_whisper": "faster_whisper_engine:load_faster_whisper",
    "nanodet_onnx": "detection:load_nanodet",
    "torchvision_detector": "detection:load_torchvision_detector",
}


def _lazy(target: str):
    module_name, func_name = target.split(":")

    def loader(spec: ModelSpec, device: str):
        module = importlib.import_module(f"{__name__}.{module_name}")
        return getattr(module, func_name)(spec, device)

    loader.__name__ = func_name
    return loader


def register_all(manager) -> None:
    for backend, target in LOADERS.items():
        manager.register(backend, _lazy(target))
