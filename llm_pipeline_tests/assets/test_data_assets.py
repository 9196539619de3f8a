"""End-to-end: the data assets materialized through Dagster on the synthetic and the local-files sources."""

import json

import dagster as dg
import pytest

from llm_pipeline_assets.config import parse_config
from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_assets.materialize import run
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_assets.shards import iter_batches, shard_files
from llm_pipeline_assets.sources.synthetic import generate_documents
from llm_pipeline_tests.conftest import small_config


def _metadata(results, asset, partition=None):
    for r in results:
        for e in r.get_asset_materialization_events():
            m = e.materialization
            if m.asset_key.to_user_string() == asset and m.partition == partition:
                return {k: v.value for k, v in m.metadata.items()}
    raise KeyError((asset, partition))


def _docs(store, asset, partition):
    directory, _ = store.local_dir(asset, partition)
    return [r for b in iter_batches(shard_files(directory)) for r in b]


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    cfg = small_config()
    root = tmp_path_factory.mktemp("artifacts")
    defs = build_definitions(cfg, root=str(root))
    results = run(defs, "group:data", instance=dg.DagsterInstance.ephemeral(), echo=lambda m: None)
    return cfg, ArtifactStore(root=str(root)), results


def test_every_step_and_blocking_check_passes(synthetic_run):
    _, _, results = synthetic_run
    assert len(results) == 7 and all(r.success for r in results)
    checks = [e for r in results for e in r.get_asset_check_evaluations()]
    assert {c.check_name for c in checks} == {"no_pii_in_sample", "cleaned_schema_valid", "no_exact_duplicates_kept",
                                               "deduped_schema_valid", "no_exact_duplicates"}
    assert all(c.passed for c in checks)


def test_cleaning_removes_planted_problems(synthetic_run):
    cfg, store, results = synthetic_run
    for source in cfg.source_names:
        truth = {d.id: d for d in generate_documents(source, **_gen_kwargs(cfg, source))}
        raw = {r["id"] for r in _docs(store, "raw_corpus", source)}
        assert raw == set(truth)
        cleaned = {r["id"]: r["text"] for r in _docs(store, "cleaned_shards", source)}
        labels = [truth[i].label for i in cleaned]
        assert "non_english" not in labels and "toxic" not in labels
        assert labels.count("low_quality") + labels.count("boilerplate") <= 0.1 * len(labels)
        pii_docs = [i for i in cleaned if truth[i].label == "pii"]
        assert pii_docs and all("@" not in cleaned[i] or "[EMAIL]" in cleaned[i] for i in pii_docs)
        md = _metadata(results, "cleaned_shards", source)
        assert md["pii_replacements_total"] > 0 and md["docs_out"] == len(cleaned) < md["docs_in"]
        funnel = {row.data["step"]: row.data["removed"] for row in md["funnel"].records}
        assert funnel["language"] > 0 and funnel["toxicity"] > 0
        assert funnel["gopher_quality"] + funnel["gopher_repetition"] + funnel["fineweb_quality"] > 0
        rejected_dir, _ = store.local_dir("cleaned_shards", source)
        rejected = {p.name.split("-")[0] for p in (rejected_dir / "rejected").glob("*.parquet")}
        assert {"language", "toxicity"} <= rejected


def _gen_kwargs(cfg, source):
    spec = cfg.source(source)
    return {"num_docs": spec.num_docs, "seed": spec.seed, "corpus_seed": spec.corpus_seed}


