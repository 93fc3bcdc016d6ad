"""Decompression in a second thread, for the one-pass archive index.

:class:`ThreadedInflate` decompresses a ``.gz``, ``.bz2`` or ``.xz`` file in a background
thread (zlib, bz2 and lzma release the GIL while they work) into a bounded queue of
blocks of at most :data:`OUT_BYTES`, and reads like a file: the tar headers are parsed
in the calling thread while the next blocks are being inflated, on the machine's other
core. Memory stays bounded (:data:`QUEUE_BLOCKS` blocks waiting at most).

:func:`prefetch` starts one early (``atr check`` does, before it imports the checks), and
:func:`take_prefetched` hands it to the reader of the same unchanged file.

It reads only what it can decide the same way as :mod:`gzip`, :mod:`bz2` and :mod:`lzma`'s
file objects, and raises :class:`InflateUnsure` for everything else (an empty file, data
that ends early, a second ``.bz2``/``.xz`` stream or data after the first one, any
decompression error), so that the caller reads the archive again through those file objects
and reports what they report. For a gzip file it inflates every member (zero padding
between and after members skipped, as :class:`gzip.GzipFile` does), the inflater checking
each member's CRC-32 and length: ISA-L's (the ``isal`` package: about twice zlib's speed,
the same bytes and the same checks) where it is installed, else zlib's. Any error is
:class:`InflateUnsure`'s case, so the messages reported are zlib's either way.
"""

from __future__ import annotations

import bz2
import contextlib
import lzma
import os
import queue
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import IO, Protocol

_GZIP: ModuleType
try:
    from isal import isal_zlib as _GZIP
except ImportError:  # a platform without isal's wheels
    _GZIP = zlib

__all__ = [
    "IN_BYTES",
    "OUT_BYTES",
    "PREFETCH_BLOCKS",
    "QUEUE_BLOCKS",
    "InflateUnsure",
    "ThreadedInflate",
    "drop_prefetched",
    "kind_of",
    "prefetch",
    "take_prefetched",
]

IN_BYTES = 1 << 20
"""Compressed bytes read at a time."""
OUT_BYTES = 2 << 20
"""The largest block decompressed at a time (a compression bomb stays bounded)."""
QUEUE_BLOCKS = 3
"""Blocks inflated ahead of the reader at most."""
PREFETCH_BLOCKS = 24
"""Blocks inflated ahead at most by :func:`prefetch`, before anyone reads them."""


class InflateUnsure(Exception):
    """Data the threaded reader does not decide: read it with the standard file objects."""


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


def _gzip_blocks(raw: IO[bytes]) -> Iterator[bytes]:
    data = raw.read(IN_BYTES)
    if not data:
        raise InflateUnsure("an empty file")
    inflater = _GZIP.decompressobj(_GZIP.MAX_WBITS | 16)
    while True:
        out = inflater.decompress(data, OUT_BYTES)
        data = inflater.unconsumed_tail
        if out:
            yield out
        if inflater.eof:
            rest = inflater.unused_data
            while True:  # zero padding, then another member or the end
                rest = rest.lstrip(b"\0")
                if rest:
                    break
                rest = raw.read(IN_BYTES)
                if not rest:
                    return
            inflater = _GZIP.decompressobj(_GZIP.MAX_WBITS | 16)
            data = rest
            continue
        if data or out:
            continue  # input left, or output the window may still hold
        data = raw.read(IN_BYTES)
        if not data:
            raise InflateUnsure("the compressed data ends inside a member")


def _one_stream_blocks(raw: IO[bytes], factory: Callable[[], _Decompressor]) -> Iterator[bytes]:
    data = raw.read(IN_BYTES)
    if not data:
        raise InflateUnsure("an empty file")
    decompressor = factory()
    while True:
        out = decompressor.decompress(data, OUT_BYTES)
        data = b""
        if out:
            yield out
        if decompressor.eof:
            if decompressor.unused_data or raw.read(1):
                # BZ2File and LZMAFile read more streams, and ignore data that is not one.
                raise InflateUnsure("data after the first stream")
            return
        if decompressor.needs_input:
            data = raw.read(IN_BYTES)
            if not data:
                raise InflateUnsure("the compressed data ends inside the stream")


