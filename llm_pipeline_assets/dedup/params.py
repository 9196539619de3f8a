"""Parameters of the dedup pipeline, their defaults and validation.

Defaults: ``ngram=3`` word shingles, ``num_perm=112``, ``threshold=0.8``,
``verify="signature"``; ``bands x rows`` = ``choose_bands_rows(112, 0.8,
fp_weight=0.02, fn_weight=0.98)`` = **16 x 7**. S-curve
``P(candidate) = 1 - (1 - J**7)**16``:

    J     0.3     0.5     0.6     0.7     0.75    0.8     0.85    0.9
    P   0.003   0.118   0.365   0.747   0.899   0.977   0.998   1.000

Why:

* A word edit (substitution/insertion/deletion) at rate ``p`` touches about
  ``n`` shingles, so the shared shingle share is ``~(1-p)**n`` and Jaccard
  ``J ~ (1-p)**n / (2 - (1-p)**n)``. With word 5-grams, 1/2/3 % edits give
  ``J ~ 0.91 / 0.83 / 0.75`` — a 0.8 threshold (the pipeline's contract:
  "near-duplicate = Jaccard >= 0.8") would miss most 3 %-edited copies.
  With word 3-grams the same edits give ``J ~ 0.94 / 0.89 / 0.84``, so
  3 %-edited copies sit above 0.8 (measured recall 0.993 on the synthetic
  corpus; 5-grams at 0.8: 0.66). 3-grams of unrelated English text still
  overlap very little (J well under 0.1), so precision stays set by the
  verification step (estimate std ~0.04 at ``J = 0.8`` with 112 slots).
* LSH is tuned for recall (``fn_weight=0.98``): extra candidates only cost
  verification time; every distinct pair is verified once.
* ``threshold=0.55`` with 5-grams (28 x 4) is the other good operating
  point (recall 1.0 at 3 % edits in the same benchmark) when longer
  shingles are wanted, e.g. for code or highly templated text.
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
DEFAULT_THRESHOLD = 0.8
DEFAULT_NUM_PERM = 112
DEFAULT_NGRAM = 3
DEFAULT_SEED = 42
#: weights handed to ``choose_bands_rows`` when bands/rows are not given.
LSH_FP_WEIGHT = 0.02
LSH_FN_WEIGHT = 0.98


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