def test_dedup_is_global_and_deterministic(synthetic_run):
    cfg, store, results = synthetic_run
    md = _metadata(results, "dedup_index")
    assert md["exact_removed"] > 0 and md["fuzzy_removed"] > 0 and md["cross_source_removed"] > 0
    groups = {}
    for source in cfg.source_names:
        truth = {d.id: d for d in generate_documents(source, **_gen_kwargs(cfg, source))}
        for r in _docs(store, "deduped_shards", source):
            groups.setdefault(truth[r["id"]].group, []).append((truth[r["id"]].edit_rate, r["id"]))
    survivors_sharing_group = [g for g, members in groups.items() if len(members) > 1
                               and min(rate for rate, _ in members) <= 0.03]
    assert len(survivors_sharing_group) <= 0.05 * len(groups)
    index_dir, _ = store.local_dir("dedup_index")
    import pyarrow.parquet as pq

    index = pq.read_table(index_dir / "index.parquet").to_pylist()
    # the survivor of every cluster is its first occurrence: sources in config order, documents in shard order
    position = {(source, r["id"]): (i, n) for i, source in enumerate(cfg.source_names)
                for n, r in enumerate(_docs(store, "cleaned_shards", source))}
    removed = [row for row in index if not row["keep"]]
    assert removed and any(row["survivor_source"] != row["source"] for row in removed)
    for row in removed:
        assert position[(row["survivor_source"], row["survivor_id"])] < position[(row["source"], row["id"])], row


def test_dedup_workers_rebuild_the_same_index(synthetic_run):
    """dedup.workers: 2 (hashing and the blocking check's pass in worker processes), materialized through Dagster
    again on the same cleaned shards: the same index, byte for byte, and the metadata says how it was hashed."""
    cfg, store, _ = synthetic_run
    index_dir, _ = store.local_dir("dedup_index")
    before = (index_dir / "index.parquet").read_bytes()
    two = cfg.model_copy(update={"dedup": cfg.dedup.model_copy(update={"workers": 2})})
    results = run(build_definitions(two, root=store.root), "dedup_index", instance=dg.DagsterInstance.ephemeral(),
                  echo=lambda m: None)
    md = _metadata(results, "dedup_index")
    assert md["hashing_workers"] == 2 and md["docs"] > 0
    index_dir, _ = store.local_dir("dedup_index")
    assert (index_dir / "index.parquet").read_bytes() == before


def test_local_source_with_bad_records(tmp_path):
    src = tmp_path / "corpus"
    src.mkdir()
    good = [next(iter(generate_documents("x", 1, seed=i))).text for i in range(20)]
    lines = [json.dumps({"id": f"doc{i}", "text": t}) for i, t in enumerate(good)]
    lines.insert(5, "{not json")
    lines.insert(9, json.dumps({"id": "n", "text": None}))
    (src / "part.jsonl").write_text("\n".join(lines))
    cfg = parse_config({"name": "local", "sources": [{"name": "mine", "kind": "local", "path": str(src)}]})
    results = run(build_definitions(cfg, root=str(tmp_path / "a")), "group:data",
                  instance=dg.DagsterInstance.ephemeral(), echo=lambda m: None)
    md = _metadata(results, "raw_corpus", "mine")
    assert md["docs"] == 20 and md["quarantined"] == 2
    reasons = {r.data["reason"] for r in md["quarantine_reasons"].records}
    assert reasons == {"malformed_json", "missing_text"}


def test_failed_blocking_check_stops_the_graph(tmp_path):
    cfg = small_config(sources=[{"name": "web", "kind": "synthetic", "num_docs": 120, "seed": 3}],
                       cleaning={"pii": False})
    instance = dg.DagsterInstance.ephemeral()
    stop = r"cleaned_shards\[web\]: failed checks:\n  no_pii_in_sample: .*docs_with_pii=[1-9]"  # the check's reasons
    with pytest.raises(SystemExit, match=stop):
        run(build_definitions(cfg, root=str(tmp_path)), "*packed_tokens", instance=instance, echo=lambda m: None)
    assert instance.get_latest_materialization_event(dg.AssetKey("dedup_index")) is None


