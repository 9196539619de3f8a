"""Local copies of the S3 versions that steps read (``ArtifactStore.local_dir`` on an S3 root).

Layout of one partition's folder under the store's cache directory::

    <version>/                          a whole version; ``.complete`` inside once every file is there
    .dl-<random>@<host>@<pid>/          a download in progress (one a killed process left is swept)
    .reader-<version>@<host>@<pid>      a process that reads ``<version>`` (a step that may still be using it)

Every version ever read used to stay: each refresh of raw_corpus left one more copy of the corpus (and of its
cleaned, deduplicated and packed forms) on the step machines' disks. Now a download of a new version removes the
versions of the same partition that no live process reads; one that a running step reads stays until it ends.
"""

from __future__ import annotations

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
    (folder / f"{READER}{manifest.version}{owner_suffix()}").touch()  # before any eviction can see the version
    target = folder / manifest.version
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
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    evict_unread(folder, keep=manifest.version)
    return target


def evict_unread(folder: Path, keep: str) -> list[str]:
    """Remove the versions in ``folder`` other than ``keep`` that no live process reads; returns their names."""
    live = set()
    for marker in folder.glob(f"{READER}*@*"):
        if owner_alive(marker.name, marker):
            live.add(marker.name[len(READER):].rsplit("@", 2)[0])
        else:
            marker.unlink(missing_ok=True)
    removed = []
    for entry in sorted(folder.glob("v-*")):
        if entry.is_dir() and entry.name != keep and entry.name not in live:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed
