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
