"""Bad corpus files: every bad record is quarantined with its reason and counted, every good record of the
same file comes out, in order — through the local source reader (what raw_corpus runs) and through the real
raw_corpus and cleaned_shards assets (``dg.materialize``)."""

from __future__ import annotations

import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llm_pipeline_assets.curation.normalize import normalize_text
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_assets.shards import iter_batches, shard_files
from llm_pipeline_assets.sources.ingest import ingest_source
from llm_pipeline_tests.reliability.helpers import (
    asset_metadata,
    clean_texts,
    gz,
    jsonl,
    local_config,
    materialize_corpus,
    published_texts,
    quarantine_entries,
    reason_counts,
    step_failure_messages,
    table_counts,
)

GOOD = [{"id": f"g{i}", "text": f"good document number {i}"} for i in range(4)]
TEXTS = [g["text"] for g in GOOD]


def _write(tmp_path, files: dict):
    src = tmp_path / "in"
    src.mkdir()
    for name, data in files.items():
        (src / name).write_bytes(data)
    return src


def _read(tmp_path, src, **spec):
    out = tmp_path / "out"
    stats = ingest_source(local_config(src, **spec).sources[0], out, max_docs=100, max_bytes=1 << 20)
    texts = [r["text"] for b in iter_batches(shard_files(out)) for r in b]
    entries = quarantine_entries(out)
    assert stats.docs == len(texts) and stats.quarantined_total == len(entries)  # counted = written
    assert dict(reason_counts(entries)) == stats.quarantined
    return texts, stats.quarantined, entries


def _ingest(tmp_path, files: dict, **spec):
    """Write ``files`` into a fresh folder and read it as a local source: (texts, reason counts, entries)."""
    return _read(tmp_path, _write(tmp_path, files), **spec)


@pytest.mark.parametrize("bad, reasons", [
    ([b'{"text": "unterminated', b"{not json}", b'{"text": "x"} trailing'], {"malformed_json": 3}),
    ([b"[" * 100_000], {"malformed_json": 1}),  # RecursionError in json.loads used to abort the source
    ([b'{"text": "big int", "n": ' + b"7" * 5000 + b"}"], {"malformed_json": 1}),  # int digit limit: ValueError
    ([b'{"text": "caf\xe9"}', b"\xff\xfe\x00t\x00e\x00x\x00t"], {"invalid_utf8": 1, "nul_byte": 1}),
    ([b'{"text": "\\ud800 lone surrogate"}', b'{"id": "\\udfff", "text": "fine text, bad id"}'],
     {"invalid_unicode": 2}),  # a surrogate id used to crash the Parquet shard write
    ([b'{"text": "raw NUL\x00 byte"}', b"\x00\x00\x00"], {"nul_byte": 2}),
    ([{"id": 1}, {"text": None}, {"text": 42}, {"text": ["a"]}, {"text": {"a": 1}}, {"text": True},
      "just a string", [1, 2], {"text": "  \n "}],
     {"missing_text": 2, "non_string_text": 4, "not_an_object": 2, "empty_text": 1}),
], ids=["malformed", "deep_nesting", "huge_int", "invalid_utf8", "surrogates", "nul_bytes", "missing_text"])
def test_bad_jsonl_lines_are_quarantined_between_good_ones(tmp_path, bad, reasons):
    texts, counts, entries = _ingest(tmp_path, {"a.jsonl": jsonl(GOOD[0], GOOD[1], *bad, GOOD[2], b"", GOOD[3])})
    assert texts == TEXTS and counts == reasons
    assert [e["origin"] for e in entries] == [f"a.jsonl:{3 + i}" for i in range(len(bad))]  # the exact lines


def test_escaped_nul_is_content_not_an_error(tmp_path):
    # "\u0000" is valid JSON: the record is kept (cleaning's normalizer strips control characters later).
    texts, counts, _ = _ingest(tmp_path, {"a.jsonl": jsonl({"text": "a\u0000b"}, GOOD[0])})
    assert texts == ["a\x00b", TEXTS[0]] and counts == {}


