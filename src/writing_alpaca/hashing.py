"""sha256 digests: of a file's bytes (read in chunks) and of a text (its UTF-8 bytes).

The one place the package hashes things: the download manifest and pin checks, the training
and baseline run fingerprints, the tokenisation cache's key, the scorer caches.  (Downloading
and copying hash the bytes as they are written, in the same pass: :mod:`writing_alpaca.download`.)
"""

from __future__ import annotations

import hashlib
import os

#: bytes read at a time (the digest does not depend on it).
CHUNK_SIZE = 1 << 20


def sha256_file(path: str | os.PathLike[str], chunk_size: int = CHUNK_SIZE) -> str:
    """The hex sha256 of a file's bytes, read ``chunk_size`` bytes at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    """The hex sha256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
