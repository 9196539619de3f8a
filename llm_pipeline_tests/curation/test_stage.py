"""clean_shards: the library function behind cleaned_shards, on real synthetic shards."""

import pyarrow.parquet as pq

from llm_pipeline_assets.config import CleaningConfig
from llm_pipeline_assets.curation.stage import clean_shards
from llm_pipeline_assets.shards import ShardWriter, iter_batches, shard_files
from llm_pipeline_assets.sources.synthetic import generate_documents


def _raw_shards(tmp_path, n=300):
    w = ShardWriter(tmp_path / "raw", "part", max_docs=100)
    docs = list(generate_documents("web", n, seed=5))
    w.write_many({"id": d.id, "text": d.text, "source": "web"} for d in docs)
    return w.close(), {d.id: d for d in docs}


def test_funnel_rejects_and_determinism_across_workers(tmp_path):
    files, truth = _raw_shards(tmp_path)
    one = clean_shards(files, tmp_path / "w1", CleaningConfig(workers=1), 100, 1 << 20, log=lambda m: None)
    two = clean_shards(files, tmp_path / "w2", CleaningConfig(workers=2), 100, 1 << 20, log=lambda m: None)
    assert one.funnel == two.funnel and one.reasons == two.reasons and one.pii == two.pii
    names1 = [p.name for p in shard_files(tmp_path / "w1")]
    assert names1 == [p.name for p in shard_files(tmp_path / "w2")]
    for a, b in zip(shard_files(tmp_path / "w1"), shard_files(tmp_path / "w2")):
        assert pq.read_table(a).equals(pq.read_table(b))

    steps = list(one.funnel)
    assert steps == ["normalize", "pii", "language", "gopher_quality", "gopher_repetition", "fineweb_quality",
                     "c4_quality", "toxicity"]
    for prev, nxt in zip(steps, steps[1:]):  # each step's input is the previous step's output
        assert one.funnel[prev]["out"] == one.funnel[nxt]["in"]
    assert one.docs_in == 300 and one.docs_out == one.funnel["toxicity"]["out"]

    # every removal is kept, with its reason, and accounted for exactly once
    rejected = [r for p in (tmp_path / "w1" / "rejected").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    assert len(rejected) == one.docs_in - one.docs_out == sum(one.reasons.values())
    assert all(r["reason"] for r in rejected)
    kept_ids = {r["id"] for b in iter_batches(shard_files(tmp_path / "w1")) for r in b}
    assert kept_ids.isdisjoint(r["id"] for r in rejected)
    assert kept_ids | {r["id"] for r in rejected} == set(truth)
    # PII is replaced, never dropped: the planted documents survive with placeholders
    assert sum(one.pii.values()) > 0 and one.funnel["pii"]["in"] == one.funnel["pii"]["out"]
    assert all("@" not in r["text"] for r in rejected if truth[r["id"]].label == "pii")


def test_kept_documents_keep_their_paragraphs_and_what_they_say(tmp_path):
    """C4's line rules drop short lines and citations, but the paragraph breaks between the kept lines stay (C4
    joined its lines with single newlines: no kept document had a blank line); the encoding repair fixes mojibake
    without unescaping HTML, uncurling quotes or folding full-width punctuation."""
    body = [
        "Baking bread at home is one of the most rewarding things you can do in the kitchen today.",
        "It takes time and patience, but the results are worth it, as every baker will tell you.",
        "",
        "Ingredients",
        "",
        "Mix the flour and the salt in a large bowl, then add the yeast and the water slowly.",
        "Knead the dough for about ten minutes until it is smooth and elastic to the touch.[3]",
        "",
        "",
        "Leave the dough to rise for an hour in a warm place, and it should double in size.",
        "Write &lt;b&gt; for bold, they said; \u201ccurly\u201d quotes and a caf\u00c3\u00a9 stay as meant.",
    ]
    w = ShardWriter(tmp_path / "raw", "part", max_docs=100)
    w.write_many([{"id": "bread", "text": "\n".join(body), "source": "web"}])
    cfg = CleaningConfig(workers=1, pii=False, toxicity={"enabled": False})
    stats = clean_shards(w.close(), tmp_path / "out", cfg, 100, 1 << 20, log=lambda m: None)
    assert stats.docs_out == 1, stats.reasons
    text = next(iter_batches(shard_files(tmp_path / "out")))[0]["text"]
    paragraphs = text.split("\n\n")
    assert len(paragraphs) == 3 and paragraphs[0].startswith("Baking") and paragraphs[1].startswith("Mix")
    assert "Ingredients" not in text and "[3]" not in text and paragraphs[1].endswith("the touch.")
    assert "&lt;b&gt;" in text and "\u201ccurly\u201d" in text and "caf\u00e9 stay" in text


def test_addresses_split_by_invisible_characters_or_in_other_scripts_are_scrubbed(tmp_path):
    """A zero-width space inside an address hid all but its tail from the scrubber ("jo" stayed, "hn@..." went), and
    addresses with non-ASCII domains passed whole: both are scrubbed in the kept document."""
    body = ("Baking bread at home is one of the most rewarding things you can do in the kitchen today. "
            "It takes time and patience, but the results are worth it, as every baker will tell you. "
            "Mix the flour and the salt in a large bowl, then add the yeast and the water slowly. "
            "Knead the dough for about ten minutes until it is smooth and elastic to the touch. "
            "Leave the dough to rise for an hour in a warm place, and it should double in size.\n\n"
            "Questions go to jo\u200bhn.doe@example.com or to j\u00fcrgen@b\u00e4ckerei-m\u00fcnchen.de, "
            "and we will answer all of them within a week.")
    w = ShardWriter(tmp_path / "raw", "part", max_docs=100)
    w.write_many([{"id": "contact", "text": body, "source": "web"}])
    cfg = CleaningConfig(workers=1, toxicity={"enabled": False})
    stats = clean_shards(w.close(), tmp_path / "out", cfg, 100, 1 << 20, log=lambda m: None)
    assert stats.docs_out == 1, stats.reasons
    text = next(iter_batches(shard_files(tmp_path / "out")))[0]["text"]
    assert "Questions go to [EMAIL] or to [EMAIL], and" in text and stats.pii.get("EMAIL") == 2
