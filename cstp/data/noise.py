"""Hashed noise for the synthetic world: random-looking values that need no stored grid or state,
so any frame of any video can be drawn alone."""

from __future__ import annotations

import numpy as np


def hash01(*keys: np.ndarray | int) -> np.ndarray:
    """Uniform [0, 1) values hashed from integer keys (splitmix64): noise needing no stored grid."""
    mults = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)
    if len(keys) > len(mults):
        raise ValueError(f"hash01 takes at most {len(mults)} keys, got {len(keys)}")
    h = np.zeros(np.broadcast(*keys).shape, np.uint64)
    for key, mult in zip(keys, mults, strict=False):
        h ^= np.asarray(key, np.int64).astype(np.uint64) * np.uint64(mult)
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) / 2.0**53


def value_noise(x: np.ndarray, y: np.ndarray, salt: int) -> np.ndarray:
    """Smooth noise in [0, 1] with one lattice cell per unit of x and y."""
    ix, iy = np.floor(x), np.floor(y)
    fx, fy = x - ix, y - iy
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    ix, iy = ix.astype(np.int64), iy.astype(np.int64)
    n00, n10 = hash01(ix, iy, salt), hash01(ix + 1, iy, salt)
    n01, n11 = hash01(ix, iy + 1, salt), hash01(ix + 1, iy + 1, salt)
    return (n00 + (n10 - n00) * fx) * (1 - fy) + (n01 + (n11 - n01) * fx) * fy
