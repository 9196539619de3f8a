"""Parameters of the dedup pipeline, their defaults and validation.

Defaults: ``ngram=5`` word shingles, ``num_perm=112``, ``threshold=0.55``,
``verify="signature"``; ``bands x rows`` = ``choose_bands_rows(112, 0.55,
fp_weight=0.1, fn_weight=0.9)`` = **28 x 4** (all 112 slots used).  S-curve
``P(candidate) = 1 - (1 - J**4)**28``:

    J     0.1     0.2     0.3     0.4     0.5     0.55    0.6     0.7     0.8
    P   0.003   0.044   0.204   0.516   0.836   0.932   0.980   0.9995  1.000

Why:

* A word edit (substitution/insertion/deletion) at rate ``p`` touches about
  ``n`` shingles, so the shared shingle share is ``~(1-p)**n`` and Jaccard
  ``J ~ (1-p)**n / (2 - (1-p)**n)``.  With word 5-grams, 1/2/3 % edits give
  mean ``J ~ 0.91 / 0.84 / 0.77`` with a 5th percentile of ``~0.82 / 0.73 /
  0.65`` (binomial number of edits, ~250-word docs; wider for shorter
  docs).  A 0.8 threshold would miss most 3 %-edited copies; at 0.55 the
  measured recall is >= 0.98 at 3 % edits (>= 0.999 at 1-2 %).
* Unrelated English text shares almost no word 5-grams (``J < 0.05`` ->
  ``P(candidate) < 0.003`` per pair, and verification rejects those), so
  precision is governed by the verification step (estimate std ~0.047 at
  ``J = 0.55`` with 112 slots), not by the LSH curve.
* LSH is tuned for recall (``fn_weight=0.9``): extra candidates only cost
  verification time.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Optional, Tuple

from .lsh import choose_bands_rows, s_curve

__all__ = [
    "DedupParams",
    "VERIFY_MODES",
    "DEFAULT_THRESHOLD",
    "DEFAULT_NUM_PERM",
    "DEFAULT_NGRAM",
    "DEFAULT_SEED",
    "LSH_FP_WEIGHT",
    "LSH_FN_WEIGHT",
    "resolve_bands_rows",
]

VERIFY_MODES = ("signature", "jaccard", "none")
DEFAULT_THRESHOLD = 0.55
DEFAULT_NUM_PERM = 112
DEFAULT_NGRAM = 5
DEFAULT_SEED = 42
#: weights handed to ``choose_bands_rows`` when bands/rows are not given.
LSH_FP_WEIGHT = 0.1
LSH_FN_WEIGHT = 0.9


def _pos_int(name: str, val, minimum: int = 1) -> int:
    if isinstance(val, bool) or not isinstance(val, Integral) or val < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {val!r}")
    return int(val)


def resolve_bands_rows(
    num_perm: int, threshold: float, bands: Optional[int], rows: Optional[int]
) -> Tuple[int, int]:
    """Fill in missing ``bands`` / ``rows`` and validate ``bands * rows <= num_perm``."""
    bands = None if bands is None else _pos_int("bands", bands)
    rows = None if rows is None else _pos_int("rows", rows)
    if bands is None and rows is None:
        return choose_bands_rows(num_perm, threshold, LSH_FP_WEIGHT, LSH_FN_WEIGHT)
    if bands is None:
        bands = num_perm // rows
    elif rows is None:
        rows = num_perm // bands
    if bands < 1 or rows < 1 or bands * rows > num_perm:
        raise ValueError(f"bands * rows must be <= num_perm ({num_perm}), got bands={bands}, rows={rows}")
    return bands, rows


@dataclass(frozen=True)
class DedupParams:
    """Validated dedup parameters (see module docstring for the defaults)."""

    threshold: float = DEFAULT_THRESHOLD
    num_perm: int = DEFAULT_NUM_PERM
    bands: Optional[int] = None
    rows: Optional[int] = None
    ngram: int = DEFAULT_NGRAM
    seed: int = DEFAULT_SEED
    verify: str = "signature"
    #: group exact duplicates (normalized text) before MinHash; when False,
    #: every document goes through LSH (``exact_dup_of`` is all -1)
    exact: bool = True
    #: documents per internal signature batch (memory knob, not semantics)
    batch_size: int = 512

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, Real):
            raise ValueError(f"threshold must be a number in (0, 1], got {self.threshold!r}")
        if not 0.0 < float(self.threshold) <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        for name in ("num_perm", "ngram", "batch_size"):
            object.__setattr__(self, name, _pos_int(name, getattr(self, name)))
        object.__setattr__(self, "seed", _pos_int("seed", self.seed, minimum=0))
        object.__setattr__(self, "threshold", float(self.threshold))
        if not isinstance(self.exact, bool):
            raise ValueError(f"exact must be a bool, got {self.exact!r}")
        if self.verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}, got {self.verify!r}")
        bands, rows = resolve_bands_rows(self.num_perm, self.threshold, self.bands, self.rows)
        object.__setattr__(self, "bands", bands)
        object.__setattr__(self, "rows", rows)

    def candidate_probability(self, similarity):
        """LSH S-curve of these parameters at ``similarity``."""
        return s_curve(similarity, self.bands, self.rows)
