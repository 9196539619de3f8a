"""Remote sources ({kind: remote}): a corpus in S3 (a real S3-compatible server on loopback, rclone) or at an http(s)
URL (Python's http.server on loopback), read by the same readers as local files, through raw_corpus."""

from __future__ import annotations

import gzip
import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llm_pipeline_assets.config import ConfigError, parse_config
from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_assets.materialize import run
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_assets.shards import QUARANTINE_FILE, iter_batches, shard_files
from llm_pipeline_assets.sources.ingest import ingest_source
from llm_pipeline_assets.sources.local_files import SourceError
from llm_pipeline_tests.conftest import small_config
from llm_pipeline_tests.s3server import s3_environment


def _remote_spec(url, **kw):
    src = {"name": "remote", "kind": "remote", "url": url, "backoff_seconds": 0, **kw}
    return parse_config({"name": "t", "sources": [src]}).sources[0]


def _docs(out):
    return {r["id"]: r["text"] for b in iter_batches(shard_files(out)) for r in b}


@pytest.fixture
def s3(tmp_path, monkeypatch):
    with s3_environment(tmp_path, monkeypatch) as (server, client):
        yield server, client


def _corpus_in_s3(client):
    rows = [{"id": f"d{i}", "text": f"remote document number {i}"} for i in range(5)]
    client.put_object(Bucket="llm", Key="corpus/2026/a.jsonl", Body="\n".join(json.dumps(r) for r in rows[:2]))
    client.put_object(Bucket="llm", Key="corpus/2026/sub dir/b.jsonl.gz",
                      Body=gzip.compress(b"\n".join(json.dumps(r).encode() for r in rows[2:4]) + b"\n{broken"))
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": ["d4"], "text": [rows[4]["text"]]}), sink)
    client.put_object(Bucket="llm", Key="corpus/2026/c.parquet", Body=sink.getvalue().to_pybytes())
    client.put_object(Bucket="llm", Key="corpus/2026/README.md", Body=b"# not a corpus file")
    client.put_object(Bucket="llm", Key="other/x.jsonl", Body=json.dumps({"id": "no", "text": "not this"}))
    return rows


def test_a_corpus_under_an_s3_prefix_is_read_like_a_local_folder(s3, tmp_path):
    _, client = s3
    rows = _corpus_in_s3(client)
    stats = ingest_source(_remote_spec("s3://llm/corpus/2026/"), tmp_path / "out", 100, 1 << 20, key="sources[0]")
    assert _docs(tmp_path / "out") == {r["id"]: r["text"] for r in rows}  # nothing from other/, gz and parquet read
    reasons = {k.split(":")[0]: v for k, v in stats.quarantined.items()}
    assert reasons == {"malformed_json": 1, "unsupported_file": 1}  # the cut-off gz line, README.md
    quarantine = [json.loads(line) for line in (tmp_path / "out" / QUARANTINE_FILE).read_text().splitlines()]
    assert {q["origin"].split(":")[0] for q in quarantine} >= {"README.md"}  # named relative to the prefix
    globbed = ingest_source(_remote_spec("s3://llm/corpus/*/*.jsonl"), tmp_path / "g", 100, 1 << 20)
    assert globbed.docs == 2


def test_remote_sources_through_raw_corpus_and_their_errors(s3, tmp_path):
    _, client = s3
    rows = _corpus_in_s3(client)
    cfg = small_config(sources=[{"name": "bucket", "kind": "remote", "url": "s3://llm/corpus/2026/"}])
    root = tmp_path / "artifacts"
    results = run(build_definitions(cfg, root=str(root)), "key:raw_corpus", instance=dg.DagsterInstance.ephemeral(),
                  echo=lambda m: None)
    assert all(r.success for r in results)
    out, _ = ArtifactStore(root=str(root)).local_dir("raw_corpus", "bucket")
    assert sorted(_docs(out)) == sorted(r["id"] for r in rows)
    with pytest.raises(SourceError, match=r"sources\[0\]\.url: 's3://llm/nothing/' matches no object"):
        ingest_source(_remote_spec("s3://llm/nothing/"), tmp_path / "o", 100, 1 << 20, key="sources[0]")
    with pytest.raises(SourceError, match=r"sources\[0\]\.url: cannot (list|fetch) 's3://missing-bucket/x/"):
        ingest_source(_remote_spec("s3://missing-bucket/x/"), tmp_path / "o2", 100, 1 << 20, key="sources[0]")
    with pytest.raises(ConfigError, match=r"sources\[0\]\.url: .*must start with s3://, http:// or https://"):
        small_config(sources=[{"name": "x", "kind": "remote", "url": "/data/corpus"}])
    with pytest.raises(ConfigError, match=r"sources\[0\]\.path: .*is a URL: .*use kind: remote"):
        small_config(sources=[{"name": "x", "kind": "local", "path": "s3://llm/corpus/"}])