def _blocks(kind: str, raw: IO[bytes]) -> Iterator[bytes]:
    if kind == "gz":
        return _gzip_blocks(raw)
    if kind == "bz2":
        return _one_stream_blocks(raw, bz2.BZ2Decompressor)
    if kind == "xz":
        return _one_stream_blocks(raw, lzma.LZMADecompressor)
    raise ValueError(f"no threaded reader for {kind!r}")


_END = object()


class ThreadedInflate:
    """The decompressed bytes of ``raw`` (``kind``: ``gz``, ``bz2`` or ``xz``), inflated ahead
    by a background thread. :meth:`read` returns exactly ``size`` bytes but at the end, and
    raises what the decompression raised (:class:`InflateUnsure` for what it does not decide).
    :meth:`close` stops the thread; it does not close ``raw``."""

    def __init__(self, kind: str, raw: IO[bytes], *, blocks: int = QUEUE_BLOCKS) -> None:
        self._source = _blocks(kind, raw)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=blocks)
        self._stop = threading.Event()
        self._block = b""
        self._offset = 0
        self._error: BaseException | None = None
        self._ended = False
        self._thread = threading.Thread(target=self._run, name="atr-inflate", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for block in self._source:
                if self._stop.is_set():
                    return
                self._queue.put(block)
            self._queue.put(_END)
        except Exception as exc:  # handed to the reader, who decides
            self._queue.put(exc)

    def _next_block(self) -> bool:
        if self._error is not None:
            raise self._error
        if self._ended:
            return False
        item = self._queue.get()
        if item is _END:
            self._ended = True
            return False
        if isinstance(item, BaseException):
            self._error = item
            raise item
        if not isinstance(item, bytes):  # pragma: no cover - only bytes, errors and _END are put
            raise TypeError(f"unexpected {type(item).__name__} from the inflating thread")
        self._block = item
        self._offset = 0
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = [self._block[self._offset :]]
            self._block, self._offset = b"", 0
            while self._next_block():
                parts.append(self._block)
            self._block = b""
            return b"".join(parts)
        parts = []
        while size > 0:
            left = len(self._block) - self._offset
            if left <= 0:
                if not self._next_block():
                    break
                left = len(self._block)
            if self._offset == 0 and size >= left:
                parts.append(self._block)  # the whole block: no copy
                take = left
            else:
                take = min(size, left)
                parts.append(self._block[self._offset : self._offset + take])
            self._offset += take
            size -= take
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    def close(self) -> None:
        """Stop the thread (it may be waiting for room in the queue, or inflating one block)."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()
        self._block = b""


_KINDS = {".gz": "gz", ".tgz": "gz", ".bz2": "bz2", ".xz": "xz"}


def kind_of(path: Path) -> str | None:
    """The threaded reader's kind for a file name (``gz``, ``bz2``, ``xz``), or ``None``."""
    return _KINDS.get(path.suffix.lower())


_prefetched: dict[tuple[object, ...], tuple[IO[bytes], ThreadedInflate]] = {}
_prefetched_lock = threading.Lock()


def _identity(path: Path) -> tuple[object, ...]:
    st = path.stat()
    return (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def prefetch(path: Path) -> None:
    """Start inflating ``path`` now (at most :data:`PREFETCH_BLOCKS` blocks ahead), for the
    first reader of the same unchanged file (:func:`take_prefetched`)."""
    kind = kind_of(path)
    if kind is None:
        return
    try:
        key = _identity(path)
        raw = open(path, "rb")  # noqa: SIM115 - handed over with the stream
    except OSError:
        return
    stream = ThreadedInflate(kind, raw, blocks=PREFETCH_BLOCKS)
    with _prefetched_lock:
        old = _prefetched.pop(key, None)
        _prefetched[key] = (raw, stream)
    if old is not None:
        _close(old)


def take_prefetched(path: Path) -> tuple[IO[bytes], ThreadedInflate] | None:
    """The file and the stream :func:`prefetch` started for ``path`` (unchanged since), now
    the caller's to close; ``None`` if there is none."""
    try:
        key = _identity(path)
    except OSError:
        return None
    with _prefetched_lock:
        return _prefetched.pop(key, None)


def _close(opened: tuple[IO[bytes], ThreadedInflate]) -> None:
    raw, stream = opened
    stream.close()
    raw.close()


def drop_prefetched() -> None:
    """Stop and forget the streams no one took."""
    with _prefetched_lock:
        left = list(_prefetched.values())
        _prefetched.clear()
    for opened in left:
        _close(opened)
