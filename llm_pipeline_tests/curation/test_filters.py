"""Unit tests of each cleaning step, through the same functions cleaned_shards calls."""

import pytest

from llm_pipeline_assets.config import CleaningConfig, QualityConfig
from llm_pipeline_assets.curation.language import LanguageFilter, identify_languages
from llm_pipeline_assets.curation.normalize import normalize_text
from llm_pipeline_assets.curation.quality import build_quality_filters, run_quality_filters
from llm_pipeline_assets.curation.toxicity import ToxicityScorer, load_terms

PROSE = (
    "The history of the river valley is a long story about farmers, traders and the weather that shaped them. "
    "In the early years, most families grew wheat and barley on the narrow terraces above the water. "
    "Later, a railway reached the town, and the markets began to sell cloth, tools and newspapers from the coast. "
    "Teachers opened a small school near the church, where children learned to read and to count. "
    "When the floods came in the spring, the whole community worked together to repair the bridges.\n\n"
    "Today the valley is known for its orchards and for a museum that keeps the old maps of the region. "
    "Visitors walk along the paths in the summer and buy honey, apples and bread from the local farms. "
    "The museum also records the memories of older residents, so that their stories are not forgotten."
)


def test_normalize_repairs_and_strips_controls():
    assert normalize_text("Caf\u00c3\u00a9\x00 ok\r\nnext") == "Café ok\nnext"
    assert normalize_text("e\u0301") == "\u00e9"  # NFC composes
    # invisible zero-width spaces / word joiners go (they split an address from the PII scrubber); ZWJ stays
    assert normalize_text("jo\u200bhn@exa\u2060mple.com") == "john@example.com"
    assert normalize_text("jo\u00adhn.smith@exa\u200emple\u2061.com\u034f") == "john.smith@example.com"
    assert normalize_text("\U0001f469\u200d\U0001f4bb") == "\U0001f469\u200d\U0001f4bb"
    assert normalize_text("\ufb01", form="NFKC") == "fi"
    assert normalize_text("a\n\n\n\n\nb  \n") == "a\n\nb"
    assert normalize_text("\x01\x02  \x7f") == ""
    # UTF-8 read as Latin-1: the C1 bytes in "â\x80\x99" are what ftfy repairs, so they go after the repair
    meant = "It\u2019s a caf\u00e9 \u2014 \u201cquoted\u201d"
    mojibake = meant.encode("utf-8").decode("latin-1")
    assert "\x80" in mojibake and normalize_text(mojibake) == meant  # the text as written, curly quotes included
    # encoding repairs only: HTML entities, curly quotes, full-width punctuation and ligatures are what a
    # document says (ftfy's other defaults changed them, and only in documents with a non-ASCII character)
    for kept in ("Type &lt;b&gt; \u2014 or &amp;.", "\u201cQuoted\u201d", "\u4e2d\u6587\uff0c\uff01\uff11\uff12",
                 "The \ufb01nal \u00e9"):
        assert normalize_text(kept) == kept


def test_language_filter_keeps_configured_languages():
    texts = [PROSE, "Le village se trouve au bord de la rivière et les habitants cultivent des pommes.",
             "Die Kinder gehen jeden Morgen mit ihren Freunden in die Schule am Fluss."]
    langs = [lang for lang, _ in identify_languages(texts)]
    assert langs == ["en", "fr", "de"]
    reasons = LanguageFilter(["en"], 0.65).check(texts)
    assert reasons[0] is None and reasons[1].startswith("language_fr") and reasons[2].startswith("language_de")
    assert LanguageFilter(["en", "fr"], 0.5).check(texts)[1] is None
    # English below min_score is not "rejected for being English": its reason says the identification was unsure
    unsure = LanguageFilter(["en"], 1.01).check(texts)[0]
    assert unsure.startswith("language_en_unsure_") and float(unsure.rsplit("_", 1)[1]) <= 1.0