class _FlakyHandler(SimpleHTTPRequestHandler):
    """Serves a folder; with ``flaky`` the first GET of each file fails: "busy" answers 503, "cut" sends half the
    body under the whole Content-Length and closes (a connection dropped mid-transfer)."""

    failed: set = set()
    flaky = ""

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.flaky and self.path not in self.failed:
            self.failed.add(self.path)
            if self.flaky == "busy":
                self.send_error(503, "busy")
                return
            body = Path(self.translate_path(self.path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_folder(tmp_path):
    folder = tmp_path / "www"
    folder.mkdir()
    handler = type("Handler", (_FlakyHandler,), {"failed": set(), "flaky": ""})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_file_at_a_url_with_retries_on_a_busy_server(http_folder, tmp_path):
    folder, base, handler = http_folder
    rows = [{"id": f"u{i}", "text": f"a document served over http {i}"} for i in range(3)]
    (folder / "data.jsonl.gz").write_bytes(gzip.compress("\n".join(json.dumps(r) for r in rows).encode()))
    handler.flaky = "busy"  # every file's first request: 503
    logs = []
    stats = ingest_source(_remote_spec(f"{base}/data.jsonl.gz", retries=2), tmp_path / "out", 100, 1 << 20,
                          log=logs.append)
    assert stats.docs == 3 and _docs(tmp_path / "out") == {r["id"]: r["text"] for r in rows}
    assert any("retry 1/2" in m for m in logs)
    handler.flaky = ""
    with pytest.raises(SourceError, match=r"sources\[1\]\.url: cannot fetch '.*/gone.jsonl': HTTPError: HTTP Error "
                                          r"404"):  # at once: a missing file is not retried
        ingest_source(_remote_spec(f"{base}/gone.jsonl"), tmp_path / "o", 100, 1 << 20, key="sources[1]")


def test_a_cut_transfer_is_fetched_again_and_ids_leave_the_query_out(http_folder, tmp_path):
    """A presigned URL's query (credentials, signature) stayed in every document id; a body cut short
    (IncompleteRead) was not retried."""
    folder, base, handler = http_folder
    (folder / "data.jsonl").write_text("\n".join(json.dumps({"text": f"line {i} of a served file"}) for i in range(4)))
    handler.flaky = "cut"
    url = f"{base}/data.jsonl?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=deadbeef"
    logs = []
    stats = ingest_source(_remote_spec(url, id_field=None, retries=1), tmp_path / "out", 100, 1 << 20,
                          log=logs.append)
    ids = sorted(_docs(tmp_path / "out"))
    assert stats.docs == 4 and all(i.startswith("data.jsonl:") and "Amz" not in i for i in ids), ids
    # ... nor in the retry's log line or a failure's message (both reach the Dagster event log)
    assert any("retry 1/1" in m for m in logs) and not any("deadbeef" in m or "AKIA" in m for m in logs), logs
    handler.flaky = ""
    with pytest.raises(SourceError, match=r"cannot fetch '.*/gone.jsonl\?<query hidden>': HTTPError") as failure:
        ingest_source(_remote_spec(f"{base}/gone.jsonl?X-Amz-Signature=deadbeef"), tmp_path / "o", 100, 1 << 20)
    assert "deadbeef" not in str(failure.value)


def test_s3_keys_are_literal_names(s3, tmp_path):
    """An S3 key may hold '?', '#' and '%': they were read as a URL's query / fragment / escapes, so 'part#1.jsonl'
    was set aside as an unsupported file and 'a%2F..%2Fb.jsonl' failed the source (unquoted into a path)."""
    _, client = s3
    keys = ["odd/plain.jsonl", "odd/part#1.jsonl", "odd/what?.jsonl", "odd/a%2F..%2Fb.jsonl"]
    for i, key in enumerate(keys):
        client.put_object(Bucket="llm", Key=key, Body=json.dumps({"id": f"k{i}", "text": f"document in {key}"}))
    stats = ingest_source(_remote_spec("s3://llm/odd/"), tmp_path / "out", 100, 1 << 20, key="sources[0]")
    assert _docs(tmp_path / "out") == {f"k{i}": f"document in {key}" for i, key in enumerate(keys)}
    assert stats.quarantined == {}
