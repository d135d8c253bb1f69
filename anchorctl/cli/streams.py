"""Where a command's output goes: closed standard streams, stdout as a file, ``-o FILE``.

Python sets ``sys.stdout`` to ``None`` when the process starts with descriptor 1 closed
(``anchorctl list >&-``), and every ``sys.stdout.isatty()`` would then be an AttributeError.
:func:`closed_streams_replaced` puts a stand-in there whose writes fail with one clear
``OSError`` (reported by the error boundary in one line), so a command that writes only to
``-o FILE`` still works. A closed stderr becomes a sink: there is nowhere to report to, the
exit status still tells.

An output file is refused before any work, in one line, when the atomic write at the end would
refuse it (:func:`check_output`): every command that writes files (draw, list, report, view)
refuses an input the same way.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    from pathlib import Path


class ClosedStream(io.TextIOBase):
    """A text stream whose writes fail with EBADF: stands for a closed stdout."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name
        self.buffer = _ClosedBinary(name)

    @property
    def name(self) -> str:
        return self._name

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        raise _closed(self._name)

    def flush(self) -> None:  # nothing is buffered; the interpreter's last flush must pass
        return None

    def fileno(self) -> int:
        raise _closed(self._name)


class _ClosedBinary(io.RawIOBase):
    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raise _closed(self._name)

    def fileno(self) -> int:
        raise _closed(self._name)


def _closed(name: str) -> OSError:
    return OSError(errno.EBADF, f"{name} is closed")


@contextlib.contextmanager
def closed_streams_replaced() -> Iterator[None]:
    """While the block runs, a closed stdout is a :class:`ClosedStream` and a closed stderr
    writes to the null device."""
    saved = sys.stdout, sys.stderr
    sink = None
    if sys.stdout is None:
        sys.stdout = ClosedStream("stdout")
    if sys.stderr is None:
        sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (closed below)
        sys.stderr = sink
    try:
        yield
    finally:
        if sys.stdout is not saved[0] and isinstance(sys.stdout, ClosedStream):
            sys.stdout = saved[0]
        if sink is not None:
            sys.stderr = saved[1]
            sink.close()


def stdout_file() -> str | None:
    """The path of the regular file stdout is redirected to (``> big.json``), else ``None``.

    Read from ``/proc/self/fd/1`` (Linux); where that is unavailable, ``None``.
    """
    try:
        fd = sys.stdout.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        path = os.readlink(f"/proc/self/fd/{fd}")
    except (AttributeError, OSError, ValueError):
        return None
    return path if os.path.isabs(path) and os.path.exists(path) else None


def check_output(path: Path) -> None:
    """Refuse, before any work, an output file :func:`anchorctl.atomic.atomic_write` would
    refuse at the end: one of the run's inputs however it is spelled (:mod:`anchorctl.inputs`),
    or an existing file the user may not write.

    Raises:
        AnchorError: ``refusing to overwrite the input ...; choose another output``, or
            ``cannot write ...: Permission denied``.
    """
    from anchorctl.atomic import check_target

    try:
        check_target(path)
    except OSError as exc:
        raise AnchorError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
