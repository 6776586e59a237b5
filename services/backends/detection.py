"""Object detection: bundled NanoDet-g (COCO, ONNX via onnxruntime) or torchvision detectors."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..batching import StagedModel
from ..catalog import ModelSpec, resolve_path
from ..results import Detection
from .common import TorchModel

COCO_LABELS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
)
ROAD_CLASSES = ("person", "bicycle", "car", "motorcycle", "bus", "truck", "traffic light", "stop sign")
MIN_SCORE = 0.05  # candidates kept by the model; pages filter further without re-running it


class NanoDet(StagedModel):
    """NanoDet-g: 416x416 letterboxed BGR input, GFL distribution boxes at strides 8/16/32.

    Letterboxing (``prepare``) and box decoding + NMS (``finish``) run in the caller's
    thread; only the onnxruntime call is shared under dynamic batching.
    """

    size = 416
    dtype = "float32"
    strides = (8, 16, 32)
    bins = 11
    mean = np.array([103.53, 116.28, 123.675], np.float32)
    std = np.array([57.375, 57.12, 58.395], np.float32)

    def __init__(self, path, device: str) -> None:
        import onnxruntime as ort

        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.device = "cuda" if providers[0].startswith("CUDA") else "cpu"
        # why a GPU machine still runs it on the CPU (shown on the System page)
        self.device_note = "" if self.device == device or not device.startswith("cuda") else (
            "onnxruntime has no CUDAExecutionProvider (the CPU package is installed; "
            "`make run GPU=1` installs onnxruntime-gpu)")
        self.input_name = self.session.get_inputs()[0].name
        self._bytes = path.stat().st_size
        self._outputs = self._order_outputs()

    def memory_bytes(self) -> int:
        return self._bytes

    def _order_outputs(self) -> list[tuple[str, str, int]]:
        """(score output, box output, stride) triples, matched by their anchor counts."""
        by_count: dict[int, dict[str, str]] = {}
        for out in self.session.get_outputs():
            count, width = out.shape[1], out.shape[2]
            kind = "score" if width == len(COCO_LABELS) else "box"
            by_count.setdefault(int(count), {})[kind] = out.name
        triples = []
        for stride in self.strides:
            cells = (self.size // stride) ** 2
            pair = by_count[cells]
            triples.append((pair["score"], pair["box"], stride))
        return triples

    def _scale(self, image: Image.Image) -> float:
        return self.size / max(image.width, image.height)

    def prepare(self, image: Image.Image) -> np.ndarray:
        """Letterboxed, normalised CHW input: the image top-left, zeros (= the mean) elsewhere."""
        scale = self._scale(image)
        width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
        bgr = np.asarray(image.resize((width, height), Image.BILINEAR), np.float32)[:, :, ::-1]
        tensor = np.zeros((3, self.size, self.size), np.float32)
        tensor[:, :height, :width] = ((bgr - self.mean) / self.std).transpose(2, 0, 1)
        return tensor

    def run_batch(self, prepared) -> list[dict[str, np.ndarray]]:
        """Raw head outputs per image (the exported graph has batch size 1; on CPU a
        bigger batch would not be faster per image anyway: 10.8 vs 11.8 ms measured)."""
        names = [name for triple in self._outputs for name in triple[:2]]
        return [dict(zip(names, self.session.run(names, {self.input_name: tensor[None]}))) for tensor in prepared]

    def finish(self, outputs, image: Image.Image, threshold: float = MIN_SCORE, iou: float = 0.5) -> list[Detection]:
        """GFL decoding of the candidates above ``threshold``, then per-class NMS."""
        import torch
        from torchvision.ops import batched_nms

        all_boxes, all_scores, all_classes = [], [], []
        project = np.arange(self.bins, dtype=np.float32)
        for score_name, box_name, stride in self._outputs:
            scores = outputs[score_name][0]
            side = self.size // stride
            best = scores.max(axis=1)
            keep = np.nonzero(best > threshold)[0]
            if not keep.size:
                continue
            dist = outputs[box_name][0][keep].reshape(-1, 4, self.bins)
            dist = np.exp(dist - dist.max(axis=2, keepdims=True))
            dist = (dist / dist.sum(axis=2, keepdims=True)) @ project * stride
            cx = (keep % side + 0.5) * stride
            cy = (keep // side + 0.5) * stride
            all_boxes.append(np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], axis=1))
            all_scores.append(best[keep])
            all_classes.append(scores[keep].argmax(axis=1))
        if not all_boxes:
            return []
        boxes = np.concatenate(all_boxes).astype(np.float32) / self._scale(image)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, image.width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, image.height)
        scores = np.concatenate(all_scores).astype(np.float32)
        classes = np.concatenate(all_classes)
        kept = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), iou).tolist()
        return [Detection(COCO_LABELS[int(classes[j])], round(float(scores[j]), 4), tuple(float(v) for v in boxes[j]))
                for j in kept]  # batched_nms returns them by decreasing score


def load_nanodet(spec: ModelSpec, device: str) -> NanoDet:
    return NanoDet(resolve_path(spec), device)


class TorchvisionDetector(TorchModel):
    def __init__(self, module, device: str, labels: list[str]) -> None:
        super().__init__(module, device)
        self.labels = labels

    def predict(self, images: list[Image.Image], threshold: float = MIN_SCORE, iou: float = 0.5) -> list[list[Detection]]:
        import torch
        from torchvision.transforms.functional import to_tensor

        with torch.inference_mode():
            outputs = self.module([to_tensor(img).to(self.device) for img in images])
        results = []
        for out in outputs:
            found = [
                Detection(self.labels[int(label)], round(float(score), 4), tuple(float(v) for v in box))
                for box, score, label in zip(out["boxes"].cpu(), out["scores"].cpu(), out["labels"].cpu())
                if float(score) >= threshold and self.labels[int(label)] not in ("__background__", "N/A")
            ]
            results.append(found)
        return results


def load_torchvision_detector(spec: ModelSpec, device: str) -> TorchvisionDetector:
    import torch
    from torchvision.models import get_weight
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_fpn, retinanet_resnet50_fpn_v2

    weights = get_weight(spec.option("weights"))
    builders = {
        "FasterRCNN_MobileNet_V3_Large_FPN_Weights": fasterrcnn_mobilenet_v3_large_fpn,
        "RetinaNet_ResNet50_FPN_V2_Weights": retinanet_resnet50_fpn_v2,
    }
    builder = builders[type(weights).__name__]
    labels = list(weights.meta["categories"])
    model = builder(weights=None, weights_backbone=None, num_classes=len(labels), box_score_thresh=MIN_SCORE)
    state = torch.hub.load_state_dict_from_url(weights.url, progress=False, check_hash=True, weights_only=True)
    model.load_state_dict(state)
    return TorchvisionDetector(model, device, labels)
