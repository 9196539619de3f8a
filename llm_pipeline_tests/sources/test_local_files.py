import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llm_pipeline_assets.config import parse_config
from llm_pipeline_assets.shards import QUARANTINE_FILE, count_rows, iter_batches, shard_files
from llm_pipeline_assets.sources.ingest import ingest_source, keep_by_weight
from llm_pipeline_assets.sources.local_files import SourceError


def _local_spec(path, **kw):
    src = {"name": "files", "kind": "local", "path": str(path), **kw}
    return parse_config({"name": "t", "sources": [src]}).sources[0]


def _write_messy_corpus(d):
    good = [{"id": f"g{i}", "text": f"good document number {i}"} for i in range(6)]
    lines = [json.dumps(good[0]).encode(), b"{not json", json.dumps(good[1]).encode(),
             b'{"id": "bad-utf8", "text": "caf\xe9"}', json.dumps({"id": "nontext", "text": 42}).encode(),
             json.dumps({"id": "notext"}).encode(), json.dumps(["a", "list"]).encode(),
             json.dumps({"id": "empty", "text": "   "}).encode(), json.dumps(good[2]).encode()]
    (d / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (d / "b.jsonl").write_bytes(b"")
    with gzip.open(d / "c.jsonl.gz", "wb") as fh:
        fh.write(b"\n".join(json.dumps(r).encode() for r in good[3:5]) + b"\n")
    whole = gzip.compress(b"\n".join(json.dumps({"id": f"t{i}", "text": "x" * 300 + str(i)}).encode()
                                     for i in range(50)))
    (d / "d.jsonl.gz").write_bytes(whole[: len(whole) // 2])  # truncated .gz
    pq.write_table(pa.table({"id": ["p1", "p2"], "text": [good[5]["text"], None]}), d / "e.parquet")
    pq.write_table(pa.table({"body": ["wrong schema"]}), d / "f.parquet")
    (d / "g.txt").write_text("A plain text file is one document.\nSecond line.", encoding="utf-8")
    (d / "h.txt").write_bytes(b"\xff\xfe broken")
    return {r["id"] for r in good[:5]} | {"p1", "g.txt"}


def test_bad_records_quarantined_good_ones_kept(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    expected_ids = _write_messy_corpus(src)
    out = tmp_path / "out"
    stats = ingest_source(_local_spec(src), out, max_docs=3, max_bytes=1 << 20)
    rows = [r for b in iter_batches(shard_files(out)) for r in b]
    ids = {r["id"] for r in rows}
    assert expected_ids <= ids  # no good record lost
    assert all(r["source"] == "files" for r in rows)
    assert len(shard_files(out)) == stats.shards >= 3  # bounded shard size
    q = [json.loads(line) for line in (out / QUARANTINE_FILE).read_text().splitlines()]
    reasons = {e["reason"].split(":")[0] for e in q}
    assert {"malformed_json", "invalid_utf8", "non_string_text", "missing_text", "not_an_object", "empty_text",
            "empty_file", "truncated_or_corrupt_file", "wrong_schema"} <= reasons
    assert stats.quarantined_total == len(q)
    # Records of the truncated gzip read before the damage are kept, not silently dropped.
    assert any(i.startswith("t") for i in ids)


def test_ids_come_from_input_or_position(tmp_path):
    (tmp_path / "x.jsonl").write_text(json.dumps({"text": "no id here"}) + "\n" + json.dumps({"key": 7, "text": "k"}))
    out = tmp_path / "o"
    ingest_source(_local_spec(tmp_path / "x.jsonl", id_field="key"), out, 10, 1 << 20)
    ids = [r["id"] for b in iter_batches(shard_files(out)) for r in b]
    assert ids == ["x.jsonl:1", "7"]


def test_missing_path_fails_fast_naming_key(tmp_path):
    with pytest.raises(SourceError, match=r"sources\[3\]\.path: .*matches no readable file"):
        ingest_source(_local_spec(tmp_path / "nope" / "*.jsonl"), tmp_path / "o", 10, 1 << 20, key="sources[3]")


def test_a_named_file_of_another_format_is_refused_naming_it(tmp_path):
    """An explicitly named .csv was read as JSON lines: every line quarantined as malformed JSON, then "no
    documents". A file without a suffix is still read as JSON lines."""
    (tmp_path / "corpus.csv").write_text("id,text\n1,hello world\n")
    with pytest.raises(SourceError, match=r"sources\[0\]\.path: .*corpus.csv' is a .csv file, which a local source "
                                          r"does not read .*kind: huggingface"):
        ingest_source(_local_spec(tmp_path / "corpus.csv"), tmp_path / "o", 10, 1 << 20, key="sources[0]")
    (tmp_path / "export").write_text(json.dumps({"id": "a", "text": "a document"}) + "\n")
    assert ingest_source(_local_spec(tmp_path / "export"), tmp_path / "o2", 10, 1 << 20).docs == 1


def test_weight_and_max_samples_are_deterministic(tmp_path):
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps({"id": str(i), "text": f"doc {i}"}) for i in range(400)))
    spec = _local_spec(tmp_path / "in.jsonl", weight=0.25, max_samples=300)
    a = ingest_source(spec, tmp_path / "a", 1000, 1 << 20)
    b = ingest_source(spec, tmp_path / "b", 1000, 1 << 20)
    assert a.docs == b.docs and 50 < a.docs < 100 and a.docs + a.sampled_out == 300
    assert count_rows(shard_files(tmp_path / "a")) == a.docs
    assert sum(keep_by_weight(i, 0.5, 1) for i in range(10_000)) in range(4800, 5200)


def test_published_corpus_layouts_are_read_and_nothing_is_skipped_unseen(tmp_path):
    """.jsonl.zst (how big corpora ship), upper-case suffixes, a BOM, .json arrays, .txt.gz; others listed."""
    import hashlib

    import zstandard

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    lines = [json.dumps({"id": f"z{i}", "text": f"zstd document {i}"}) for i in range(300)]
    frames = [zstandard.ZstdCompressor().compress(("\n".join(lines[k:k + 100]) + "\n").encode())
              for k in (0, 100, 200)]  # three frames, as multi-part writers produce
    (src / "part-0.jsonl.zst").write_bytes(b"".join(frames))
    noise = [hashlib.sha256(str(i).encode()).hexdigest() * 3 for i in range(3000)]  # several zstd blocks
    cut = zstandard.ZstdCompressor().compress(
        ("\n".join(json.dumps({"id": f"c{i}", "text": t}) for i, t in enumerate(noise)) + "\n").encode())
    (src / "part-1.jsonl.zst").write_bytes(cut[: len(cut) * 2 // 3])  # a download cut short
    (src / "UPPER.JSONL").write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "bom", "text": "first line"}).encode())
    (src / "sub" / "array.json").write_text(json.dumps([{"id": "a0", "text": "one"}, {"id": "a1", "text": "two"}],
                                                       indent=2))
    (src / "notes.txt.gz").write_bytes(gzip.compress("a gzipped text file".encode()))
    (src / "table.csv").write_text("id,text\n1,hello\n")
    (src / "README.md").write_text("# about")
    (src / ".hidden.jsonl").write_text(json.dumps({"id": "hidden", "text": "x"}))
    out = tmp_path / "out"
    stats = ingest_source(_local_spec(src), out, max_docs=1000, max_bytes=1 << 22)
    ids = {r["id"] for b in iter_batches(shard_files(out)) for r in b}
    assert {f"z{i}" for i in range(300)} <= ids and {"bom", "a0", "a1", "notes.txt.gz"} <= ids
    assert any(i.startswith("c") for i in ids) and "hidden" not in ids
    q = [json.loads(line) for line in (out / QUARANTINE_FILE).read_text().splitlines()]
    by_reason = {(e["reason"].split(":")[0], e["origin"]) for e in q}
    assert {("unsupported_file", "table.csv"), ("unsupported_file", "README.md"),
            ("truncated_or_corrupt_file", "part-1.jsonl.zst")} == by_reason
    assert stats.quarantined_total == 3


def test_parquet_without_the_text_column_counts_its_rows_as_lost(tmp_path):
    pq.write_table(pa.table({"content": [f"row {i}" for i in range(40)]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"text": ["kept"]}), tmp_path / "b.parquet")
    out = tmp_path / "out"
    ingest_source(_local_spec(tmp_path), out, max_docs=100, max_bytes=1 << 20)
    (entry,) = [json.loads(line) for line in (out / QUARANTINE_FILE).read_text().splitlines()]
    assert entry["reason"].startswith("wrong_schema: no column 'text'") and "content" in entry["reason"]
    assert entry["rows_lost"] == 40


def test_pretty_printed_json_objects_string_view_parquet_and_files_of_one_name_in_two_folders(tmp_path):
    """A .json file holding one indented object is a record (it was quarantined line by line); a Parquet text column
    stored as string_view is read; under a ``**`` glob, ``a/x.txt`` and ``b/x.txt`` keep different ids; a null text
    says it is null."""
    src = tmp_path / "in"
    for sub in ("a", "b"):
        (src / sub).mkdir(parents=True)
        (src / sub / "x.txt").write_text(f"text in folder {sub}")
    (src / "a" / "one.json").write_text(json.dumps({"id": "one", "text": "an indented object"}, indent=2))
    (src / "a" / "lines.json").write_text(json.dumps({"id": "l1", "text": "first"}) + "\n"
                                          + json.dumps({"id": "l2", "text": "second"}))  # JSON lines named .json
    table = pa.table({"id": ["v1", "v2"], "text": pa.array(["viewed text", None], pa.string_view())})
    pq.write_table(table, src / "b" / "view.parquet")
    out = tmp_path / "out"
    ingest_source(_local_spec(f"{src}/**/*"), out, max_docs=100, max_bytes=1 << 20)
    docs = {r["id"]: r["text"] for b in iter_batches(shard_files(out)) for r in b}
    assert docs == {"a/x.txt": "text in folder a", "b/x.txt": "text in folder b", "one": "an indented object",
                    "l1": "first", "l2": "second", "v1": "viewed text"}
    (entry,) = [json.loads(line) for line in (out / QUARANTINE_FILE).read_text().splitlines()]
    assert entry["reason"] == "missing_text: null value of 'text'" and entry["origin"] == "b/view.parquet:2"
