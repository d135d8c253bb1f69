"""Write a file so that readers see the old file or the whole new one, never half of it.

Three promises, kept here for every command that writes a file:

* whole or not at all: the data goes to a hidden ``.<name>.<random>.part`` file beside the
  target, renamed onto it only when complete;
* never over an input: a target that is the same file as an input of the run (see
  :mod:`anchorctl.inputs`) is refused before anything is written;
* never over a file the user could not write: an existing target without write permission is
  refused, though renaming over it would succeed in a writable folder.

When the process must stop (a signal), :func:`abandon` removes every temporary file being
written and makes each :func:`atomic_write` still running fail instead of renaming.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

from anchorctl import inputs
from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    from pathlib import Path

_parts: set[str] = set()  # temporary files being written now
_stop: BaseException | None = None  # set by abandon(): why no file may be completed


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[bytes]]:
    """Open a temporary file beside ``path``; rename it onto ``path`` only on success.

    On any exception the temporary file is removed and ``path`` is left as it was. A target
    that exists and is not a regular file (``/dev/null``, a named pipe, a terminal) is
    written in place: renaming over it would replace the device with a file.

    Raises:
        AnchorError: ``path`` is the same file as an input of this run.
        PermissionError: ``path`` exists and the user may not write it.
    """
    from pathlib import Path

    target = Path(path)
    check_target(target)
    try:
        special = target.exists() and not target.is_file()
    except OSError:
        special = False
    if special:
        with open(target, mode) as handle:
            yield handle
        return
    tmp, fd = _create_part(target)
    try:
        # The part file is private (0600); give it the mode a plain open() would.
        os.chmod(tmp, _mode_for(target))
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if _stop is not None:
            raise _stop
        _check_writable(target)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        _parts.discard(tmp)


def abandon(reason: BaseException) -> None:
    """Remove every temporary file being written now; from here on, no atomic_write renames
    its file onto its target but raises ``reason`` instead. Safe to call from a signal handler.
    """
    global _stop
    _stop = reason
    for part in list(_parts):
        with contextlib.suppress(OSError):
            os.unlink(part)


def resume() -> None:
    """Undo :func:`abandon` (for a process that goes on after a stopped run, e.g. tests)."""
    global _stop
    _stop = None


def check_target(path: str | os.PathLike[str]) -> None:
    """Refuse, before any work, a target :func:`atomic_write` would refuse.

    Raises:
        AnchorError: ``path`` is the same file as an input of this run (the message names
            both when they are spelled differently).
        PermissionError: ``path`` exists and the user may not write it.
    """
    if _stop is not None:
        raise _stop
    from pathlib import Path

    target = Path(path)
    same = inputs.input_named_by(target)
    if same is not None:
        other = f" (the output {str(target)!r} is that same file)" if same != str(target) else ""
        raise AnchorError(f"refusing to overwrite the input {same!r}{other}; choose another output")
    _check_writable(target)


def _check_writable(target: Path) -> None:
    """An existing target the user has no write permission for is refused, as ``open`` would
    refuse it: renaming over it needs only the folder's permission, and would hand the
    file to the user."""
    try:
        exists = target.is_file()
    except OSError:
        return
    effective = os.access in os.supports_effective_ids
    if exists and not os.access(target, os.W_OK, effective_ids=effective):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(target))


def _create_part(target: Path) -> tuple[str, int]:
    """A new temporary file beside ``target``: ``(name, descriptor)``.

    The name is recorded before the file exists, so a signal arriving at any moment finds it
    in :data:`_parts` (a name recorded but never created is harmless to remove).
    """
    for _ in range(100):
        tmp = os.path.join(target.parent, f".{target.name}.{os.urandom(4).hex()}.part")
        _parts.add(tmp)
        try:
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600
            )
        except FileExistsError:
            _parts.discard(tmp)
            continue
        except BaseException:
            _parts.discard(tmp)
            raise
        return tmp, fd
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", str(target))


def _mode_for(target: Path) -> int:
    """The existing file's permissions, or 0666 less the umask for a new file."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
