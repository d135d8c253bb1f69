"""Refuse allocations that cannot fit, before making them.

A user who types ``--feature-map 100000x100000`` should get a sentence with the number of
bytes and a way out, not a MemoryError traceback or a machine that swaps for an hour.
"""

from __future__ import annotations

import os

from anchorctl.errors import AnchorError


def available_bytes() -> int | None:
    """Memory this machine can hand out now, in bytes, or ``None`` when it cannot be told."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(nbytes: int, what: str, way_out: str, limit: int | None = None) -> None:
    """Raise :class:`AnchorError` when ``nbytes`` exceed ``limit`` (default: free memory).

    ``ANCHORCTL_MAX_BYTES`` in the environment lowers the limit (useful on shared machines).
    """
    if limit is None:
        limit = available_bytes()
        env = os.environ.get("ANCHORCTL_MAX_BYTES", "").strip()
        if env.isdigit():
            limit = int(env) if limit is None else min(limit, int(env))
    if limit is not None and nbytes > limit:
        raise AnchorError(
            f"{what} need {human_bytes(nbytes)} of memory but only "
            f"{human_bytes(limit)} is available; {way_out}"
        )


def check_disk(path: str | os.PathLike[str], nbytes: int, what: str, way_out: str) -> None:
    """Raise :class:`AnchorError` when the folder of ``path`` has less than ``nbytes`` free."""
    import shutil

    folder = os.path.dirname(os.path.abspath(path))
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if nbytes > free:
        raise AnchorError(
            f"{what} take about {human_bytes(nbytes)} but {folder} has only "
            f"{human_bytes(free)} free; {way_out}"
        )


def human_bytes(nbytes: int) -> str:
    """``1536`` -> ``'1.5 KiB'``; binary units, one decimal."""
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
