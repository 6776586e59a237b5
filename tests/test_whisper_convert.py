"""The CTranslate2 -> openai-whisper converter, on a synthetic file and on the bundled tiny.en."""

import struct

import numpy as np
import pytest
import torch

from services.backends.whisper_convert import ConversionError, read_ct2, to_whisper_checkpoint


def write_ct2(path, variables, aliases=()):
    def text(s):
        data = s.encode() + b"\0"
        return struct.pack("<H", len(data)) + data

    out = struct.pack("<I", 6) + text("WhisperSpec") + struct.pack("<I", 3) + struct.pack("<I", len(variables))
    for name, value in variables.items():
        value = np.asarray(value)
        dtype = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.float16): 4}[value.dtype]
        out += text(name) + struct.pack("<B", value.ndim) + b"".join(struct.pack("<I", d) for d in value.shape)
        out += struct.pack("<B", dtype) + struct.pack("<I", value.nbytes) + value.tobytes()
    out += struct.pack("<I", len(aliases)) + b"".join(text(a) + text(b) for a, b in aliases)
    path.write_bytes(out)


def tiny_whisper_variables(width=8, heads=2, vocab=51864, mels=80):
    rng = np.random.default_rng(0)
    r = lambda *shape: rng.standard_normal(shape).astype(np.float16)  # noqa: E731
    v = {"encoder/num_heads": np.int16(heads), "decoder/num_heads": np.int16(heads),
         "decoder/pre_norm": np.int8(1), "decoder/alibi": np.int8(0), "decoder/scale_embeddings": np.int8(0)}

    def attn(prefix, fused_qkv=True):
        v[f"{prefix}/layer_norm/gamma"], v[f"{prefix}/layer_norm/beta"] = r(width), r(width)
        if fused_qkv:
            v[f"{prefix}/linear_0/weight"] = r(3 * width, width)
            bias = r(3 * width)
            bias[width : 2 * width] = 0
            v[f"{prefix}/linear_0/bias"] = bias
            v[f"{prefix}/linear_1/weight"], v[f"{prefix}/linear_1/bias"] = r(width, width), r(width)
        else:
            v[f"{prefix}/linear_0/weight"], v[f"{prefix}/linear_0/bias"] = r(width, width), r(width)
            v[f"{prefix}/linear_1/weight"] = r(2 * width, width)
            bias = r(2 * width)
            bias[:width] = 0
            v[f"{prefix}/linear_1/bias"] = bias
            v[f"{prefix}/linear_2/weight"], v[f"{prefix}/linear_2/bias"] = r(width, width), r(width)

    def ffn(prefix):
        v[f"{prefix}/layer_norm/gamma"], v[f"{prefix}/layer_norm/beta"] = r(width), r(width)
        v[f"{prefix}/linear_0/weight"], v[f"{prefix}/linear_0/bias"] = r(4 * width, width), r(4 * width)
        v[f"{prefix}/linear_1/weight"], v[f"{prefix}/linear_1/bias"] = r(width, 4 * width), r(width)

    v["encoder/conv1/weight"], v["encoder/conv1/bias"] = r(width, mels, 3), r(width)
    v["encoder/conv2/weight"], v["encoder/conv2/bias"] = r(width, width, 3), r(width)
    v["encoder/position_encodings/encodings"] = r(1500, width)
    attn("encoder/layer_0/self_attention")
    ffn("encoder/layer_0/ffn")
    v["encoder/layer_norm/gamma"], v["encoder/layer_norm/beta"] = r(width), r(width)
    v["decoder/embeddings/weight"] = r(vocab, width)
    v["decoder/position_encodings/encodings"] = r(448, width)
    attn("decoder/layer_0/self_attention")
    attn("decoder/layer_0/attention", fused_qkv=False)
    ffn("decoder/layer_0/ffn")
    v["decoder/layer_norm/gamma"], v["decoder/layer_norm/beta"] = r(width), r(width)
    return v


def test_synthetic_model_converts_exactly_and_loads(tmp_path):
    import whisper

    variables = tiny_whisper_variables()
    path = tmp_path / "model.bin"
    write_ct2(path, variables, aliases=[("decoder/projection/weight", "decoder/embeddings/weight")])
    checkpoint = to_whisper_checkpoint(read_ct2([path]))
    assert checkpoint["dims"]["n_audio_state"] == 8 and checkpoint["dims"]["n_text_layer"] == 1
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**checkpoint["dims"]))
    model.load_state_dict(checkpoint["model_state_dict"])  # strict: every weight present, none extra
    state = checkpoint["model_state_dict"]
    qkv = variables["encoder/layer_0/self_attention/linear_0/weight"].astype(np.float32)
    assert torch.equal(state["encoder.blocks.0.attn.key.weight"], torch.from_numpy(qkv[8:16]))
    kv = variables["decoder/layer_0/attention/linear_1/weight"].astype(np.float32)
    assert torch.equal(state["decoder.blocks.0.cross_attn.value.weight"], torch.from_numpy(kv[8:16]))


def test_split_files_are_read_as_one(tmp_path):
    path = tmp_path / "model.bin"
    write_ct2(path, tiny_whisper_variables())
    data = path.read_bytes()
    (tmp_path / "a").write_bytes(data[:1000])
    (tmp_path / "b").write_bytes(data[1000:])
    whole, parts = read_ct2([path]), read_ct2([tmp_path / "a", tmp_path / "b"])
    assert whole.keys() == parts.keys()
    with pytest.raises(ConversionError, match="truncated"):
        read_ct2([tmp_path / "a"])


def test_an_unused_tensor_is_an_error(tmp_path):
    variables = tiny_whisper_variables()
    variables["decoder/unexpected/weight"] = np.zeros(3, np.float16)
    path = tmp_path / "model.bin"
    write_ct2(path, variables)
    with pytest.raises(ConversionError, match="not used"):
        to_whisper_checkpoint(read_ct2([path]))


def test_a_key_bias_is_an_error(tmp_path):
    variables = tiny_whisper_variables()
    variables["encoder/layer_0/self_attention/linear_0/bias"][8] = 1
    path = tmp_path / "model.bin"
    write_ct2(path, variables)
    with pytest.raises(ConversionError, match="key projection"):
        to_whisper_checkpoint(read_ct2([path]))


@pytest.mark.slow
def test_bundled_tiny_en_converts_with_every_tensor_used():
    from services.catalog import Catalog, resolve_path

    spec = Catalog.load().get("whisper-tiny.en")
    checkpoint = to_whisper_checkpoint(read_ct2([resolve_path(spec)]))
    assert checkpoint["dims"] == {
        "n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 384, "n_audio_head": 6, "n_audio_layer": 4,
        "n_vocab": 51864, "n_text_ctx": 448, "n_text_state": 384, "n_text_head": 6, "n_text_layer": 4,
    }
