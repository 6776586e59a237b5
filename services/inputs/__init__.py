"""Decoding of user input in one place: images, audio, text. Bad input raises ``InputError``."""

from .audio import SAMPLE_RATE, decode_audio
from .images import load_image
from .text import clean_text, split_sentences

__all__ = ["SAMPLE_RATE", "clean_text", "decode_audio", "load_image", "split_sentences"]