def test_a_50mb_line_is_quarantined_without_reading_it_into_memory(tmp_path):
    size = len(b'{"text": ""}') + (50 << 20)
    src = _write(tmp_path, {"a.jsonl": jsonl(GOOD[0], {"text": "a" * (50 << 20)}, GOOD[1])})
    tracemalloc.start()
    try:
        texts, counts, entries = _read(tmp_path, src)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert texts == TEXTS[:2] and counts == {"oversized_record": 1}
    assert entries[0]["origin"] == "a.jsonl:2" and f"{size} bytes" in entries[0]["reason"]
    assert len(entries[0]["raw"]) <= 2000  # the quarantine keeps a preview, not 50 MB
    assert peak < 24 << 20  # at most max_record_bytes (8 MiB) + 1 of the line was held at once


def test_max_record_bytes_applies_to_every_file_kind(tmp_path):
    long = "word " * 400  # 2000 bytes
    pq.write_table(pa.table({"text": [long, TEXTS[1]]}), tmp_path / "b.parquet")
    files = {"a.jsonl": jsonl({"text": long}, GOOD[0]), "b.parquet": (tmp_path / "b.parquet").read_bytes(),
             "c.txt": long.encode(), "d.txt": TEXTS[2].encode()}
    texts, counts, _ = _ingest(tmp_path, files, max_record_bytes=1024)
    assert texts == TEXTS[:3] and counts == {"oversized_record": 3}


@pytest.mark.parametrize("name, data", [
    ("a.jsonl", b""), ("a.jsonl", b"\n  \n\t\n"), ("a.txt", b""), ("a.txt", b" \n "),
    ("a.jsonl.gz", gz(b"")), ("a.jsonl.gz", b""),
])
def test_empty_files_are_counted(tmp_path, name, data):
    texts, counts, entries = _ingest(tmp_path, {name: data, "z.jsonl": jsonl(*GOOD)})
    assert texts == TEXTS and counts == {"empty_file": 1} and entries[0]["origin"] == name


def test_truncated_gzip_keeps_the_records_before_the_damage(tmp_path):
    records = [{"id": f"t{i}", "text": f"record {i} " + "x" * 300} for i in range(200)]
    whole = gz(jsonl(*records))
    crc_broken = whole[:-8] + bytes(8)  # all data intact, trailer (CRC, size) wrong
    files = {"a.jsonl.gz": whole[: len(whole) // 2], "b.jsonl.gz": crc_broken, "c.jsonl.gz": b"not gzip at all",
             "d.jsonl": jsonl(*GOOD)}
    texts, counts, entries = _ingest(tmp_path, files)
    assert counts == {"truncated_or_corrupt_file": 3}
    assert [e["origin"] for e in entries] == ["a.jsonl.gz", "b.jsonl.gz", "c.jsonl.gz"]
    kept_a = len(texts) - len(records) - len(GOOD)  # b's records all decompress before the trailer check
    assert 0 < kept_a < len(records)
    assert texts == [r["text"] for r in records[:kept_a]] + [r["text"] for r in records] + TEXTS


def test_parquet_with_the_wrong_schema_or_damage(tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    pq.write_table(pa.table({"body": ["no text column"]}), d / "a.parquet")
    pq.write_table(pa.table({"text": [1, 2]}), d / "b.parquet")
    pq.write_table(pa.table({"text": pa.array([TEXTS[0], None, TEXTS[1]]).dictionary_encode()}), d / "c.parquet")
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), d / "d.parquet")
    rows = [f"row {i} " * 30 for i in range(1500)]
    pq.write_table(pa.table({"text": rows}), d / "e.parquet", row_group_size=500, compression="none")
    # Overwrite the middle row group's data pages: its rows are lost, the other two groups are kept.
    middle = pq.ParquetFile(d / "e.parquet").metadata.row_group(1).column(0)
    damaged = bytearray((d / "e.parquet").read_bytes())
    damaged[middle.data_page_offset: middle.data_page_offset + 64] = b"\xff" * 64
    files = {p.name: p.read_bytes() for p in sorted(d.iterdir())}
    files["e.parquet"], files["f.parquet"] = bytes(damaged), b"PAR1 garbage"
    texts, counts, entries = _ingest(tmp_path, files)
    assert counts == {"wrong_schema": 2, "missing_text": 1, "empty_file": 1, "corrupt_row_group": 1,
                      "unreadable_parquet": 1}
    assert texts == TEXTS[:2] + rows[:500] + rows[1000:]
    lost = next(e for e in entries if e["reason"].startswith("corrupt_row_group"))
    assert lost["rows_lost"] == 500 and "rows 501-1000" in lost["reason"]


