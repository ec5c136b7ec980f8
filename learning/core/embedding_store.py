"""Embeddings kept on disk per backbone: append-only float16 chunks with their item ids.

Each chunk is one ``.npz`` (``ids`` int64, ``rows`` float16) written to a temporary name
and renamed, so a reader or a worker killed mid-write sees whole chunks or none: a new
worker lists what is stored and embeds only the rest. float16 halves the disk and the
read (a 100,000 x 512 pool is 100 MB); the heads train in float32 on what is read back.
Many small chunks are merged once they pile up; an id stored twice (a crash between a
merge and the deletion of its parts) is read once.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from learning.core.files import atomic_path

MERGE_AT = 64  # chunks


class EmbeddingStore:
    """The embeddings of one pool under one backbone, in ``folder``."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _chunks(self) -> list[Path]:
        return sorted(self.folder.glob("chunk-*.npz"))

    @contextmanager
    def writer(self) -> Iterator[EmbeddingStore]:
        """Hold the store's lock: one writer at a time; released if the process dies."""
        with (self.folder / "lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def ids(self) -> np.ndarray:
        """Every stored item id, sorted, each once."""
        parts = [np.load(chunk)["ids"] for chunk in self._chunks()]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def append(self, ids: np.ndarray, rows: np.ndarray) -> None:
        """Store one chunk atomically (hold :meth:`writer`)."""
        if len(ids) != len(rows):
            raise ValueError(f"{len(ids)} ids for {len(rows)} rows")
        self._write(np.asarray(ids, dtype=np.int64), np.asarray(rows, dtype=np.float16))

    def _write(self, ids: np.ndarray, rows: np.ndarray) -> Path:
        # Names sort in writing order; the pid keeps two processes' names apart.
        path = self.folder / f"chunk-{time.time_ns():020d}-{os.getpid()}.npz"
        with atomic_path(path) as temporary, temporary.open("wb") as file:
            np.savez(file, ids=ids, rows=rows)  # to a file object: no ".npz" appended
        return path

    def _read_all(self) -> tuple[np.ndarray, np.ndarray | None]:
        ids, rows = [], []
        for chunk in self._chunks():
            with np.load(chunk) as data:
                ids.append(data["ids"])
                rows.append(data["rows"])
        if not ids:
            return np.zeros(0, dtype=np.int64), None
        all_ids, first = np.unique(np.concatenate(ids), return_index=True)
        return all_ids, np.concatenate(rows)[first]

    def merge(self) -> None:
        """Rewrite the chunks as one once there are ``MERGE_AT`` (hold :meth:`writer`)."""
        chunks = self._chunks()
        if len(chunks) < MERGE_AT:
            return
        ids, rows = self._read_all()
        self._write(ids, rows)
        for chunk in chunks:
            chunk.unlink()

    def read(self, item_ids: np.ndarray) -> np.ndarray:
        """float32 rows for ``item_ids`` in their order; KeyError if one is missing."""
        stored, rows = self._read_all()
        item_ids = np.asarray(item_ids, dtype=np.int64)
        positions = np.searchsorted(stored, item_ids)
        found = positions < len(stored)
        found[found] = stored[positions[found]] == item_ids[found]
        if not found.all():
            raise KeyError(f"{int((~found).sum())} items have no embedding yet")
        if rows is None:
            return np.zeros((0, 0), dtype=np.float32)
        return rows[positions].astype(np.float32)
