"""Pure-python scoring of generated text: answers, function calls, refusals, loops, constraints, contamination.

Every judgement here looks at the text it is given and nothing else; callers pass the model's
continuation (not prompt + continuation), so words in a prompt never decide a refusal.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable

FUNCTION_CALL = "<|function_call|>"
END_OF_TURN = "<|end|>"
EOS = "<|endoftext|>"

# A stated answer: optional bold / "$" before a whole number (digits, or groups of three with commas), an optional
# decimal part or a fraction ("3/4", compared as written), ending there: "#### 1e3" and "#### 1,2,3" state no
# number this reads as 1 or 123, and "#### 3/4" is not 3.
_STATED = (r"(?:\*\*)?\s*\$?\s*([-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|[-+]?\.\d+)"
           r"(?![\d/]|,\d|\.\d|[eE][-+]?\d)")
_GSM8K = re.compile(r"####\s*" + _STATED)
_ANSWER_IS = re.compile(r"(?i)\bthe (?:final )?answer is:?\s*" + _STATED)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_WORD = re.compile(r"\w+(?:'\w+)?")
_MARKDOWN_RULE = set("-=|_*#:+ ")

_CANNOT = r"(?:can'?t|cannot|can not|won'?t|will not|am not able to|'?m not able to|am unable to|'?m unable to" \
          r"|'?m not going to|am not going to)"
REFUSAL_PATTERNS = (
    # "help but ..." is the idiom "I can't help but mention", not a refusal
    rf"\bi\s*{_CANNOT}\s+(?:help(?!\s+but\b)|assist|provide|do (?:that|this)|support|comply|give|fulfil|create"
    r"|answer|share|write|tell|explain)",
    rf"\bi\s*{_CANNOT}\s*[.!]",  # a bare "I can't."
    r"\bi\s*(?:must|have to)\s+(?:decline|refuse)",
    r"\bsorry,? (?:i|but i) (?:can'?t|cannot|won'?t)",
    r"\bnot able to help with\b",
    r"\bi (?:do not|don't) (?:help|assist) with\b",
    r"\bas an ai\b[^.]*\b(?:can't|cannot)\b",
)
_REFUSAL = re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS), re.IGNORECASE)
# A reply that opens by complying is not a refusal, whatever caveat follows ("Sure, ... I cannot guarantee ...").
_COMPLIES = re.compile(r"\s*(?:sure|here(?:'s| is| are)|of course|certainly|absolutely|yes|okay|ok|i can help"
                       r"|i'd be happy|happy to)\b", re.IGNORECASE)


def _normalise_number(raw: str) -> str:
    s = raw.replace(",", "").strip().rstrip(".").removeprefix("+")
    if "." in s:
        s = s.rstrip("0").rstrip(".") if s.split(".", 1)[1] else s
    if s in ("", "-"):
        return s
    if s.startswith("-."):
        s = "-0" + s[1:]
    elif s.startswith("."):
        s = "0" + s
    return "0" if s in ("-0", "0") else s


def extract_final_answer(text: str | None, flexible: bool = True) -> str | None:
    """The ``#### n`` answer (GSM8K), else "the answer is n", else (``flexible``) the last number in ``text``;
    commas and trailing ``.0`` dropped, a Unicode minus read as "-"."""
    if not text:
        return None
    text = text.replace("\u2212", "-")
    m = _GSM8K.search(text) or _ANSWER_IS.search(text)
    if m:
        return _normalise_number(m.group(1))
    numbers = _NUMBER.findall(text) if flexible else []
    return _normalise_number(numbers[-1]) if numbers else None


def math_correct(generated: str, reference_answer: str, flexible: bool = False) -> bool:
    """Exact match of the stated final answer of the generation and of the reference solution.

    Strict by default (lm-evaluation-harness's gsm8k "strict-match"): a generation must state its answer
    (``#### n`` or "the answer is n"); echoing the question back scores nothing though its last number may
    be the answer. ``flexible`` takes the last number ("flexible-extract").
    """
    got, want = extract_final_answer(generated, flexible), extract_final_answer(reference_answer)
    return got is not None and want is not None and got == want


def parse_function_call(text: str | None) -> dict | None:
    """The JSON object after ``<|function_call|>`` (up to ``<|end|>``/EOS/end of text), or None."""
    if not text or FUNCTION_CALL not in text:
        return None
    body = text.split(FUNCTION_CALL, 1)[1]
    for stop in (END_OF_TURN, EOS, FUNCTION_CALL):
        body = body.split(stop, 1)[0]
    try:
        value = json.loads(body.strip(), parse_constant=_no_constants)
    except (json.JSONDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")  # Python's json accepts NaN/Infinity; a JSON parser does not


def _arguments(call: dict) -> dict | None:
    """The call's arguments as an object (absent = {}; a JSON string of an object is accepted), else None."""
    args = call.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args, parse_constant=_no_constants)
        except (json.JSONDecodeError, ValueError):
            return None
    return args if isinstance(args, dict) else None


def _norm_value(value):
    if isinstance(value, dict):
        return {str(k): _norm_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_norm_value(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lower()


def function_call_scores(generated: str, expected_name: str, expected_arguments: dict | str) -> dict:
    """``valid_json`` (a well-formed call: JSON with a function name and object arguments), ``right_name``,
    ``right_arguments`` (values compared as text). ``{}`` or ``{"name": 5}`` parse, but are not calls."""
    call = parse_function_call(generated)
    if isinstance(expected_arguments, str):
        expected_arguments = json.loads(expected_arguments)
    args = _arguments(call) if call is not None else None
    if call is None or args is None or not isinstance(call.get("name"), str) or not call["name"].strip():
        return {"valid_json": False, "right_name": False, "right_arguments": False}
    right_args = _norm_value(args) == _norm_value(expected_arguments or {})
    return {"valid_json": True, "right_name": call["name"] == expected_name, "right_arguments": right_args}


def is_refusal(continuation: str | None) -> bool:
    """Whether the model's continuation (ONLY the generated text, never the prompt) declines the request."""
    if not continuation:
        return False
    text = continuation.replace("\u2019", "'")
    return not _COMPLIES.match(text) and bool(_REFUSAL.search(text[:300]))


def is_repetitive(text: str | None, n: int = 3, threshold: float = 0.5) -> bool:
    """True when the share of repeated word ``n``-grams exceeds ``threshold`` or a line/phrase loops."""
    if not text:
        return False
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) >= 3 and len(set(lines)) <= len(lines) / 2:
        return True
    words = _WORD.findall(text.lower())
    if len(words) >= n + 1:
        grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
        if 1 - len(set(grams)) / len(grams) > threshold:
            return True
    # a short phrase (possibly without spaces, e.g. "abcabcabc" or "!?!?") looping at least 4 times; markdown
    # structure ("|---|---|", a dashed underline) is not a loop, nor are long runs of digits ("1000000000")
    for loop in re.finditer(r"(.{2,30}?)\1{3,}", re.sub(r"\s+", " ", text.strip())):
        unit, span = loop.group(1), len(loop.group(0))
        if span >= 16 and not set(unit) <= _MARKDOWN_RULE and (not unit.isdigit() or span >= 64):
            return True
    return False


def check_instruction(text: str, constraint: dict) -> bool:
    """Simple verifiable constraints (IFEval-style): ``{"type": ..., "value": ...}``."""
    kind, value = constraint["type"], constraint.get("value")
    text = text or ""
    stripped = text.strip()
    if kind == "max_words":
        return len(_WORD.findall(text)) <= int(value)
    if kind == "min_words":
        return len(_WORD.findall(text)) >= int(value)
    if kind == "contains_keyword":
        keywords = [value] if isinstance(value, str) else list(value)
        return all(re.search(rf"\b{re.escape(k)}\b", text, re.IGNORECASE) for k in keywords)
    if kind == "starts_with":
        return stripped.lower().startswith(str(value).lower())
    if kind == "ends_with":
        return stripped.lower().endswith(str(value).lower())
    if kind == "all_lowercase":
        return bool(stripped) and stripped == stripped.lower()
    if kind == "json":
        body = re.sub(r"^```(?:json)?\s*|\s*```$", "", stripped)
        try:
            json.loads(body, parse_constant=_no_constants)  # NaN / Infinity are not JSON
        except (json.JSONDecodeError, ValueError):
            return False
        return True
    raise ValueError(f"unknown constraint type: {kind!r}")


def _hash(gram: tuple[str, ...]) -> int:
    return int.from_bytes(hashlib.blake2b(" ".join(gram).encode("utf-8"), digest_size=8).digest(), "little")


def hashed_ngrams(text: str, n: int = 8) -> set[int]:
    """64-bit hashes of the lower-cased word ``n``-grams of ``text`` (the whole text when shorter)."""
    words = _WORD.findall((text or "").lower())
    if not words:
        return set()
    if len(words) < n:
        return {_hash(tuple(words))}
    return {_hash(tuple(words[i:i + n])) for i in range(len(words) - n + 1)}


def ngram_overlap(eval_text: str, train_ngrams: set, n: int = 8) -> float:
    """Share of ``eval_text``'s hashed word ``n``-grams found in ``train_ngrams`` (0 for empty text)."""
    grams = hashed_ngrams(eval_text, n)
    return len(grams & train_ngrams) / len(grams) if grams else 0.0


def contamination_report(eval_items_texts: Iterable[str] | dict, train_texts_iter: Iterable[str], n: int = 8,
                         flag_threshold: float = 0.5) -> dict:
    """Flag eval items whose ``n``-grams appear in the training texts.

    Memory is bounded by the eval items, not the corpus: their hashed ``n``-grams (an item shorter than ``n`` words
    is one ``k``-gram, k = its length, found inside a longer training text) are the only set kept, and the training
    texts stream past it; a training ``k``-gram is hashed only when its first word starts one of the items'
    ``k``-grams. (Keeping the corpus's n-grams instead cost ~330 bytes per training word: out of memory on 24 GB at
    ~0.1B tokens.) ``eval_items_texts`` is a list (ids are indices) or a dict ``{id: text}``.
    """
    items = dict(eval_items_texts) if isinstance(eval_items_texts, dict) else dict(enumerate(eval_items_texts))
    item_grams: dict = {}  # id -> (k, its k-gram hashes)
    wanted: dict[int, set[int]] = {}  # k -> the items' k-gram hashes
    starts: dict[int, set[str]] = {}  # k -> the first words of those k-grams
    for item_id, text in items.items():
        words = _WORD.findall((text or "").lower())
        k = min(len(words), n)
        item_grams[item_id] = (k, {_hash(tuple(words[i:i + k])) for i in range(len(words) - k + 1)} if k else set())
        if k:
            wanted.setdefault(k, set()).update(item_grams[item_id][1])
            starts.setdefault(k, set()).update(words[i] for i in range(len(words) - k + 1))
    found: dict[int, set[int]] = {k: set() for k in wanted}
    for text in train_texts_iter:
        words = _WORD.findall((text or "").lower())
        for k, first in starts.items():
            for i in range(len(words) - k + 1):
                if words[i] in first:
                    h = _hash(tuple(words[i:i + k]))
                    if h in wanted[k]:
                        found[k].add(h)
    flagged, max_overlap = [], 0.0
    for item_id, (k, grams) in item_grams.items():
        overlap = len(grams & found[k]) / len(grams) if grams else 0.0
        max_overlap = max(max_overlap, overlap)
        if overlap >= flag_threshold:
            flagged.append(item_id)
    return {"checked": len(items), "flagged": len(flagged), "flagged_ids": flagged, "max_overlap": max_overlap}
