"""normalize_text follows its ``form`` and ``fix_encoding`` arguments."""

from llm_pipeline_assets.curation.normalize import normalize_text

LIGATURE_FULLWIDTH = "\ufb01le \uff21"  # "ﬁle Ａ": a ligature and a full-width letter
MOJIBAKE = "don\u00e2\u20ac\u2122t"  # "don't" with a curly apostrophe, UTF-8 read as cp1252


def test_nfkc_folds_compatibility_characters_without_repairing_encoding():
    assert normalize_text(LIGATURE_FULLWIDTH, form="NFKC", fix_encoding=False) == "file A"
    assert normalize_text(LIGATURE_FULLWIDTH, form="NFC", fix_encoding=False) == LIGATURE_FULLWIDTH


def test_fix_encoding_repairs_mojibake_only_when_asked():
    assert normalize_text(MOJIBAKE) == "don\u2019t"
    assert normalize_text(MOJIBAKE, fix_encoding=False) == MOJIBAKE
