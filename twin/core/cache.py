"""A byte-bounded LRU cache for finished responses (bodies and their headers).

Keys always contain the layer's data version or the catalog fingerprint, so a change of data makes
old entries unreachable at once; they age out of the LRU without any explicit invalidation."""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedResponse:
    body: bytes
    media_type: str
    headers: tuple[tuple[str, str], ...]
    status: int = 200

    @functools.cached_property
    def raw_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The headers as an ASGI server takes them (lower-case latin-1 bytes), content type and length
        included: encoded once, not on every answer."""
        named = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers]
        named.append((b"content-type", self.media_type.encode("latin-1")))
        if self.status >= 200 and self.status not in (204, 304):  # RFC 9110 §8.6: none on 1xx, 204, 304
            named.append((b"content-length", str(len(self.body)).encode()))
        return tuple(named)

    @functools.cached_property
    def hit_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """`raw_headers` and the mark of an answer from the cache."""
        return (*self.raw_headers, (b"x-twin-cache", b"hit"))

    @functools.cached_property
    def etag(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "etag"), None)


class ResponseCache:
    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._size = 0
        self._entries: OrderedDict[Hashable, CachedResponse] = OrderedDict()
        self.hits = 0
        """Answers found (what /readyz reports and the benchmark reads: a cached figure's share)."""

    def get(self, key: Hashable) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is not None:
            self.hits += 1
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Hashable, entry: CachedResponse) -> None:
        size = len(entry.body)
        if size > self._max // 8:  # one huge response must not flush everything else
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._size -= len(old.body)
        self._entries[key] = entry
        self._size += size
        while self._size > self._max and self._entries:
            _, evicted = self._entries.popitem(last=False)
            self._size -= len(evicted.body)

    def clear(self) -> None:
        self._entries.clear()
        self._size = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """Bytes of the bodies held (at most the limit it was made with)."""
        return self._size
