"""Security: no remote code, no unpickling, no shell in the package source; no secret in Dagster's records;
partition keys, asset names, source names and manifests cannot point outside the artifact root."""

from __future__ import annotations

import ast
import json
import uuid
from pathlib import Path

import dagster as dg
import pytest

import llm_pipeline_assets
from llm_pipeline_assets.config import ConfigError, parse_config
from llm_pipeline_assets.resources.store import MANIFEST, ArtifactCorrupt, ArtifactStore
from llm_pipeline_tests.reliability.helpers import asset_metadata, clean_texts, jsonl, local_config, \
    materialize_corpus

PACKAGE = Path(llm_pipeline_assets.__file__).parent
UNPICKLERS = {("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("dill", "load"), ("dill", "loads"),
              ("joblib", "load"), ("cloudpickle", "load"), ("cloudpickle", "loads"), ("pd", "read_pickle"),
              ("pandas", "read_pickle"), ("yaml", "unsafe_load"), ("yaml", "full_load")}


def _dotted(node: ast.AST) -> tuple[str, ...]:
    if isinstance(node, ast.Attribute):
        return _dotted(node.value) + (node.attr,)
    return (node.id,) if isinstance(node, ast.Name) else ("?",)  # a call/subscript: not a plain name


def _is_const(node: ast.AST | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def unsafe_calls(source: str, filename: str = "<src>") -> list[str]:
    """Every call in ``source`` that could run foreign code: trust_remote_code not literally False,
    torch.load without weights_only=True, unpickling, allow_pickle=True, yaml.load, shell=True, eval/exec."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ImportFrom) and node.module in ("pickle", "dill", "cloudpickle", "torch") and any(
                a.name in ("load", "loads", "Unpickler") for a in node.names):
            found.append(f"{filename}:{node.lineno}: from {node.module} import load")
        if not isinstance(node, ast.Call):
            continue
        name, kw = _dotted(node.func), {k.arg: k.value for k in node.keywords}
        where = f"{filename}:{node.lineno}: {'.'.join(name)}"
        if "trust_remote_code" in kw and not _is_const(kw["trust_remote_code"], False):
            found.append(f"{where}(trust_remote_code=...)")
        if name[-2:] == ("torch", "load") and not _is_const(kw.get("weights_only"), True):
            found.append(f"{where} without weights_only=True")
        if name[-2:] in UNPICKLERS or (name[-1:] == ("load",) and name[-2:-1] == ("yaml",)):
            found.append(where)
        if _is_const(kw.get("allow_pickle"), True) or _is_const(kw.get("shell"), True):
            found.append(f"{where}(allow_pickle/shell=True)")
        if name in (("eval",), ("exec",)):
            found.append(where)
    return found


def test_scanner_catches_every_pattern():
    # The control for the real scan: each line is one violation the scanner must report.
    bad = ["AutoModel.from_pretrained(p, trust_remote_code=True)", "AutoTokenizer.from_pretrained(p, trust_remote_code=x)",
           "torch.load(f)", "torch.load(f, weights_only=False)", "pickle.load(fh)", "pickle.loads(b)",
           "joblib.load(p)", "np.load(p, allow_pickle=True)", "yaml.load(t)", "subprocess.run(c, shell=True)",
           "eval(s)", "from pickle import loads", "pd.read_pickle(p)"]
    good = ["AutoModel.from_pretrained(p, trust_remote_code=False)", "torch.load(f, weights_only=True)",
            "yaml.safe_load(t)", "np.load(p)", "ast.literal_eval(s)", "model.eval()", "model.to(d).eval()",
            "json.loads(s)"]
    assert len(unsafe_calls("\n".join(bad))) == len(bad)
    assert unsafe_calls("\n".join(good)) == []


def test_package_source_has_no_unsafe_calls():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 40  # the whole package is scanned, not an empty folder
    found = [hit for f in files for hit in unsafe_calls(f.read_text(encoding="utf-8"), str(f.relative_to(PACKAGE)))]
    assert found == []


def test_secrets_never_reach_dagster_records(tmp_path, monkeypatch):
    """Credentials in the environment (used for an S3 artifact root) and secrets inside the documents
    never appear in the run records, event log (metadata included) or any file of the Dagster instance."""
    pytest.importorskip("boto3")
    from llm_pipeline_tests.s3server import KEY, SECRET, rclone_s3

    hf_token = f"hf_{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("HF_TOKEN", hf_token)
    doc_key, doc_secret = "AKIA" + uuid.uuid4().hex[:16].upper(), "Zx9" + uuid.uuid4().hex + "Q/+Ab1"
    good = clean_texts(4)
    planted = f"Our deploy key is {doc_key} with aws_secret_access_key={doc_secret[:40]} in it.\n{good[0]}"
    (tmp_path / "in").mkdir()
    (tmp_path / "home").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(jsonl({"id": "d0", "text": planted},
                                                    *({"id": f"d{i}", "text": t} for i, t in enumerate(good[1:], 1))))
    with rclone_s3(tmp_path / "s3") as endpoint, dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        store = ArtifactStore(root="s3://llm/sec", s3_endpoint_url=endpoint, cache_dir=str(tmp_path / "cache"))
        result = materialize_corpus(local_config(tmp_path / "in", name="web"), None, "web", instance=instance,
                                    resources={"store": store})
        assert result.success and asset_metadata(result, "raw_corpus")["docs"] == 4
        records = [dg.serialize_value(run) for run in instance.get_runs()]
        records += [dg.serialize_value(entry) for run in instance.get_runs() for entry in instance.all_logs(run.run_id)]
        haystack = "\n".join(records)
        on_disk = b"".join(p.read_bytes() for p in (tmp_path / "home").rglob("*") if p.is_file())
    for secret in (SECRET, hf_token, doc_key, doc_secret[:40]):
        assert secret not in haystack
        assert secret.encode() not in on_disk
    # Controls: the search sees the metadata (preview table with the scrubbed document) and the instance files.
    assert "[AWS_KEY]" in haystack and good[1][:60] in haystack and b"raw_corpus" in on_disk


# ---- nothing escapes the artifact root ------------------------------------------------------------------

ESCAPES = ["../escape", "..", "a/../../b", "/etc", "a/b", "a\\b", "", ".hidden", "-flag", "web\n", "web\r",
           "\nweb", "x\x00y", "tab\there", "caf\u00e9", "\u2215etc", "x" * 129, " web"]


@pytest.mark.parametrize("bad", ESCAPES)
def test_store_rejects_unsafe_partition_keys_asset_names_and_work_keys(tmp_path, bad):
    store = ArtifactStore(root=str(tmp_path / "root"))
    for call in (lambda: store.partition_dir("raw_corpus", bad), lambda: store.partition_dir(bad, "web"),
                 lambda: store.work_dir("pretrained_checkpoint", bad)):
        with pytest.raises(ValueError, match="not a safe path segment"):
            call()
    with pytest.raises(ValueError, match="not a safe path segment"):
        with store.publish("raw_corpus", bad) as staging:
            (staging / "x").write_text("never written")
    assert [p.name for p in tmp_path.iterdir()] == []  # not even the root was created


@pytest.mark.parametrize("good", ["web", "web-2_x", "v1.2", "A0", "x" * 128])
def test_ordinary_keys_stay_under_the_root(tmp_path, good):
    store = ArtifactStore(root=str(tmp_path / "root"))
    with store.publish("raw_corpus", good) as staging:
        (staging / "part-00000.parquet").write_bytes(b"data")
    path, _ = store.local_dir("raw_corpus", good)
    assert path.resolve().is_relative_to((tmp_path / "root" / "raw_corpus" / good).resolve())


@pytest.mark.parametrize("bad", ESCAPES + ["Web", "a.b", "x" * 64])
def test_config_rejects_unsafe_source_names(bad):
    with pytest.raises(ConfigError) as err:
        parse_config({"name": "t", "sources": [{"name": bad, "kind": "synthetic"}]}, origin="p.yaml")
    assert "\n  sources[0].name: " in str(err.value) and "partition key" in str(err.value)


@pytest.mark.parametrize("field, value", [
    ("version", "../../outside"), ("version", "/etc"),
    ("files", {"../../outside.txt": {"bytes": 1, "sha256": "0"}}),
    ("files", {"/etc/passwd": {"bytes": 1, "sha256": "0"}}),
    ("files", {"sub/../../x": {"bytes": 1, "sha256": "0"}}),
])
def test_tampered_manifest_cannot_point_outside_its_version(tmp_path, field, value):
    store = ArtifactStore(root=str(tmp_path / "root"))
    with store.publish("raw_corpus", "web") as staging:
        (staging / "part-00000.parquet").write_bytes(b"data")
    manifest_path = tmp_path / "root" / "raw_corpus" / "web" / MANIFEST
    data = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**data, field: value}))
    with pytest.raises(ArtifactCorrupt, match=r"raw_corpus\[web\].*materialize raw_corpus again"):
        store.local_dir("raw_corpus", "web")


def test_truncated_manifest_is_reported_not_a_json_trace(tmp_path):
    store = ArtifactStore(root=str(tmp_path / "root"))
    with store.publish("tokenizer") as staging:
        (staging / "tokenizer.json").write_text("{}")
    manifest_path = tmp_path / "root" / "tokenizer" / "all" / MANIFEST
    manifest_path.write_text(manifest_path.read_text()[:40])
    with pytest.raises(ArtifactCorrupt, match=f"{manifest_path}: unusable manifest of tokenizer"):
        store.read_manifest("tokenizer")
