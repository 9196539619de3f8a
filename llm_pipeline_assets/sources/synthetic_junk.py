"""Low-quality texts and web boilerplate for the synthetic corpus.

Each generator targets a specific heuristic of datatrove's Gopher quality/repetition, C4 and FineWeb
filters (noted per function), so the quality stage has documents it must reject. Stdlib only.
"""

from __future__ import annotations

import random

from llm_pipeline_assets.sources import synthetic_vocab as V
from llm_pipeline_assets.sources.synthetic_prose import english_sentences, pluralize

_CONTENT = [w for w in dict.fromkeys(V.NOUNS + V.ADJECTIVES) if len(w) > 2]


def _short(rng: random.Random) -> str:
    """Too short: under 50 words and under 5 sentences (Gopher short_doc, C4 too_few_sentences)."""
    return " ".join(english_sentences(rng, rng.randint(5, 25))[:3])


def _numeric(rng: random.Random) -> str:
    """A numbers-and-symbols table: most tokens have no letter (Gopher alpha ratio, hash ratio)."""
    lines = []
    for _ in range(rng.randint(10, 25)):
        cells = [rng.choice([str(rng.randint(0, 9999)), f"{rng.uniform(0, 100):.2f}", "#", "%", "|", "--",
                             f"0x{rng.randint(0, 255):02X}"]) for _ in range(rng.randint(6, 12))]
        lines.append(" ".join(cells))
    return "\n".join(lines)


def _caps_spam(rng: random.Random) -> str:
    """Shouted spam repeating the same lines, no lowercase stop words (Gopher stop words, repetition)."""
    items = [w.upper() for w in rng.sample(_CONTENT, 4)]
    variants = [f"BUY {items[0]} NOW!!! BEST PRICE GUARANTEED!!!", f"CHEAP {items[1]} {items[2]} FREE SHIPPING!!!",
                f"LIMITED OFFER ON {items[3]} CLICK NOW!!!", "100% SATISFACTION!!! ORDER TODAY!!!"]
    return "\n".join(rng.choice(variants) for _ in range(rng.randint(12, 30)))


def _long_words(rng: random.Random) -> str:
    """Run-together words: average word length far above 10 (Gopher avg word length)."""
    words = ["".join(rng.sample(_CONTENT, rng.randint(3, 5))) for _ in range(rng.randint(55, 110))]
    return " ".join(w + ("." if i % 7 == 6 else "") for i, w in enumerate(words))


def _salad(rng: random.Random) -> str:
    """Word salad without a single English stop word (Gopher min_stop_words)."""
    sentences = []
    for _ in range(rng.randint(10, 20)):
        words = rng.sample(_CONTENT, rng.randint(5, 9))
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def _no_punct(rng: random.Random) -> str:
    """Many short lines with no punctuation at all (FineWeb line_punct_ratio, short_line_ratio)."""
    return "\n".join(" ".join(rng.sample(_CONTENT, rng.randint(1, 4))) for _ in range(rng.randint(20, 45)))


def _ellipsis(rng: random.Random) -> str:
    """Teaser lines trailing off in ellipses (Gopher ellipsis ratios)."""
    lines = []
    for _ in range(rng.randint(10, 20)):
        words = " ".join(rng.sample(_CONTENT, rng.randint(2, 5)))
        teaser = rng.choice(["Read more about {}...", "See the {}...", "More on {} …", "{} and more..."])
        lines.append(teaser.format(words))
    return "\n".join(lines)


def _keyword_stuffing(rng: random.Random) -> str:
    """One keyword pair repeated everywhere (Gopher top 2-gram fraction, duplicated n-grams)."""
    kw = f"cheap {rng.choice(V.NOUNS)}"
    others = rng.sample(_CONTENT, 12)
    words: list[str] = []
    for i in range(rng.randint(40, 70)):
        words.append(kw if i % 2 == 0 else rng.choice(others))
    return " ".join(words) + "."


LOW_QUALITY_KINDS = {
    "short": _short, "numeric": _numeric, "caps_spam": _caps_spam, "long_words": _long_words,
    "salad": _salad, "no_punct": _no_punct, "ellipsis": _ellipsis, "keyword_stuffing": _keyword_stuffing,
}


def low_quality_document(rng: random.Random) -> str:
    """A document that at least one of datatrove's Gopher/C4/FineWeb filters rejects."""
    return LOW_QUALITY_KINDS[rng.choice(list(LOW_QUALITY_KINDS))](rng)


_SITE_WORDS = ["Daily", "Hub", "Central", "Online", "Times", "Gazette", "World", "Zone", "Guide", "Life"]


def boilerplate_document(rng: random.Random) -> str:
    """A page that is mostly navigation, cookie banners and calls to action, with repeated lines and
    blocks (Gopher repetition line/paragraph fractions, FineWeb char_dup_ratio)."""
    topic = rng.choice(V.NOUNS).capitalize()
    site = f"{topic} {rng.choice(_SITE_WORDS)}"
    cats = [pluralize(rng.choice(V.NOUNS)).capitalize() for _ in range(3)]
    nav = f"{site} | Home | About | {cats[0]} | {cats[1]} | {cats[2]} | Blog | Contact"
    header = [nav, "Skip to main content", "Log in | Sign up | Forgot your password?", "Search this site"]
    cookie = rng.choice([
        "This website uses cookies to improve your experience. Accept all | Reject | Settings",
        "We use cookies to personalise content and ads. By continuing to browse you agree to our Cookie Policy.",
        "Cookie notice: we and our partners store data on your device. OK | Manage preferences",
    ])
    cta = rng.sample([
        "Click here to subscribe to our newsletter!", "Click here to read more.",
        "Share this: Facebook | Twitter | LinkedIn | Email", "Related posts:", "Back to top",
        f"Follow {site} on social media for the latest updates!", "Leave a comment", "Add to cart",
        f"Click here to download the {topic.lower()} guide.", "Sponsored content",
    ], 5)
    footer = [f"© {rng.randint(2008, 2024)} {site}. All rights reserved.", "Privacy Policy | Terms of Use | Sitemap",
              rng.choice(["Powered by WordPress", "Built with Squarespace", "Theme by Example Themes"]),
              f"Home » {cats[0]} » {topic}"]
    content = english_sentences(rng, rng.randint(10, 40))[:rng.randint(1, 2)]
    blocks = ["\n".join(header), cookie, "\n".join(cta[:3]), " ".join(content), "\n".join(cta[2:]),
              cookie if rng.random() < 0.5 else cta[0], "\n".join(footer), nav]
    return "\n\n".join(blocks)
