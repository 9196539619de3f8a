"""XXH3-64 of short words and the splitmix64 finalizer on a torch device, in int64 arithmetic holding uint64 bits.

torch has no usable uint64 arithmetic, so every value is the int64 with the same 64 bits: two's-complement
multiply and add keep the low 64 bits exactly like uint64, and ``>>`` is made logical by masking (``_shr``).
``xxh3_64_words`` gives ``xxhash.xxh3_64_intdigest`` (seed 0, default secret) of words of 1..16 bytes, the
lengths XXH3 hashes without its long-input loop; ``mix64`` is ``dedup.minhash.mix64``. Used by the device text
preparation (``gpu/textprep.py``) and the device LSH band keys (``gpu/lsh.py``); the tests compare both with
the host libraries bit for bit.
"""

from __future__ import annotations

from llm_pipeline_assets.dedup import minhash

__all__ = ["MAX_DEVICE_WORD", "SHINGLE_MULT", "mix64", "xxh3_64_words"]

_SECRET = bytes([
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
])  # the first 64 bytes of XXH3's default secret (kSecret); words of <= 16 bytes read only these
MAX_DEVICE_WORD = 16


def _le(offset: int, size: int) -> int:
    return int.from_bytes(_SECRET[offset:offset + size], "little")


def _s64(value: int) -> int:
    """A uint64 value as the int64 with the same bits."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


PRIME64_2, PRIME64_3 = _s64(0xC2B2AE3D27D4EB4F), _s64(0x165667B19E3779F9)
PRIME_MX1, PRIME_MX2 = _s64(0x165667919E3779F9), _s64(0x9FB21C651E98DF25)
SHINGLE_MULT, MIX_M1, MIX_M2 = (_s64(int(c)) for c in (minhash.SHINGLE_MULT, minhash._M1, minhash._M2))
BITFLIP_1TO3 = _le(0, 4) ^ _le(4, 4)
BITFLIP_4TO8 = _s64(_le(8, 8) ^ _le(16, 8))
BITFLIP_9TO16 = (_s64(_le(24, 8) ^ _le(32, 8)), _s64(_le(40, 8) ^ _le(48, 8)))
_LOW32 = 0xFFFFFFFF


def _shr(x, n: int):
    """Logical right shift of int64-held uint64 bits."""
    return (x >> n) & ((1 << (64 - n)) - 1)


def _rotl(x, r: int):
    return (x << r) | _shr(x, 64 - r)


def _xorshift(x, n: int):
    return x ^ _shr(x, n)


def mix64(z):
    """``dedup.minhash.mix64`` (splitmix64 finalizer) on int64-held uint64 bits."""
    z = _xorshift(z, 30) * MIX_M1
    z = _xorshift(z, 27) * MIX_M2
    return _xorshift(z, 31)


def _mul128_fold64(a, b):
    """Low 64 bits XOR high 64 bits of the 128-bit product (32-bit limbs, carries kept)."""
    a_lo, a_hi, b_lo, b_hi = a & _LOW32, _shr(a, 32), b & _LOW32, _shr(b, 32)
    lo_lo, hi_lo, lo_hi, hi_hi = a_lo * b_lo, a_hi * b_lo, a_lo * b_hi, a_hi * b_hi
    cross = _shr(lo_lo, 32) + (hi_lo & _LOW32) + lo_hi
    upper = _shr(hi_lo, 32) + _shr(cross, 32) + hi_hi
    lower = (cross << 32) | (lo_lo & _LOW32)
    return upper ^ lower


def _swap64(x):
    """Byte swap (``XXH_swap64``)."""
    out = (x & 0xFF) << 56
    for i in range(1, 8):
        out = out | ((_shr(x, 8 * i) & 0xFF) << (8 * (7 - i)))
    return out


def _read_le(buf, pos, size: int):
    """int64 of ``size`` little-endian bytes of ``buf`` (uint8) at positions ``pos``."""
    import torch

    idx = pos[:, None] + torch.arange(size, device=buf.device)
    shifts = torch.arange(0, 8 * size, 8, device=buf.device)
    return (buf[idx].long() << shifts).sum(dim=1)  # disjoint bit fields: the (wrapping) sum is their OR


def xxh3_64_words(buf, starts, lengths):
    """XXH3-64 (seed 0) of the words ``buf[s:s+n]`` (uint8 tensor; 1 <= n <= 16) as int64 bit patterns."""
    import torch

    out = torch.empty(starts.shape, dtype=torch.int64, device=buf.device)
    small = (lengths <= 3).nonzero().squeeze(1)
    if small.numel():
        s, n = starts[small], lengths[small]
        c1, c2, c3 = buf[s].long(), buf[s + (n >> 1)].long(), buf[s + n - 1].long()
        h = ((c1 << 16) | (c2 << 24) | c3 | (n << 8)) ^ BITFLIP_1TO3
        h = _xorshift(h, 33) * PRIME64_2
        h = _xorshift(h, 29) * PRIME64_3
        out[small] = _xorshift(h, 32)
    mid = ((lengths >= 4) & (lengths <= 8)).nonzero().squeeze(1)
    if mid.numel():
        s, n = starts[mid], lengths[mid]
        h = (_read_le(buf, s + n - 4, 4) + (_read_le(buf, s, 4) << 32)) ^ BITFLIP_4TO8
        h = h ^ _rotl(h, 49) ^ _rotl(h, 24)
        h = h * PRIME_MX2
        h = h ^ (_shr(h, 35) + n)
        h = h * PRIME_MX2
        out[mid] = _xorshift(h, 28)
    big = (lengths >= 9).nonzero().squeeze(1)
    if big.numel():
        s, n = starts[big], lengths[big]
        lo = _read_le(buf, s, 8) ^ BITFLIP_9TO16[0]
        hi = _read_le(buf, s + n - 8, 8) ^ BITFLIP_9TO16[1]
        acc = n + _swap64(lo) + hi + _mul128_fold64(lo, hi)
        acc = _xorshift(acc, 37) * PRIME_MX1
        out[big] = _xorshift(acc, 32)
    return out
