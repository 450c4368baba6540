"""Simulating in chunks: bounded memory, the same world whatever the chunk sizes.

A large world is generated a chunk of documents (text) and a chunk of sessions (impressions) at a
time. The chunk sizes below are memory knobs only: any value gives the same tables, byte for
byte (``tests/data/test_simulate_chunks.py`` patches them here and compares). The random numbers
stay those of a single pass because every chunked draw reads a generator placed at the stream
offset the single pass would have reached (:func:`_ahead`, :func:`_skip`).

The modules that use a knob read it from this module at call time (``chunking._DOC_CHUNK``), so
one assignment here changes every use. The number of sessions simulated per pass is not such a
knob: it is part of the world's definition (:data:`gbltr.data.simulate.sessions._SESSION_DRAWS`).
"""

from __future__ import annotations

import numpy as np

#: Documents rendered per pass while generating text. Their tokens, sort keys and bytes exist only
#: for one such chunk; the random numbers are the same whatever the chunk (see :func:`_ahead`).
_DOC_CHUNK = 50_000
#: Sessions per impressions frame that :meth:`gbltr.data.simulate.sessions._Log.frames` makes (at
#: most one pass of sessions): with ``display_k`` it bounds the impressions a written chunk holds
#: in memory. Any value gives the same table.
_FRAME_SESSIONS = 100_000


def _small_int(n_values: int):
    """The smallest of int16/int32 that holds ``0 .. n_values``: compact per-row arrays."""
    return np.int16 if n_values <= np.iinfo(np.int16).max else np.int32


def _ahead(rng: np.random.Generator, k: int) -> np.random.Generator:
    """A new generator whose next draws are ``rng``'s after ``k`` uniform doubles.

    One ``random()`` double consumes exactly one 64-bit PCG64 output, so ``advance(k)`` skips
    ``k`` of them; PCG64 keeps a buffered 32-bit half for 32-bit draws, which a real run of doubles
    leaves alone but ``advance`` clears, so it is carried over by hand. ``rng`` is not changed.
    """
    if not isinstance(rng.bit_generator, np.random.PCG64):
        raise TypeError(f"expected a PCG64 generator, found {type(rng.bit_generator).__name__}")
    state = rng.bit_generator.state
    bits = np.random.PCG64()
    bits.state = state
    bits.advance(int(k))
    moved = bits.state
    moved["has_uint32"], moved["uinteger"] = state["has_uint32"], state["uinteger"]
    bits.state = moved
    return np.random.Generator(bits)


def _skip(rng: np.random.Generator, k: int) -> None:
    """Move ``rng`` on by ``k`` uniform doubles, as if ``rng.random(k)`` had been called."""
    rng.bit_generator.state = _ahead(rng, k).bit_generator.state

