"""pgvector's `halfvec` in psycopg's binary format, to and from numpy (no text round trip of 384 floats).

The binary form (pgvector's `halfvec_send`) is a 16-bit dimension, 16 unused bits, then one big-endian IEEE
half-precision float per dimension.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo

_HEADER = struct.Struct(">HH")


@dataclass(frozen=True, eq=False)
class HalfVector:
    """A vector to be sent as `halfvec` (wrapping it keeps every other numpy array out of this dumper)."""

    values: np.ndarray


def encode(vector: np.ndarray) -> bytes:
    values = np.asarray(vector, dtype=">f2")
    return _HEADER.pack(len(values), 0) + values.tobytes()


def decode(data: Buffer) -> np.ndarray:
    (dimension, _) = _HEADER.unpack_from(data)
    return np.frombuffer(data, dtype=">f2", count=dimension, offset=_HEADER.size).astype(np.float32)


class _HalfVectorDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return encode(obj.values)


class _HalfVectorLoader(Loader):
    format = Format.BINARY

    def load(self, data: Buffer) -> np.ndarray:
        return decode(data)


async def register(connection: psycopg.AsyncConnection[Any]) -> None:
    """Teach one connection the `halfvec` type (its OID differs per database, so it is looked up)."""
    info = await TypeInfo.fetch(connection, "halfvec")
    if info is None:
        return  # the extension is created later by the schema migration; the next connection registers it
    context: AdaptContext = connection
    info.register(context)  # by name too: COPY's `set_types` looks "halfvec" up (write.py)
    dumper = type("HalfVectorDumper", (_HalfVectorDumper,), {"oid": info.oid})
    context.adapters.register_dumper(HalfVector, dumper)
    context.adapters.register_loader(info.oid, _HalfVectorLoader)
