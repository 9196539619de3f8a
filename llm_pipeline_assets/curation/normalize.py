"""Unicode normalization: repair mojibake, drop control characters, normalize to NFC (or NFKC).

Runs first, so every later filter and the deduper see the same canonical text.
"""

from __future__ import annotations

import re
import unicodedata

# C0/C1 control characters except TAB and LF, lone surrogates (invalid in UTF-8), BOM/ZW no-break, and the
# invisible characters that change no word: zero-width space, word joiner, soft hyphen, LRM/RLM, the invisible
# math operators, the Mongolian vowel separator and the combining grapheme joiner. Inside "jo\u200bhn@example.com"
# they split an address (the PII scrubber saw only "hn@example.com") and make copies look different to the
# deduper. ZWJ/ZWNJ stay (emoji sequences and Persian or Indic spelling need them; the scrubber reads through them).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufeff\u200b\u2060\u00ad\u200e\u200f"
                      r"\u2061-\u2064\u180e\u034f]")
_NEWLINES = re.compile(r"\r\n?|\u2028|\u2029")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


def _encoding_fixes(form: str):
    """ftfy's repairs of broken encoding only: its defaults also unescape HTML entities ("&lt;" in a document
    about HTML), straighten curly quotes and fold full-width CJK punctuation, which change what the text says."""
    from ftfy import TextFixerConfig

    return TextFixerConfig(unescape_html=False, uncurl_quotes=False, fix_character_width=False,
                           fix_latin_ligatures=False, normalization=form, explain=False)


def normalize_text(text: str, form: str = "NFC", fix_encoding: bool = True) -> str:
    """Canonical text: ftfy-repaired encoding, LF newlines, no control chars, Unicode ``form``."""
    text = _NEWLINES.sub("\n", text)
    if fix_encoding and not text.isascii():
        import ftfy

        # before the control characters go: UTF-8 read as Latin-1 carries C1 bytes ("â\x80\x99" for "'"),
        # which ftfy needs to repair the text; stripped first, they would leave "â" behind for good
        text = ftfy.fix_text(text, _encoding_fixes(form))
    text = _CONTROL.sub("", text)
    text = unicodedata.normalize(form, text)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _MANY_BLANK_LINES.sub("\n\n", text)
    return text.strip()
