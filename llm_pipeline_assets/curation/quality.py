"""Heuristic quality filters from datatrove (Gopher quality, Gopher repetition, FineWeb, C4), run per document.

The filters are called directly (``filter(Document)``) rather than through a datatrove executor, so they
slot into our streaming stage. They get our ``WordTokenizer`` (datatrove accepts an instance as
``language``): one word tokenization per document is shared by the three filters that split words, and
``cleaning.quality.word_tokenizer`` picks a regex tokenizer (``fast``, default) or datatrove's spaCy one.
C4 runs last because it rewrites the text (drops offending lines) and the cleaned text is what we keep.
"""

from __future__ import annotations

import re

# Words (with inner apostrophes, hyphens, digit separators) or single punctuation marks, the way
# spaCy's English tokenizer splits ordinary prose; sentences end at terminal punctuation + whitespace.
_WORD = re.compile(r"\w+(?:[.,'\u2019-]\w+)*|[^\w\s]")
_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s)")


def _tokenizer(kind: str):
    from datatrove.utils.word_tokenizers import WordTokenizer, load_word_tokenizer

    class FilterTokenizer(WordTokenizer):
        """Word/sentence splitting for datatrove's filters; remembers the words of the last text.

        ``fast`` is a regex tokenizer (about 20x faster than spaCy, whose blank English pipeline
        re-creates every lexeme per call inside a memory zone); ``spacy`` is datatrove's default.
        The test suite checks both give the same verdicts on the synthetic corpus.
        """

        def __init__(self):
            super().__init__("en")
            self._inner = load_word_tokenizer("en") if kind == "spacy" else None
            self._last: tuple[str, list[str]] | None = None

        def word_tokenize(self, text: str) -> list[str]:
            if self._last is None or self._last[0] != text:
                words = self._inner.word_tokenize(text) if self._inner else _WORD.findall(text)
                self._last = (text, words)
            return self._last[1]

        def sent_tokenize(self, text: str) -> list[str]:
            return [text[a:b].strip() for a, b in self.span_tokenize(text) if text[a:b].strip()]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            if self._inner:
                return self._inner.span_tokenize(text)
            spans, start = [], 0
            for m in _SENTENCE_END.finditer(text):
                spans.append((start, m.end()))
                start = m.end()
            if text[start:].strip() or not spans:
                spans.append((start, len(text)))
            return spans

    return FilterTokenizer()


def build_quality_filters(cfg) -> list[tuple[str, object]]:
    """[(name, datatrove filter)] in run order, from ``cleaning.quality`` of the pipeline config."""
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    tok = _tokenizer(cfg.word_tokenizer)
    filters: list[tuple[str, object]] = []
    g = cfg.gopher_quality
    if g.enabled:
        filters.append(("gopher_quality", GopherQualityFilter(
            min_doc_words=g.min_doc_words, max_doc_words=g.max_doc_words,
            min_avg_word_length=g.min_avg_word_length, max_avg_word_length=g.max_avg_word_length,
            max_symbol_word_ratio=g.max_symbol_word_ratio, min_stop_words=g.min_stop_words, language=tok)))
    r = cfg.gopher_repetition
    if r.enabled:
        filters.append(("gopher_repetition", GopherRepetitionFilter(
            dup_line_frac=r.dup_line_frac, dup_para_frac=r.dup_para_frac, language=tok)))
    f = cfg.fineweb_quality
    if f.enabled:
        filters.append(("fineweb_quality", FineWebQualityFilter(
            line_punct_thr=f.line_punct_thr, short_line_thr=f.short_line_thr,
            char_duplicates_ratio=f.char_duplicates_ratio, new_line_ratio=f.new_line_ratio, language=tok)))
    c = cfg.c4_quality
    if c.enabled:
        filters.append(("c4_quality", C4QualityFilter(
            filter_no_terminal_punct=c.filter_no_terminal_punct, min_num_sentences=c.min_num_sentences,
            language=tok)))
    return filters


def run_quality_filters(filters: list[tuple[str, object]], doc_id: str, text: str
                        ) -> tuple[str | None, str | None, str]:
    """(failed filter name or None, reason or None, possibly rewritten text)."""
    from datatrove.data import Document

    doc = Document(text=text, id=doc_id)
    for name, flt in filters:
        before = doc.text
        try:
            verdict = flt.filter(doc)
            if verdict is True and name == "c4_quality" and doc.text != before:
                doc.text = with_paragraphs(before, doc.text, flt.remove_citations)
        except Exception as exc:  # a filter crash rejects the document, with the error as its reason
            return name, f"{name}_error: {type(exc).__name__}: {exc}", doc.text
        if verdict is True:
            continue
        reason = verdict[1] if isinstance(verdict, tuple) else name
        return name, reason, doc.text
    return None, None, doc.text


def with_paragraphs(original: str, kept: str, remove_citations: bool) -> str:
    """C4's kept lines with the original's paragraph breaks back between them.

    datatrove's C4 filter keeps the lines that pass its rules (each stripped, citations removed) and joins them
    with single newlines, so every blank line, and with it the paragraph structure, was gone from the kept
    documents. The kept lines come in the original's order: each is matched to its original line, and a blank
    line goes back where the original had one (or more) between two kept lines. Should a kept line not be found
    (not expected), C4's own text stays.
    """
    from datatrove.pipeline.filters.c4_filters import CITATION_REGEX

    wanted = kept.split("\n")
    out: list[str] = []
    j, gap = 0, False
    for line in original.splitlines():
        if j == len(wanted):
            break
        plain = line.strip()
        if not plain:
            gap = bool(out)
            continue
        if remove_citations:
            plain = CITATION_REGEX.sub("", plain)
        if plain.strip() == wanted[j].strip():
            if gap:
                out.append("")
            out.append(wanted[j])
            j, gap = j + 1, False
    return "\n".join(out) if j == len(wanted) else kept
