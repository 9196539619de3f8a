import gzip
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
    # the second failure came after more rows were read: a new failure with a new budget, not the 2nd in a row
    assert sleeps == [1.5, 1.5] and calls["n"] == 3


def test_gives_up_after_retries(tmp_path):
    def broken(spec):
        raise ConnectionError("no route to host")

    spec = _hf_spec("x/y", retries=2)
    with pytest.raises(SourceError, match="failed 3 times in a row"):
        list(iter_hf_records(spec, Quarantine(tmp_path / "q.jsonl"), "sources[0]", log=lambda m: None,
                             opener=broken, sleep=lambda s: None))


def test_max_samples_counts_documents_as_for_a_local_source(tmp_path):
    """A Hugging Face source capped rows read (quarantined ones too), a local one documents: the same data and
    setting gave 3 documents from one and 5 from the other."""
    rows = [{"id": str(i), "text": f"document {i}" if i % 2 == 0 else ""} for i in range(20)]
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "local.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    hub = ingest_source(_hf_spec(tmp_path / "ds", max_samples=5), tmp_path / "o1", 100, 1 << 20)
    local_spec = parse_config({"name": "t", "sources": [{"name": "l", "kind": "local", "max_samples": 5,
                                                         "path": str(tmp_path / "local.jsonl")}]}).sources[0]
    local = ingest_source(local_spec, tmp_path / "o2", 100, 1 << 20)
    assert hub.docs == local.docs == 5


def test_a_single_local_file_and_bad_data_name_the_source(tmp_path):
    """`dataset: /path/x.jsonl` failed with "Couldn't find any data file"; a malformed line with streaming off was a
    bare DatasetGenerationError naming neither the key nor the file, and was retried like a network error."""
    good = tmp_path / "x.jsonl"
    good.write_text("\n".join(json.dumps({"id": str(i), "text": f"document {i}"}) for i in range(7)))
    stats = ingest_source(_hf_spec(good, streaming=False), tmp_path / "o1", 100, 1 << 20)
    assert stats.docs == 7
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jsonl").write_text('{"id": 1, "text": "fine"}\n')
    (bad / "b.jsonl").write_text('{"id": "x", "text": "fine"}\n{"id": "y", "text": \n')
    slept = []
    spec = _hf_spec(bad, streaming=False, retries=3)
    with pytest.raises(SourceError, match=r"sources\[4\]: cannot load Hugging Face dataset .*bad") as failure:
        list(iter_hf_records(spec, Quarantine(tmp_path / "q.jsonl"), "sources[4]", log=lambda m: None,
                             sleep=slept.append))
    assert slept == []  # the data is wrong: no retry
    # a local path: the hint is kind: local (which quarantines the line), not the offline mode
    assert "kind: local" in str(failure.value) and "HF_HUB_OFFLINE" not in str(failure.value)
    packed = tmp_path / "x.jsonl.gz"  # "Couldn't find any data file" although it exists: the suffix is .gz
    packed.write_bytes(gzip.compress(good.read_bytes()))
    assert ingest_source(_hf_spec(packed, streaming=True), tmp_path / "o2", 100, 1 << 20).docs == 7


def test_offline_mode_is_not_retried(tmp_path):
    slept = []
    spec = _hf_spec("some-org/not-cached-anywhere", retries=3, backoff_seconds=5)
    with pytest.raises(SourceError, match="HF_HUB_OFFLINE=1"):
        list(iter_hf_records(spec, Quarantine(tmp_path / "q.jsonl"), "sources[0]", log=lambda m: None,
                             sleep=slept.append))
    assert slept == []  # it waited 5 + 10 + 20 s before saying so


def test_a_stream_that_keeps_reading_gets_a_new_retry_budget_each_time(tmp_path):
    """retries was a budget for the whole stream: four clean recoveries of a long stream failed it."""
    opened = {"n": 0}

    def resets_every_1000(spec):
        opened["n"] += 1
        breaks_at = opened["n"] * 1000  # each connection drops 1,000 rows further on

        def rows():
            for i in range(5000):
                if i == breaks_at:
                    raise ConnectionError("connection reset")
                yield {"id": str(i), "text": f"t{i}"}
        return rows()

    spec = _hf_spec("x/y", retries=1)
    out = list(iter_hf_records(spec, Quarantine(tmp_path / "q.jsonl"), "sources[0]", log=lambda m: None,
                               opener=resets_every_1000, sleep=lambda s: None))
    assert [r["id"] for r in out] == [str(i) for i in range(5000)] and opened["n"] == 5  # 4 resets, 1 retry each