def test_a_source_that_only_mirrors_another_dedups_to_nothing_and_the_graph_goes_on(tmp_path):
    """A second source holding copies of the first's documents (a mirror, a re-download) ends with no documents:
    a right result (its blocking schema check passes), the tokens downstream still build."""
    docs = [{"id": d.id, "text": d.text} for d in generate_documents("web", 150, seed=3, corpus_seed=7)
            if d.label == "clean"]
    for name, rows in (("main", docs), ("mirror", [{"id": "m" + d["id"], "text": d["text"]} for d in docs[:20]])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    cfg = small_config(sources=[{"name": n, "kind": "local", "path": str(tmp_path / n)} for n in ("main", "mirror")])
    results = run(build_definitions(cfg, root=str(tmp_path / "a")), "*packed_tokens",
                  instance=dg.DagsterInstance.ephemeral(), echo=lambda m: None)
    md = _metadata(results, "deduped_shards", "mirror")
    assert md["docs_in"] == 20 and md["docs_out"] == 0 and md["removed_as_duplicate_of_other_source"] == 20
    assert _metadata(results, "deduped_shards", "main")["docs_out"] > 0
    assert _metadata(results, "packed_tokens", None)["train_tokens"] > 0


def test_a_document_corrected_in_place_gives_the_index_a_new_data_version(tmp_path):
    """A source re-ingested with one document's text corrected (same id, no new duplicate): index.parquet is
    byte-identical, but its DataVersion must change, since deduped_shards is triggered by the index alone and
    the correction never reached it."""
    docs = [{"id": d.id, "text": d.text} for d in generate_documents("web", 120, seed=3, corpus_seed=7)
            if d.label == "clean"]
    (tmp_path / "src").mkdir()
    path = tmp_path / "src" / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in docs))
    cfg = small_config(sources=[{"name": "web", "kind": "local", "path": str(tmp_path / "src")}])
    defs, instance = build_definitions(cfg, root=str(tmp_path / "a")), dg.DagsterInstance.ephemeral()

    def index_version():
        run(defs, "key:raw_corpus or key:cleaned_shards or key:dedup_index", instance=instance, echo=lambda m: None)
        event = instance.get_latest_materialization_event(dg.AssetKey("dedup_index"))
        index_dir, _ = ArtifactStore(root=str(tmp_path / "a")).local_dir("dedup_index")
        return event.asset_materialization.tags["dagster/data_version"], (index_dir / "index.parquet").read_bytes()

    before, index_before = index_version()
    assert index_version()[0] == before  # the same documents again: nothing downstream turns stale
    docs[5]["text"] = docs[5]["text"].replace(" the ", " THE CORRECTED ", 1)
    path.write_text("\n".join(json.dumps(r) for r in docs))
    after, index_after = index_version()
    assert index_after == index_before and after != before


def test_deduped_shards_refuses_an_index_built_on_other_documents(tmp_path):
    """The index decides by position: a source re-cleaned since (same number of documents, other ones) must not
    lose the documents the index marked at those places."""
    from llm_pipeline_assets.dedup.filtering import filter_source
    from llm_pipeline_assets.shards import ShardWriter

    def shard(folder, ids):
        writer = ShardWriter(tmp_path / folder, "part", max_docs=100, max_bytes=1 << 20)
        writer.write_many({"id": i, "text": f"text of {i}", "source": "x"} for i in ids)
        writer.close()
        return shard_files(tmp_path / folder)

    index = tmp_path / "index"
    index.mkdir()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"source": ["x"] * 3, "id": ["a", "b", "c"], "position": [0, 1, 2],
                             "keep": [True, False, True], "reason": ["", "exact", ""],
                             "survivor_source": ["x"] * 3}), index / "index.parquet")
    out = filter_source("x", shard("same", ["a", "b", "c"]), index, tmp_path / "out1", 100, 1 << 20)
    assert out["docs_out"] == 2
    with pytest.raises(RuntimeError, match=r"cleaned_shards\[x\] document 1 is 'z', dedup_index has 'b' there: "
                                           r".*re-materialize dedup_index"):
        filter_source("x", shard("changed", ["a", "z", "c"]), index, tmp_path / "out2", 100, 1 << 20)