# ---- the same faults through Dagster ----------------------------------------------------------------

EXPECTED_REASONS = {"malformed_json": 3, "invalid_utf8": 1, "nul_byte": 2, "invalid_unicode": 1,
                    "non_string_text": 1, "missing_text": 2, "not_an_object": 1, "empty_text": 1,
                    "oversized_record": 1, "empty_file": 2, "truncated_or_corrupt_file": 1, "wrong_schema": 1}


def _bad_corpus(d, good: list[str]) -> list[str]:
    """Write every kind of bad input around ``good`` documents; return the good texts in reading order."""
    d.mkdir()
    (d / "a.jsonl").write_bytes(jsonl(
        {"id": "a0", "text": good[0]}, b'{"text": "unterminated', b"[" * 50_000, b'{"n": ' + b"9" * 5000 + b"}",
        b'{"text": "caf\xe9"}', b'{"text": "raw\x00nul"}', b'{"text": "\\ud800"}', {"text": 7}, {"body": "x"},
        ["not", "an", "object"], {"text": "   "}, {"id": "a1", "text": good[1]}))
    (d / "b.jsonl").write_bytes(jsonl({"id": "b0", "text": good[2]}, {"text": "x" * (50 << 20)},
                                      {"id": "b1", "text": good[3]}))  # one 50 MB line
    (d / "c.jsonl").write_bytes(b"\n \n")
    (d / "d.jsonl.gz").write_bytes(gz(jsonl({"id": "d0", "text": good[4]}))[:-8] + bytes(8))  # bad CRC trailer
    pq.write_table(pa.table({"id": ["e0", "e1"], "text": [good[5], None]}), d / "e.parquet")
    pq.write_table(pa.table({"id": ["f0"], "content": [good[6]]}), d / "f.parquet")  # no text column
    (d / "g.txt").write_bytes(b"")
    (d / "h.txt").write_bytes(good[7].encode())
    (d / "i.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00 binary")
    return good[:6] + [good[7]]


def test_bad_corpus_files_through_raw_corpus_and_cleaned_shards(tmp_path):
    good = clean_texts(8)
    expected = _bad_corpus(tmp_path / "in", good)
    cfg = local_config(tmp_path / "in", name="messy")
    result = materialize_corpus(cfg, tmp_path / "artifacts", "messy")
    assert result.success

    raw = asset_metadata(result, "raw_corpus")
    assert raw["docs"] == len(expected) and raw["quarantined"] == sum(EXPECTED_REASONS.values())
    assert table_counts(raw["quarantine_reasons"]) == EXPECTED_REASONS
    store = ArtifactStore(root=str(tmp_path / "artifacts"))
    assert published_texts(store, "raw_corpus", "messy") == expected  # every good document, in order
    raw_dir, _ = store.local_dir("raw_corpus", "messy")
    entries = quarantine_entries(raw_dir)  # the quarantine is published with the shards
    assert reason_counts(entries) == EXPECTED_REASONS and all(e["origin"] for e in entries)
    assert {e["origin"] for e in entries if e["reason"].startswith("empty_file")} == {"c.jsonl", "g.txt"}

    cleaned = asset_metadata(result, "cleaned_shards")
    assert cleaned["docs_in"] == len(expected)  # nothing lost between the two assets
    assert cleaned["docs_out"] + sum(table_counts(cleaned["rejection_reasons"]).values()) == cleaned["docs_in"]
    out = published_texts(store, "cleaned_shards", "messy")
    # Clean prose passes every filter; only whitespace changes (normalization and blank-line folding).
    assert [" ".join(normalize_text(t).split()) for t in expected] == [" ".join(t.split()) for t in out]
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)


def test_a_source_with_only_bad_records_fails_and_names_the_quarantine(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(jsonl({"text": 1}, b"{oops"))
    result = materialize_corpus(local_config(tmp_path / "in", name="bad"), tmp_path / "artifacts", "bad")
    assert not result.success
    failure = "\n".join(step_failure_messages(result))
    assert "sources[0]" in failure and "produced no documents" in failure
    # The staging folder is rolled back, so the message itself quotes the rejected records.
    assert "a.jsonl:1: non_string_text" in failure and "a.jsonl:2: malformed_json" in failure
    assert not ArtifactStore(root=str(tmp_path / "artifacts")).has("raw_corpus", "bad")  # nothing published
