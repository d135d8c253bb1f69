"""Refuse allocations that cannot fit, before making them.

A user who types ``--feature-map 100000x100000`` should get a sentence with the number of
bytes and a way out, not a MemoryError traceback or a machine that swaps for an hour.

What "fits" is the least of: the memory the machine can hand out now (``MemAvailable``),
the address space this process may still map (``ulimit -v``, ``RLIMIT_AS``, less what the
process maps already), the data segment it may still grow (``ulimit -d``, ``RLIMIT_DATA``),
and ``ANCHORCTL_MAX_BYTES`` when set.
"""

from __future__ import annotations

import os
from typing import Any

from anchorctl.errors import TooLarge


def available_bytes() -> int | None:
    """Memory this process can still allocate, in bytes, or ``None`` when it cannot be told."""
    limits = [v for v in (_machine_available(), *_rlimit_room()) if v is not None]
    return min(limits) if limits else None


def _machine_available() -> int | None:
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


def _rlimit_room() -> tuple[int | None, int | None]:
    """``(address space left under RLIMIT_AS, data segment left under RLIMIT_DATA)``."""
    try:
        import resource
    except ImportError:  # not on this platform
        return None, None
    status = _self_status()
    out: list[int | None] = []
    for limit, key in ((resource.RLIMIT_AS, "VmSize"), (resource.RLIMIT_DATA, "VmData")):
        try:
            soft, _ = resource.getrlimit(limit)
        except (OSError, ValueError):
            out.append(None)
            continue
        if soft == resource.RLIM_INFINITY or soft < 0:
            out.append(None)
            continue
        used = status.get(key)
        out.append(max(0, soft - used) if used is not None else soft)
    return out[0], out[1]


def _self_status() -> dict[str, int]:
    """``VmSize`` and ``VmData`` of this process in bytes, from ``/proc/self/status``."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmSize", "VmData"):
                    out[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return out


def limit_bytes() -> int | None:
    """The byte budget :func:`check_fits` applies: free memory, rlimits and the env cap."""
    limit = available_bytes()
    env = os.environ.get("ANCHORCTL_MAX_BYTES", "").strip()
    if env.isdigit():
        limit = int(env) if limit is None else min(limit, int(env))
    return limit


def check_fits(nbytes: int, what: str, way_out: str, limit: int | None = None) -> None:
    """Raise :class:`~anchorctl.errors.TooLarge` when ``nbytes`` exceed ``limit``.

    ``limit`` defaults to :func:`limit_bytes` (free memory, ``ulimit -v`` / ``-d`` room and
    ``ANCHORCTL_MAX_BYTES``).
    """
    if limit is None:
        limit = limit_bytes()
    if limit is not None and nbytes > limit:
        raise TooLarge(
            f"{what} need {human_bytes(nbytes)} of memory but only "
            f"{human_bytes(limit)} is available; {way_out}"
        )


def allocate(shape: tuple[int, ...], dtype: Any, what: str, way_out: str) -> Any:
    """``np.empty(shape, dtype)`` after :func:`check_fits`; a MemoryError the estimate missed
    (overcommit, a limit set by other means) becomes :class:`~anchorctl.errors.TooLarge`."""
    import numpy as np

    size = 1
    for n in shape:
        size *= int(n)
    nbytes = size * np.dtype(dtype).itemsize
    check_fits(nbytes, what, way_out)
    try:
        return np.empty(shape, dtype=dtype)
    except (MemoryError, ValueError):  # ValueError: "array is too big" for numpy itself
        raise TooLarge(
            f"{what} need {human_bytes(nbytes)} of memory, which this process cannot get; {way_out}"
        ) from None


def check_disk(path: str | os.PathLike[str], nbytes: int, what: str, way_out: str) -> None:
    """Raise :class:`~anchorctl.errors.TooLarge` when the folder of ``path`` has less than
    ``nbytes`` free."""
    import shutil

    folder = os.path.dirname(os.path.abspath(path))
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if nbytes > free:
        raise TooLarge(
            f"{what} take about {human_bytes(nbytes)} but {folder} has only "
            f"{human_bytes(free)} free; {way_out}"
        )


def human_bytes(nbytes: int) -> str:
    """``1536`` -> ``'1.5 KiB'``; binary units, one decimal."""
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if value < 1024 or unit == "EiB":
            if unit == "EiB" and value >= 1024:
                return f"{value:.3g} {unit}"
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
