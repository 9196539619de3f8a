"""Which local files the readers take, and opening them through their compression (.gz, .zst).

Suffixes match case-insensitively (``DATA.JSONL.GZ`` is a gzip JSON-lines file). Published corpora often
ship as ``.jsonl.zst``; a zstd file cut short raises ``EOFError`` at the cut, like ``gzip`` does, instead of
ending quietly with the lines before it (the readers then record the file as truncated).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

# suffix -> (kind, compression); Parquet compresses inside the file
_KIND_OF = {f".{kind}{c}": (kind, c) for kind in ("jsonl", "json", "parquet", "txt") for c in ("", ".gz", ".zst")
            if not (kind == "parquet" and c)}
SUPPORTED_SUFFIXES = tuple(_KIND_OF)


def file_kind(name: str) -> tuple[str, str] | None:
    """``(kind, compression)`` of a file name (``("jsonl", ".zst")``), or None for a file the readers skip."""
    lower = name.lower()
    return next((kind for suffix, kind in _KIND_OF.items() if lower.endswith(suffix)), None)


class _ZstdRaw(io.RawIOBase):
    """Raw stream of the decompressed frames of a .zst file; EOFError when the input ends inside a frame."""

    def __init__(self, path: Path, chunk: int = 1 << 20):
        import zstandard

        self._zstd, self._fh, self._chunk = zstandard, open(path, "rb"), chunk
        self._dec, self._in_frame = zstandard.ZstdDecompressor().decompressobj(), False
        self._buf, self._pos = b"", 0  # decompressed bytes not yet handed out start at _pos

    def readable(self) -> bool:
        return True

    def readinto(self, out) -> int:
        while self._pos >= len(self._buf):
            data = self._fh.read(self._chunk)
            if not data:
                if self._in_frame:
                    raise EOFError("zstd input ended before the end of the frame")
                return 0
            parts = []
            while data:
                self._in_frame = True
                parts.append(self._dec.decompress(data))
                data = b""
                if self._dec.eof:  # one frame done; a next frame may follow in the same file
                    data, self._in_frame = self._dec.unused_data, False
                    self._dec = self._zstd.ZstdDecompressor().decompressobj()
            self._buf, self._pos = b"".join(parts), 0
        n = min(len(out), len(self._buf) - self._pos)
        out[:n] = memoryview(self._buf)[self._pos:self._pos + n]
        self._pos += n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def open_compressed(path: Path):
    """A binary file object of the decompressed bytes (``readline`` works on all of them)."""
    compression = (file_kind(path.name) or ("", ""))[1]
    if compression == ".gz":
        return gzip.open(path, "rb")
    if compression == ".zst":
        return io.BufferedReader(_ZstdRaw(path))
    return open(path, "rb")
