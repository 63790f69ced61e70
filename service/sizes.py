"""Byte counts as people read them, for limits in messages."""

from __future__ import annotations


def size_text(n_bytes: int) -> str:
    """``100 MiB``, ``976.6 KiB``, ``512 bytes``, ``1 byte``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n_bytes >= size:
            return f"{n_bytes / size:.4g} {unit}"
    return f"{n_bytes} byte" if n_bytes == 1 else f"{n_bytes} bytes"
