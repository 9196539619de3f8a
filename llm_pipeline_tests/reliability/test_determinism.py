"""Same inputs, same bytes: however the work was done, and however much of it a crash left behind.

1. The same config and seed give byte-identical data artifacts and tokenizer files in two different roots.
   The reference runs inside pytest; the second run is the real CLI in another process with another
   PYTHONHASHSEED (set and dict-of-set iteration orders differ), one Rust tokenizer thread instead of all
   cores, and two cleaning processes instead of one.
2. ``clean_shards`` and ``build_dedup_index`` resumed from a work folder holding some done units and the
   debris of a crash (a temp folder, a unit without its marker, a unit whose file was cut short) produce
   exactly what a fresh run produces, and reuse only the intact units.

In (1) every file of every published version is compared byte for byte: raw, cleaned (parts, rejects, funnel),
deduped shards, the dedup index and its stats, the tokenizer files and every packed token file (streams,
document tables, packed sequences, segment tables, index.json). Paths, timestamps, version ids and the
number of cleaning processes must leave no trace in any of them.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from llm_pipeline_assets.config import CleaningConfig, DedupConfig
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_assets.work_units import WorkUnits, discard_work, work_key
from llm_pipeline_tests.reliability.conftest import DATA_ASSETS, DATA_SELECTION, write_config
from llm_pipeline_tests.reliability.conftest import materialize_to_end, pipeline_env, published_bytes
from llm_pipeline_tests.reliability.conftest import synthetic_shards, tree_bytes

PARTITIONED = {"raw_corpus", "cleaned_shards", "deduped_shards"}


def _all_published(root) -> dict[str, bytes]:
    """``asset[partition]/file`` -> bytes of every published file of the data assets under ``root``."""
    out = {}
    for asset in DATA_ASSETS:
        for partition in (("web", "news") if asset in PARTITIONED else (None,)):
            for name, data in published_bytes(root, asset, partition).items():
                out[f"{asset}[{partition or ''}]/{name}"] = data
    return out


@pytest.mark.slow
def test_two_runs_in_two_roots_give_byte_identical_data_and_tokens(data_reference, tmp_path):
    config = write_config(tmp_path / "pipeline.yaml", workers=2)
    root = tmp_path / "second-root" / "artifacts"
    env = pipeline_env(config, root, tmp_path / "home", PYTHONHASHSEED="4242", RAYON_NUM_THREADS="1")
    assert env["PYTHONHASHSEED"] != os.environ.get("PYTHONHASHSEED")
    materialize_to_end(env, DATA_SELECTION)

    first, second = _all_published(data_reference), _all_published(root)
    assert sorted(first) == sorted(second)
    different = [name for name in first if first[name] != second[name]]
    assert different == []
    kinds = {name.rsplit(".", 1)[-1] for name in first}
    assert {"parquet", "json", "bin", "npy"} <= kinds  # shards, tokenizer/index files, token memmaps
    assert any(n.startswith("packed_tokens[]/train-64") for n in first)
    assert any(n.startswith("tokenizer[]/tokenizer.json") for n in first)
    # The DataVersions Dagster sees agree too, so nothing downstream of the second root would look stale.
    a, b = ArtifactStore(root=str(data_reference)), ArtifactStore(root=str(root))
    for asset in DATA_ASSETS:
        for partition in (("web", "news") if asset in PARTITIONED else (None,)):
            ma, mb = a.read_manifest(asset, partition), b.read_manifest(asset, partition)
            assert ma.data_version == mb.data_version and ma.version != mb.version
    digest = hashlib.sha256(b"".join(first[n] for n in sorted(first))).hexdigest()[:12]
    print(f"{len(first)} files, {sum(map(len, first.values()))} bytes identical (sha256 {digest})")


def _crash_debris(units: WorkUnits, half_done: str, cut_short: str, file_name: str) -> None:
    """What a kill leaves: a temp folder, a unit renamed into place without its marker, a truncated file."""
    (units.root / f".tmp-{half_done}-99999").mkdir()
    (units.root / f".tmp-{half_done}-99999" / "junk").write_bytes(b"half written")
    units.marker_path(half_done).unlink()
    with open(units.unit_dir(cut_short) / file_name, "r+b") as fh:
        fh.truncate(10)


def test_cleaning_resumed_from_a_crashed_work_folder_equals_a_fresh_run(tmp_path):
    from llm_pipeline_assets.curation.stage import clean_shards, clean_unit

    files, cfg = synthetic_shards(tmp_path / "raw", "web", 90, 1), CleaningConfig(workers=1)
    fresh = clean_shards(files, tmp_path / "fresh", cfg, 10, 1 << 20, log=lambda m: None)
    units = WorkUnits(tmp_path / "work")
    markers = {i: clean_unit(files[i], units.root, f"{i:05d}", cfg, 10, 1 << 20) for i in (0, 2, 3, 5)}
    _crash_debris(units, "00002", "00003", next(iter(markers[3]["files"])))
    logs: list[str] = []
    resumed = clean_shards(files, tmp_path / "resumed", cfg, 10, 1 << 20, log=logs.append, work_dir=units.root)
    assert len(files) == 6 and resumed.resumed_shards == 2 and fresh.resumed_shards == 0  # only 0 and 5 intact
    assert "resuming: 2/6 shards were already cleaned" in logs[0]
    assert resumed.to_dict() | {"seconds": 0, "resumed_shards": 0} == fresh.to_dict() | {"seconds": 0}
    assert tree_bytes(tmp_path / "resumed") == tree_bytes(tmp_path / "fresh") != {}
    assert not list(units.root.glob(".tmp-*"))


def test_dedup_index_resumed_from_a_crashed_work_folder_equals_a_fresh_build(tmp_path):
    from llm_pipeline_assets.dedup.index import DedupIndexBuilder
    from llm_pipeline_assets.dedup.stage import build_dedup_index, hash_unit, params_from_config

    inputs = [("web", synthetic_shards(tmp_path / "web", "web", 70, 1)),
              ("news", synthetic_shards(tmp_path / "news", "news", 50, 2))]
    cfg = DedupConfig(verify="jaccard", batch_docs=7)  # jaccard: the shingle sets are units' files too
    fresh = build_dedup_index(inputs, tmp_path / "fresh", cfg, log=lambda m: None)
    units = WorkUnits(tmp_path / "work")
    builder = DedupIndexBuilder(tmp_path / "scratch", params_from_config(cfg))
    for tag, path in [("web-00000", inputs[0][1][0]), ("web-00002", inputs[0][1][2]), ("news-00001", inputs[1][1][1]),
                      ("news-00003", inputs[1][1][3])]:
        hash_unit(units, tag, path, builder, cfg.batch_docs)
    builder.close()
    _crash_debris(units, "web-00002", "news-00001", "shingles.u64")
    resumed = build_dedup_index(inputs, tmp_path / "resumed", cfg, log=lambda m: None, work_dir=units.root)
    assert (resumed.units, resumed.resumed_units, fresh.resumed_units) == (9, 2, 0)
    assert fresh.exact_removed + fresh.fuzzy_removed > 0 and fresh.cross_source_removed > 0
    assert tree_bytes(tmp_path / "resumed") == tree_bytes(tmp_path / "fresh") != {}


def test_publishing_discards_only_the_work_folders_of_its_own_partition(tmp_path):
    root = tmp_path / "_work" / "cleaned_shards"
    web, old_web = root / work_key("web", "v2"), root / work_key("web", "v1")
    others = [root / work_key("web-eu", "v1"), root / work_key("news", "v1"), root / "web-notes"]
    for folder in [web, old_web, *others]:
        folder.mkdir(parents=True)
    assert web.name != old_web.name
    discard_work(web, "web")
    assert sorted(p.name for p in root.iterdir()) == sorted(p.name for p in others)
