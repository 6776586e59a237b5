"""Every user-facing limit and tunable in one place, read from the environment.

The pages show these values to the user, so a limit is never a surprise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may ask for."""

    max_upload_mb: int
    max_image_pixels: int
    max_images_per_request: int
    max_audio_seconds: float
    max_text_chars: int
    max_new_tokens: int
    max_video_seconds: float
    max_video_side: int
    # A transcription may take at most base + factor x the audio's length (then it stops with what it has)
    transcribe_budget_base_s: float
    transcribe_budget_factor: float

    @classmethod
    def from_env(cls) -> "Limits":
        return cls(
            max_upload_mb=_env_int("MAX_UPLOAD_MB", 200),
            max_image_pixels=_env_int("MAX_IMAGE_PIXELS", 40_000_000),
            max_images_per_request=_env_int("MAX_IMAGES_PER_REQUEST", 32),
            max_audio_seconds=_env_float("MAX_AUDIO_SECONDS", 1800.0),
            max_text_chars=_env_int("MAX_TEXT_CHARS", 100_000),
            max_new_tokens=_env_int("MAX_NEW_TOKENS", 512),
            max_video_seconds=_env_float("MAX_VIDEO_SECONDS", 600.0),
            max_video_side=_env_int("MAX_VIDEO_SIDE", 1920),
            transcribe_budget_base_s=_env_float("TRANSCRIBE_BUDGET_BASE_S", 20.0),
            transcribe_budget_factor=_env_float("TRANSCRIBE_BUDGET_FACTOR", 1.5),
        )

    def transcribe_budget(self, audio_seconds: float) -> float:
        """Seconds one transcription of ``audio_seconds`` may run: a runaway decode stops here."""
        return self.transcribe_budget_base_s + self.transcribe_budget_factor * audio_seconds


LIMITS = Limits.from_env()


def cache_dir() -> Path:
    """Where converted weights are kept between runs (``MODEL_CACHE_DIR``)."""
    root = os.environ.get("MODEL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "ai-dashboard"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def memory_budget_mb() -> float | None:
    """``MODEL_MEMORY_BUDGET_MB``: total size of loaded models before eviction; unset = no limit."""
    raw = os.environ.get("MODEL_MEMORY_BUDGET_MB", "").strip()
    return float(raw) if raw else None


def batching_enabled() -> bool:
    """``DYNAMIC_BATCHING=0`` turns micro-batching off (one request per model call)."""
    return os.environ.get("DYNAMIC_BATCHING", "1").strip() != "0"


def batch_max_wait_ms() -> float:
    """The longest a batch leader waits for as many requests as its previous batch held
    (``BATCH_MAX_WAIT_MS``, default 5; never after a batch of one, so a lone user never waits)."""
    return _env_float("BATCH_MAX_WAIT_MS", 5.0)


def batch_max_items() -> int:
    return _env_int("BATCH_MAX_ITEMS", 32)


def llm_slots() -> int:
    """``LLM_SLOTS``: conversations llama.cpp decodes at once per model (more wait for a free slot)."""
    return max(1, _env_int("LLM_SLOTS", 4))


def llm_context() -> int:
    """``LLM_CONTEXT``: tokens of context each conversation may use."""
    return max(256, _env_int("LLM_CONTEXT", 4096))


def llm_threads() -> int:
    """``LLM_THREADS``: CPU threads for llama.cpp (default: every core this process may use)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, _env_int("LLM_THREADS", cores))


def llm_prompt_cache_mb() -> int:
    """``LLM_PROMPT_CACHE_MB``: llama.cpp's host-memory cache of earlier prompts (its own default is 8 GB)."""
    return _env_int("LLM_PROMPT_CACHE_MB", 256)
