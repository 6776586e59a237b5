"""Bad input of every kind gets an InputError with a message for a person."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from services.errors import InputError
from services.inputs import clean_text, decode_audio, load_image, split_sentences

from .conftest import SAMPLES


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def bomb_png(width=100_000, height=100_000) -> bytes:
    """A tiny PNG whose header claims 10 gigapixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"this is just text, renamed to .jpg", "not an image"),
        ((SAMPLES / "cat.jpg").read_bytes()[:5000], "corrupt or truncated"),
        (bomb_png(), "megapixels|too large"),
    ],
    ids=["zero-bytes", "text-renamed", "truncated-jpeg", "decompression-bomb"],
)
def test_bad_images_are_refused_with_a_reason(data, message):
    with pytest.raises(InputError, match=message):
        load_image(data, "upload.jpg")


def test_truncated_png_is_refused():
    data = png_bytes(Image.effect_noise((200, 200), 50).convert("RGB"))
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_image(data[: len(data) // 2])


@pytest.mark.parametrize("mode", ["RGBA", "CMYK", "L", "I;16", "P", "LA"])
def test_every_image_mode_becomes_rgb(mode):
    base = Image.new("RGB", (32, 24), (200, 100, 50))
    if mode == "I;16":
        image = Image.fromarray(np.full((24, 32), 40000, np.uint16))
    else:
        image = base.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "TIFF" if mode == "I;16" else "PNG"
    buf = io.BytesIO()
    image.save(buf, fmt)
    out = load_image(buf.getvalue())
    assert out.mode == "RGB" and out.size == (32, 24)


def test_transparent_pixels_are_flattened_onto_white():
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert load_image(png_bytes(image)).getpixel((0, 0)) == (255, 255, 255)


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    assert load_image(buf.getvalue()).getpixel((0, 0))[0] > 200


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif)
    assert load_image(buf.getvalue()).size == (20, 40)


def wav_bytes(samples: np.ndarray, rate=16000) -> bytes:
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def test_audio_is_resampled_to_16k_mono_float32():
    tone = np.sin(np.arange(44100) / 44100 * 2 * np.pi * 440).astype(np.float32) * 0.5
    audio = decode_audio(wav_bytes(tone, 44100))
    assert audio.dtype == np.float32 and abs(audio.size - 16000) < 200


def test_silence_decodes_fine():
    assert decode_audio(wav_bytes(np.zeros(16000))).max() == 0


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"ID3\x03\x00\x00\x00" + bytes(range(256)) * 20, "decoded|corrupt"),
        (None, "shorter than"),
    ],
    ids=["zero-bytes", "corrupt-mp3", "too-short"],
)
def test_bad_audio_is_refused(data, message):
    if data is None:
        data = wav_bytes(np.zeros(800))  # 0.05 s
    with pytest.raises(InputError, match=message):
        decode_audio(data, "clip.mp3")


def test_audio_over_the_duration_limit_is_refused_without_decoding_it_all():
    with pytest.raises(InputError, match="limit"):
        decode_audio(wav_bytes(np.zeros(16000 * 5)), max_seconds=2)


def test_a_video_without_sound_is_refused_as_audio():
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(5):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(InputError, match="no audio track"):
        decode_audio(buf.getvalue(), "movie.mp4")


@pytest.mark.parametrize("text", ["", "   \n\t ", "\x00\x01\x02"])
def test_empty_text_is_refused(text):
    with pytest.raises(InputError, match="empty"):
        clean_text(text)


def test_text_over_the_limit_is_refused():
    with pytest.raises(InputError, match="limit"):
        clean_text("a" * 1_000_001)


@pytest.mark.parametrize("text", ["😀😀🎉", "مرحبا بالعالم", "שלום עולם", "e\u0301te\u0301"])
def test_odd_unicode_is_kept(text):
    assert clean_text(text).strip()


def test_control_characters_are_removed():
    assert clean_text("a\x00b\x1bc\u200bd") == "abcd"


def test_long_text_is_split_whole_never_cut():
    text = "First sentence. " * 300 + "x" * 2500
    spans = split_sentences(text)
    covered = "".join(text[s:e] for s, e in spans).replace(" ", "")
    assert covered == text.replace(" ", "")
    assert all(e - s <= 1000 for s, e in spans)
