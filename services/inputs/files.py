"""Reading user input that arrives as bytes or as a path, with the same messages everywhere."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def read_bytes(source: bytes | bytearray | str | Path, name: str) -> bytes:
    """The bytes of ``source``; ``InputError`` if the file is missing or empty."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"{name}: no such file")
        data = path.read_bytes()
    if not data:
        raise InputError(f"{name}: the file is empty")
    return data
