"""ArtifactStore.publish(also_keep=...): the named older version survives the publish; the others go as usual."""

from __future__ import annotations

from pathlib import Path


def _publish(store, text: str, also_keep: str | None = None) -> str:
    with store.publish("checkpoint", "run", also_keep=also_keep) as staging:
        (staging / "weights.txt").write_text(text)
    return store.read_manifest("checkpoint", "run").version


def _versions(store) -> set[str]:
    return {p.name for p in Path(store.partition_dir("checkpoint", "run")).iterdir() if p.name.startswith("v-")}


def _read(store) -> str:
    folder, _ = store.local_dir("checkpoint", "run")
    return (folder / "weights.txt").read_text()


def test_also_keep_leaves_the_named_version_beside_the_new_one(store):
    a = _publish(store, "passed gate")
    b = _publish(store, "failed gate", also_keep=a)
    assert a != b
    assert _versions(store) == {a, b}
    assert store.read_manifest("checkpoint", "run").version == b and _read(store) == "failed gate"
    assert (Path(store.partition_dir("checkpoint", "run")) / a / "weights.txt").read_text() == "passed gate"
    # keeping one version does not keep every older one
    c = _publish(store, "failed again", also_keep=a)
    assert _versions(store) == {a, c}
    # a publish that keeps nothing leaves only itself
    d = _publish(store, "passed")
    assert _versions(store) == {d}
    assert _read(store) == "passed"


def test_without_also_keep_only_the_new_version_remains(store):
    _publish(store, "one")
    b = _publish(store, "two")
    assert _versions(store) == {b} and _read(store) == "two"
