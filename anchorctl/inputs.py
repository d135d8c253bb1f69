"""The files a run reads, so that no output of the same run can replace one of them.

A file is known by its identity, ``(st_dev, st_ino)``, not by its name: another spelling
(``./x.jpg``), a symlink or a hard link to an input is the same input. Two ways in, both
feeding one registry:

* the command line: :class:`anchorctl.params.InputPath` registers each path it parses, so an
  input that is read only later (the second image of ``draw a.jpg b.jpg``) is known before the
  first output is written;
* every file opened for reading while :func:`watching` is active, through a Python audit hook
  (:func:`sys.addaudithook`), so readers (images, configs, each file of an annotations folder)
  need not remember to register.

The annotation readers also call :func:`register_open` for each file they open. That makes
the registry independent of where the hook can see (a hook sees only its own process), and
checks each file against stdout (``coverage labels/ >> labels/x.txt`` is refused when the
reader reaches ``x.txt``). Annotations are always read in the process that writes the output
(``coverage --jobs N`` sends boxes to its workers, never files), so that is where they are
registered.

:func:`anchorctl.atomic.atomic_write` asks :func:`input_named_by` before it writes, and
refuses a target that is an input. Outside :func:`watching` (library use) only explicit
:func:`register` calls count.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Iterator
from typing import Any

from anchorctl.errors import AnchorError

Identity = tuple[int, int]


class SameFileError(AnchorError):
    """An input of the run is where its output goes (stdout appended to a file being read).

    It ends the run: a reader that skips a file it cannot read must let this through.
    """


_inputs: dict[Identity, str] = {}
_watching = False
_hooked = False


def identity(path: str | bytes | os.PathLike[str]) -> Identity | None:
    """``(st_dev, st_ino)`` of the file at ``path`` (through symlinks), ``None`` if none."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    return status.st_dev, status.st_ino


def register(path: str | bytes | os.PathLike[str]) -> None:
    """Record ``path`` as an input of this run.

    Raises :class:`SameFileError` when stdout is that same regular file (``>> input``): the
    output would be appended to the file being read.
    """
    key = identity(path)
    if key is not None:
        _add(key, os.fsdecode(path))


def register_open(handle: Any, name: str) -> None:
    """Record the file open in ``handle`` (any object with ``fileno()``) as an input of the
    run :func:`watching` watches, as :func:`register` does; nothing outside ``watching``
    (library use keeps no registry of what it reads)."""
    if not _watching:
        return
    try:
        status = os.fstat(handle.fileno())
    except (AttributeError, OSError, ValueError):
        return
    _add((status.st_dev, status.st_ino), name)


def _add(key: Identity, name: str) -> None:
    """Record an input; refuse it when stdout is that same regular file."""
    _inputs.setdefault(key, name)
    if key == _stdout_identity():
        raise SameFileError(
            f"refusing to read {name!r}: stdout is redirected to that same file; "
            "write the output elsewhere"
        )


def input_named_by(path: str | os.PathLike[str]) -> str | None:
    """The input (as first named) that ``path`` is the same file as, or ``None``."""
    key = identity(path)
    return _inputs.get(key) if key is not None else None


@contextlib.contextmanager
def watching() -> Iterator[None]:
    """Register every file opened for reading until the block ends; forget them all after."""
    global _watching, _hooked
    if not _hooked:
        sys.addaudithook(_on_audit)  # cannot be removed: it does nothing outside `watching`
        _hooked = True
    outer = _watching
    _watching = True
    try:
        yield
    finally:
        _watching = outer
        if not outer:
            _inputs.clear()


def _on_audit(event: str, args: tuple[Any, ...]) -> None:
    """The ``open`` audit event: ``(path, mode, flags)``; a read-only open is an input."""
    if not _watching or event != "open":
        return
    path, _mode, flags = args
    if not isinstance(path, (str, bytes)) or flags is None:
        return  # an open file descriptor: its path was registered when it was opened
    if flags & os.O_ACCMODE != os.O_RDONLY:
        return
    key = identity(path)
    if key is not None:
        _inputs.setdefault(key, os.fsdecode(path))


def _stdout_identity() -> Identity | None:
    """stdout's identity when it is a regular file, else ``None``."""
    try:
        status = os.fstat(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return None
    return (status.st_dev, status.st_ino) if stat.S_ISREG(status.st_mode) else None
