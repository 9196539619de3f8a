import json

import pytest

from llm_pipeline_assets.config import parse_config
from llm_pipeline_assets.shards import Quarantine, iter_batches, shard_files
from llm_pipeline_assets.sources.huggingface import iter_hf_records
from llm_pipeline_assets.sources.ingest import ingest_source
from llm_pipeline_assets.sources.local_files import SourceError


def _hf_spec(dataset, **kw):
    src = {"name": "hub", "kind": "huggingface", "dataset": str(dataset), "backoff_seconds": 0, **kw}
    return parse_config({"name": "t", "sources": [src]}).sources[0]


def test_loads_local_dataset_dir_with_datasets_streaming(tmp_path):
    d = tmp_path / "ds"
    d.mkdir()
    rows = [{"id": f"r{i}", "text": f"row number {i}"} for i in range(30)] + [{"id": "bad", "text": None}]
    (d / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    stats = ingest_source(_hf_spec(d, max_samples=20), tmp_path / "out", 100, 1 << 20)
    got = [r["id"] for b in iter_batches(shard_files(tmp_path / "out")) for r in b]
    assert got == [f"r{i}" for i in range(20)] and stats.docs == 20


def test_wrong_text_field_fails_before_reading_naming_the_key_and_columns(tmp_path):
    """Not after streaming every row of a large dataset into the quarantine."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tmp_path / "ds" / "data"
    d.mkdir(parents=True)
    pq.write_table(pa.table({"id": [str(i) for i in range(5000)], "content": ["a document"] * 5000}),
                   d / "train-00000.parquet")
    with pytest.raises(SourceError, match=r"sources\[1\]\.text_field: 'text' is not a column of .*'content'"):
        ingest_source(_hf_spec(tmp_path / "ds"), tmp_path / "o", 100, 1 << 20, key="sources[1]")
    quarantine = tmp_path / "o" / "quarantine.jsonl"
    assert not quarantine.exists() or not quarantine.read_text()


def test_offline_unknown_dataset_fails_clearly(tmp_path):
    with pytest.raises(SourceError) as err:
        ingest_source(_hf_spec("some-org/not-cached-anywhere", retries=0), tmp_path / "o", 10, 1 << 20,
                      key="sources[2]")
    msg = str(err.value)
    assert "sources[2]" in msg and "some-org/not-cached-anywhere" in msg and "HF_HUB_OFFLINE=1" in msg


def test_transient_errors_retry_and_resume_without_duplicates(tmp_path):
    calls = {"n": 0}
    data = [{"id": str(i), "text": f"t{i}"} for i in range(10)]

    def flaky_opener(spec):
        calls["n"] += 1
        attempt = calls["n"]

        def gen():
            for i, row in enumerate(data):
                if attempt < 3 and i == 4 * attempt:
                    raise ConnectionError("connection reset by peer")
                yield row
        return gen()

    sleeps = []
    spec = _hf_spec("x/y", retries=3, backoff_seconds=1.5)
    q = Quarantine(tmp_path / "q.jsonl")
    out = list(iter_hf_records(spec, q, "sources[0]", log=lambda m: None, opener=flaky_opener, sleep=sleeps.append))
    assert [r["id"] for r in out] == [str(i) for i in range(10)]
    assert sleeps == [1.5, 3.0] and calls["n"] == 3


def test_gives_up_after_retries(tmp_path):
    def broken(spec):
        raise ConnectionError("no route to host")

    spec = _hf_spec("x/y", retries=2)
    with pytest.raises(SourceError, match="failed after 3 attempts"):
        list(iter_hf_records(spec, Quarantine(tmp_path / "q.jsonl"), "sources[0]", log=lambda m: None,
                             opener=broken, sleep=lambda s: None))
