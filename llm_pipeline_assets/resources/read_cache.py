"""Local copies of the S3 versions that steps read (``ArtifactStore.local_dir`` on an S3 root).

Layout of one partition's folder under the store's cache directory::

    <version>/                          a whole version; ``.complete`` inside once every file is there
    .dl-<random>@<host>@<pid>/          a download in progress (one a killed process left is swept)
    .reader-<version>@<host>@<pid>      a process that reads ``<version>`` (a step that may still be using it)
    .lock                               flock: shared around "mark + look", exclusive around "replace + evict"

Every version ever read used to stay: each refresh of raw_corpus left one more copy of the corpus (and of its
cleaned, deduplicated and packed forms) on the step machines' disks. Now a download of a version removes the other
versions of the same partition that no live process reads (one a process read stays while that process lives: a
step process, or the whole run with the in-process executor). ``.lock`` orders the marking and the eviction.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

from llm_pipeline_assets.resources.s3_objects import download
from llm_pipeline_assets.work_units import owned_dir, owner_alive, owner_suffix

READER = ".reader-"


def cached_copy(fs, remote: str, manifest, folder: Path) -> Path:
    """The local folder holding ``manifest``'s version (``remote``), downloaded into ``folder`` unless there; this
    process is recorded as its reader. Transport errors propagate; nothing partial is left as the copy."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / manifest.version
    with _locked(folder, exclusive=False):  # an eviction sees this marker, or ran before the version was looked at
        (folder / f"{READER}{manifest.version}{owner_suffix()}").touch()
        if (target / ".complete").exists():
            return target
    names = sorted(manifest.files)
    tmp = owned_dir(folder, ".dl")
    try:
        for name in names:
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        if names:
            download(fs, remote, names, tmp, {n: manifest.files[n]["bytes"] for n in names})
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (tmp / ".complete").touch()
    with _locked(folder, exclusive=True):
        if (target / ".complete").exists():  # another process cached it meanwhile (and may be reading it): keep that
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
        doomed = _set_aside_unread(folder, keep=manifest.version)
    for path in doomed:  # outside the lock: readers of the kept versions need not wait for the deletes
        shutil.rmtree(path, ignore_errors=True)
    return target


@contextlib.contextmanager
def _locked(folder: Path, exclusive: bool):
    """``flock`` on ``folder/.lock``: readers share it around "mark + look", an eviction holds it alone."""
    with open(folder / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _set_aside_unread(folder: Path, keep: str) -> list[Path]:
    """Rename the versions other than ``keep`` that no live process reads to ``.evict-*`` (call with the exclusive
    lock held); returns them for deletion. Markers of processes that are gone are removed."""
    live = set()
    for marker in folder.glob(f"{READER}*@*"):
        if owner_alive(marker.name, marker):
            live.add(marker.name[len(READER):].rsplit("@", 2)[0])
        else:
            marker.unlink(missing_ok=True)
    doomed = list(folder.glob(".evict-*"))  # set aside by a process that died before deleting
    for entry in sorted(folder.glob("v-*")):
        if entry.is_dir() and entry.name != keep and entry.name not in live:
            aside = folder / f".evict-{entry.name}-{os.urandom(4).hex()}"
            os.replace(entry, aside)
            doomed.append(aside)
    return doomed
