"""Convert Whisper weights from CTranslate2 (faster-whisper) format to an
openai-whisper checkpoint (``{"dims": ..., "model_state_dict": ...}``).

Registry packages ship Whisper only in CTranslate2 format; openai-whisper
would download its own checkpoints. The conversion is exact (a renaming and
splitting of fused projections) and every tensor in the file is accounted for.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

# CTranslate2's DataType enum, in file order.
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
# scalar settings stored as variables: read and checked, not weights
_SETTINGS = {
    "activation", "alibi", "alignment_heads", "alignment_layer", "num_heads",
    "pre_norm", "scale_embeddings", "start_from_zero_embedding",
}


class ConversionError(ValueError):
    pass


def read_ct2(parts: Iterable[Path]) -> dict[str, np.ndarray]:
    """All variables of a CTranslate2 ``model.bin`` (given as one or more parts,
    concatenated in order), aliases resolved."""
    data = b"".join(Path(p).read_bytes() for p in parts)
    stream = io.BytesIO(data)

    def take(fmt: str):
        size = struct.calcsize(fmt)
        chunk = stream.read(size)
        if len(chunk) != size:
            raise ConversionError("model.bin is truncated")
        return struct.unpack("<" + fmt, chunk)[0]

    def text() -> str:
        return stream.read(take("H"))[:-1].decode("utf-8")

    version = take("I")
    if version < 5:
        raise ConversionError(f"unsupported CTranslate2 binary version {version}")
    spec = text()
    if spec != "WhisperSpec":
        raise ConversionError(f"not a Whisper model (spec {spec})")
    take("I")  # spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(take("I")):
        name = text()
        shape = [take("I") for _ in range(take("B"))]
        dtype_id = take("B")
        size = take("I")
        if dtype_id not in _DTYPES:
            raise ConversionError(f"{name}: unsupported dtype id {dtype_id}")
        raw = stream.read(size)
        if len(raw) != size:
            raise ConversionError("model.bin is truncated")
        variables[name] = np.frombuffer(raw, dtype=_DTYPES[dtype_id]).reshape(shape)
    for _ in range(take("I")):
        alias, target = text(), text()
        variables[alias] = variables[target]
    if stream.read(1):
        raise ConversionError("trailing bytes after the model: wrong or extra parts")
    return variables


def _layer_count(variables: dict[str, np.ndarray], prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    return len({m.group(1) for name in variables if (m := pattern.match(name))})


def to_whisper_checkpoint(variables: dict[str, np.ndarray]) -> dict:
    """Map CTranslate2 names onto openai-whisper's ``Whisper`` module."""
    used: set[str] = set()
    state: dict[str, torch.Tensor] = {}

    def get(name: str) -> np.ndarray:
        if name not in variables:
            raise ConversionError(f"missing tensor {name}")
        used.add(name)
        return variables[name]

    def put(target: str, array: np.ndarray) -> None:
        state[target] = torch.from_numpy(np.array(array, dtype=np.float32))

    def norm(src: str, dst: str) -> None:
        put(f"{dst}.weight", get(f"{src}/gamma"))
        put(f"{dst}.bias", get(f"{src}/beta"))

    def linear(src: str, dst: str, bias: bool = True) -> None:
        put(f"{dst}.weight", get(f"{src}/weight"))
        if bias:
            put(f"{dst}.bias", get(f"{src}/bias"))

    def fused(src: str, dsts: list[str], state_dim: int) -> None:
        """Split a fused projection; the key projection has no bias in Whisper."""
        weight, bias = get(f"{src}/weight"), get(f"{src}/bias")
        for i, dst in enumerate(dsts):
            rows = slice(i * state_dim, (i + 1) * state_dim)
            put(f"{dst}.weight", weight[rows])
            if dst.endswith(".key"):
                if np.abs(bias[rows].astype(np.float32)).max() > 0:
                    raise ConversionError(f"{src}: the key projection has a bias")
            else:
                put(f"{dst}.bias", bias[rows])

    n_audio_layer = _layer_count(variables, "encoder")
    n_text_layer = _layer_count(variables, "decoder")
    conv1 = get("encoder/conv1/weight")
    audio_pos = get("encoder/position_encodings/encodings")
    embed = get("decoder/embeddings/weight")
    text_pos = get("decoder/position_encodings/encodings")
    dims = {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(audio_pos.shape[0]),
        "n_audio_state": int(audio_pos.shape[1]),
        "n_audio_head": int(get("encoder/num_heads")),
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(embed.shape[0]),
        "n_text_ctx": int(text_pos.shape[0]),
        "n_text_state": int(text_pos.shape[1]),
        "n_text_head": int(get("decoder/num_heads")),
        "n_text_layer": n_text_layer,
    }
    width = dims["n_audio_state"]

    put("encoder.conv1.weight", conv1)
    put("encoder.conv1.bias", get("encoder/conv1/bias"))
    linear("encoder/conv2", "encoder.conv2")
    put("encoder.positional_embedding", audio_pos)
    def self_attention_and_mlp(src: str, dst: str, width: int) -> None:
        """What encoder and decoder blocks share: self-attention and the MLP, each with its norm."""
        norm(f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
        fused(f"{src}/self_attention/linear_0", [f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value"], width)
        linear(f"{src}/self_attention/linear_1", f"{dst}.attn.out")
        norm(f"{src}/ffn/layer_norm", f"{dst}.mlp_ln")
        linear(f"{src}/ffn/linear_0", f"{dst}.mlp.0")
        linear(f"{src}/ffn/linear_1", f"{dst}.mlp.2")

    for i in range(n_audio_layer):
        self_attention_and_mlp(f"encoder/layer_{i}", f"encoder.blocks.{i}", width)
    norm("encoder/layer_norm", "encoder.ln_post")

    width = dims["n_text_state"]
    put("decoder.token_embedding.weight", embed)
    put("decoder.positional_embedding", text_pos)
    for i in range(n_text_layer):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        self_attention_and_mlp(src, dst, width)
        norm(f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln")
        linear(f"{src}/attention/linear_0", f"{dst}.cross_attn.query")
        fused(f"{src}/attention/linear_1", [f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"], width)
        linear(f"{src}/attention/linear_2", f"{dst}.cross_attn.out")
    norm("decoder/layer_norm", "decoder.ln")

    # the output projection is tied to the embedding in Whisper
    projection = variables.get("decoder/projection/weight")
    if projection is not None:
        if not np.array_equal(projection, embed):
            raise ConversionError("decoder projection differs from the embedding; not a Whisper model")
        used.add("decoder/projection/weight")
    _check_settings(variables, used)
    unused = sorted(set(variables) - used)
    if unused:
        raise ConversionError(f"{len(unused)} tensors were not used: {unused[:5]}")
    return {"dims": dims, "model_state_dict": state}


def _check_settings(variables: dict[str, np.ndarray], used: set[str]) -> None:
    """The scalar settings must describe standard Whisper (pre-norm, no ALiBi...)."""
    for name, value in variables.items():
        if name.split("/")[-1] not in _SETTINGS or value.ndim != 0:
            continue
        used.add(name)
        key, number = name.split("/")[-1], int(value)
        if key == "pre_norm" and number != 1:
            raise ConversionError("post-norm model: not Whisper")
        if key in ("alibi", "scale_embeddings") and number != 0:
            raise ConversionError(f"{name}={number}: not standard Whisper")


def convert(parts: list[Path], target: Path) -> Path:
    """Write the openai-whisper checkpoint for ``parts`` to ``target`` (atomically)."""
    checkpoint = to_whisper_checkpoint(read_ct2(parts))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    torch.save(checkpoint, tmp)
    tmp.replace(target)
    return target