def test_quality_filters_keep_prose_reject_junk():
    filters = build_quality_filters(QualityConfig())
    assert [n for n, _ in filters] == ["gopher_quality", "gopher_repetition", "fineweb_quality", "c4_quality"]
    name, reason, text = run_quality_filters(filters, "ok", PROSE)
    assert (name, reason) == (None, None) and "orchards" in text
    assert run_quality_filters(filters, "short", "Buy now. Click here.")[0] == "gopher_quality"
    menu = "\n".join(["Home | About | Contact | Login"] * 40)
    assert run_quality_filters(filters, "menu", menu)[0] is not None
    repeated = "\n\n".join(["This paragraph says the same thing again and again for the reader."] * 20)
    assert run_quality_filters(filters, "rep", repeated)[0] == "gopher_repetition"


def test_quality_thresholds_come_from_config():
    strict = QualityConfig(gopher_quality={"min_doc_words": 5000})
    name, reason, _ = run_quality_filters(build_quality_filters(strict), "x", PROSE)
    assert name == "gopher_quality" and reason == "gopher_short_doc"
    off = QualityConfig(gopher_quality={"enabled": False}, gopher_repetition={"enabled": False},
                        fineweb_quality={"enabled": False}, c4_quality={"enabled": False})
    assert build_quality_filters(off) == []


def test_toxicity_wordlist_and_threshold(tmp_path):
    terms = load_terms()
    assert "idiot" in terms and len(terms) > 20
    scorer = ToxicityScorer(threshold=0.2)
    assert scorer.check(PROSE) is None
    toxic = PROSE + " You are a complete idiot. Go to hell."
    score, hits = scorer.score(toxic)
    assert hits == 2 and 0.1 < score < 0.3
    assert ToxicityScorer(threshold=0.1).check(toxic).startswith("toxicity_")
    assert ToxicityScorer(threshold=0.5).check(toxic) is None
    assert scorer.score("Scunthorpe and classic assessments are fine.")[1] == 0  # word boundaries
    custom = tmp_path / "words.txt"
    custom.write_text("# comment\nbanana\n")
    assert ToxicityScorer(custom, 0.01, min_hits=1).check("I like a banana. It is yellow.") is not None
    # one mild word quoted in a long, ordinary text does not make it toxic; two do
    article = " ".join(f"The film was released in {1930 + i} and praised by critics." for i in range(19))
    quoted = article + ' Its best-known line is "Frankly, my dear, I don\'t give a damn."'
    assert ToxicityScorer().score(quoted)[1] == 1 and ToxicityScorer().check(quoted) is None
    assert ToxicityScorer().check(quoted + " Critics called it damn good crap.") is not None
    with pytest.raises(FileNotFoundError, match="cleaning.toxicity.wordlist"):
        ToxicityScorer(tmp_path / "missing.txt")
    windows = tmp_path / "windows.txt"  # saved by a Windows editor: BOM and CRLF; the BOM hid the first term
    windows.write_bytes("banana\r\nkiwi\r\n".encode("utf-8-sig"))
    assert load_terms(windows) == ("banana", "kiwi")
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("d\xe9bile\n".encode("latin-1"))
    with pytest.raises(ValueError, match="cleaning.toxicity.wordlist: .*latin1.txt.* is not UTF-8"):
        load_terms(latin)


def test_cleaning_config_defaults_are_sane():
    cfg = CleaningConfig()
    assert cfg.pii and cfg.language.languages == ("en",) and cfg.toxicity.threshold == 0.05


def test_fast_tokenizer_gives_spacys_verdicts_on_the_synthetic_corpus():
    from llm_pipeline_assets.sources.synthetic import generate_documents

    docs = list(generate_documents("web", 400, seed=11))
    fast = build_quality_filters(QualityConfig(word_tokenizer="fast"))
    spacy = build_quality_filters(QualityConfig(word_tokenizer="spacy"))
    same = sum(run_quality_filters(fast, d.id, d.text)[0] == run_quality_filters(spacy, d.id, d.text)[0]
               for d in docs)
    assert same >= 0.98 * len(docs)
