"""The dedup section of the config reaches the index the dedup_index stage builds."""

from __future__ import annotations

from llm_pipeline_assets.config import DedupConfig
from llm_pipeline_assets.dedup.params import resolve_bands_rows
from llm_pipeline_assets.dedup.stage import build_dedup_index
from llm_pipeline_tests.reliability.conftest import synthetic_shards


def test_dedup_threshold_sets_the_lsh_shape_and_what_counts_as_a_near_duplicate(tmp_path):
    inputs = [("web", synthetic_shards(tmp_path / "web", "web", 70, 1)),
              ("news", synthetic_shards(tmp_path / "news", "news", 50, 2))]
    stats = {t: build_dedup_index(inputs, tmp_path / str(t), DedupConfig(threshold=t), log=lambda m: None)
             for t in (0.5, 0.95)}
    for t, s in stats.items():
        assert (s.bands, s.rows) == resolve_bands_rows(DedupConfig().num_perm, t, None, None), t
    assert (stats[0.5].bands, stats[0.5].rows) != (stats[0.95].bands, stats[0.95].rows)
    assert stats[0.5].exact_removed == stats[0.95].exact_removed  # exact dedup does not depend on it
    assert stats[0.5].fuzzy_removed > stats[0.95].fuzzy_removed  # a looser threshold merges more


def test_index_string_columns_are_built_in_slices(tmp_path, monkeypatch):
    """One Arrow string array holds at most 2 GiB: the source, id and survivor columns of a large corpus are taken
    a slice at a time (1M rows). Slices of 7 rows here give the same index as one slice."""
    import pyarrow.parquet as pq

    from llm_pipeline_assets.dedup import stage

    inputs = [("web", synthetic_shards(tmp_path / "web", "web", 40, 1)),
              ("news", synthetic_shards(tmp_path / "news", "news", 30, 2))]
    build_dedup_index(inputs, tmp_path / "one", DedupConfig(), log=lambda m: None)
    monkeypatch.setattr(stage, "_TAKE_ROWS", 7)
    build_dedup_index(inputs, tmp_path / "sliced", DedupConfig(), log=lambda m: None)
    one, sliced = (pq.read_table(tmp_path / d / stage.INDEX_FILE) for d in ("one", "sliced"))
    assert sliced.equals(one) and one.num_rows == 70 and not all(one.column("keep").to_pylist())
    assert sliced.column("survivor_id").to_pylist() == one.column("survivor_id").to_pylist()
