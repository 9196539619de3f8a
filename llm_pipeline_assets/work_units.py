"""Resumable work units: the finished parts of a long step survive a crash, ``kill -9`` included.

A step that splits its work into independent units (one input shard each: cleaning, MinHash hashing)
keeps them in a persistent LOCAL work folder, ``ArtifactStore.work_dir(asset, key)`` with ``key`` from
:func:`work_key` over everything that shapes a unit's output (input content versions, settings, code
version), so only an identical rerun reuses them::

    <work>/<tag>/             the unit's files, renamed into place from a private .tmp-<tag>-<pid>/ folder
    <work>/<tag>.done.json    written last (fsync'd temp file + rename): the unit's stats and file sizes

A unit is done only when its marker exists and every file it names is there with its size. A ``.tmp-*``
folder or a unit folder without a marker is half-written: the rerun removes it and computes the unit again.
The step publishes from the units (hard links where the file system allows) and then discards the folder.

Test hook: ``LLM_PIPELINE_SLOW_UNITS_S`` (seconds, float) makes each unit wait that long after its marker
is written, so a test can SIGKILL a run between two units however fast the machine is. Unset: no wait.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

MARKER_SUFFIX = ".done.json"
SLOW_UNITS_ENV = "LLM_PIPELINE_SLOW_UNITS_S"


def json_digest(value, length: int = 16) -> str:
    """First ``length`` hex digits of the SHA-256 of ``value``'s canonical JSON (keys sorted; str() fallback)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:length]


def owner_suffix() -> str:
    """``@<host>@<pid>``: marks a folder with the process writing it (see :func:`owner_alive`)."""
    return f"@{socket.gethostname()}@{os.getpid()}"


def owner_alive(name: str, path, max_age_s: float = 86400.0) -> bool:
    """Whether the process named by ``name``'s :func:`owner_suffix` may still be writing ``path``: it runs on this
    host, or ``path`` (on a volume shared with another host) changed less than ``max_age_s`` ago. No suffix: no."""
    parts = name.rsplit("@", 2)
    if len(parts) != 3 or not parts[2].isdigit():
        return False
    if parts[1] != socket.gethostname():
        try:
            return time.time() - os.stat(path).st_mtime < max_age_s
        except OSError:
            return False
    try:
        os.kill(int(parts[2]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def owned_dir(parent, prefix: str) -> Path:
    """A new private folder ``<parent>/<prefix>-<random>@<host>@<pid>``. Folders of the same prefix whose process is
    gone (kill -9, the OOM killer: no ``finally`` ran) are removed first, so a killed run's scratch (every MinHash
    signature, a whole checkpoint on its way to S3) does not pile up with each retry."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.glob(f"{prefix}-*@*"):
        if old.is_dir() and not owner_alive(old.name, old):
            shutil.rmtree(old, ignore_errors=True)
    path = parent / f"{prefix}-{os.urandom(4).hex()}{owner_suffix()}"
    path.mkdir()
    return path


@contextlib.contextmanager
def owned_scratch(parent, prefix: str) -> Iterator[Path]:
    """:func:`owned_dir`, removed on exit."""
    path = owned_dir(parent, prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def work_key(label: str, *parts) -> str:
    """``<label>-<16 hex>``: a safe work-folder name for ``label`` (a partition) and the JSON of ``parts``."""
    return f"{label}-{json_digest(parts)}"


def discard_work(work: Path, label: str) -> None:
    """Remove ``work`` and the other work folders of ``label`` (older inputs or settings) once published."""
    work = Path(work)
    pattern = re.compile(rf"^{re.escape(label)}-[0-9a-f]{{16}}$")
    for p in work.parent.iterdir() if work.parent.is_dir() else ():
        if p == work or pattern.fullmatch(p.name):
            shutil.rmtree(p, ignore_errors=True)


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` all or nothing: a synced temp file beside it, renamed over it.

    A reader (another rank, a resumed run, the asset) sees the old file or the whole new one, never a
    part; the temp name carries the pid and a random suffix, so concurrent writers do not collide.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WorkUnits:
    """The units of one step under ``root``: which are done, fresh scratch space, atomic commit, placing."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def marker_path(self, tag: str) -> Path:
        return self.root / f"{tag}{MARKER_SUFFIX}"

    def unit_dir(self, tag: str) -> Path:
        return self.root / tag

    def remove_temps(self) -> None:
        """Delete what a crash left half-written (call before any unit of this run starts)."""
        for p in self.root.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
        for p in self.root.glob(f".*{MARKER_SUFFIX}.*"):
            p.unlink(missing_ok=True)

    def done(self, tag: str) -> dict | None:
        """The marker (``tag``, ``files``: name -> bytes, ``stats``) of a complete unit, else None."""
        try:
            marker = json.loads(self.marker_path(tag).read_text(encoding="utf-8"))
            files = marker["files"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        unit = self.unit_dir(tag)
        for name, size in files.items():
            path = unit / name
            if not path.is_file() or path.stat().st_size != size:
                return None
        return marker

    def scratch(self, tag: str) -> Path:
        """A fresh private folder to compute unit ``tag`` in."""
        tmp = self.root / f".tmp-{tag}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        return tmp

    def commit(self, tag: str, scratch: Path, stats: dict) -> dict:
        """Make ``scratch`` unit ``tag``: files synced, folder renamed into place, then the marker. Returns it."""
        files = {}
        for p in sorted(Path(scratch).rglob("*")):
            if p.is_file():
                _fsync(p)
                files[p.relative_to(scratch).as_posix()] = p.stat().st_size
        final = self.unit_dir(tag)
        self.marker_path(tag).unlink(missing_ok=True)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(scratch, final)
        marker = {"tag": tag, "files": files, "stats": stats}
        atomic_write_text(self.marker_path(tag), json.dumps(marker))
        delay = float(os.environ.get(SLOW_UNITS_ENV) or 0)
        if delay > 0:
            time.sleep(delay)
        return marker

    def place(self, marker: dict, dest: Path) -> list[Path]:
        """Hard-link (or copy, across file systems) a done unit's files into ``dest``; returns the new paths."""
        unit, out = self.unit_dir(marker["tag"]), []
        for name in marker["files"]:
            target = Path(dest) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(unit / name, target)
            except OSError:
                shutil.copy2(unit / name, target)
            out.append(target)
        return out
