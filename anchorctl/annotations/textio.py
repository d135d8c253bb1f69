"""Reading annotation files a block at a time, with bounds, so garbage fails fast.

Every text reader goes through :class:`TextBlocks`: the file is read in blocks of at most
:data:`BLOCK_BYTES` (a pipe gives what has come, so its boxes are worked on as they arrive
rather than once a whole block is there), decoded as UTF-8 (a byte-order mark is allowed)
incrementally, and
the byte offset of every block is known, so an error can name the byte where it happened.
Memory stays near one block whatever the file's size, and an input that never ends
(``/dev/zero``, ``/dev/urandom``, a pipe) is refused once it breaks a bound:

* :func:`lines` refuses a line longer than :data:`MAX_LINE` characters (a CSV or YOLO line
  is short; ``/dev/zero`` is one endless line);
* the JSON scanner refuses a single value larger than :data:`MAX_VALUE` characters;
* :func:`read_capped` refuses a whole file larger than its cap (VOC XML files).

Bytes that are not UTF-8 stop the read at the first of them, with its byte offset.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Callable, Iterator
from typing import BinaryIO

from anchorctl import inputs
from anchorctl.errors import AnchorError

__all__ = [
    "BLOCK_BYTES",
    "MAX_LINE",
    "MAX_VALUE",
    "TextBlocks",
    "lines",
    "open_binary",
    "read_capped",
]

BLOCK_BYTES = 1 << 22  # 4 MiB per read
MAX_LINE = 1 << 20  # characters in one CSV or YOLO line
MAX_VALUE = 1 << 26  # characters in one JSON value the scanner holds at once (64 Mi)


def open_binary(path: str | os.PathLike[str], name: str) -> BinaryIO:
    """The file opened for reading bytes, or :class:`AnchorError` naming it and why not.

    The file is registered as an input of the run (:func:`anchorctl.inputs.register_open`),
    so that no output of the same run replaces it or is appended to it.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 (returned open, for the caller's `with`)
    except (FileNotFoundError, NotADirectoryError):
        raise AnchorError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise AnchorError(f"{name}: it is a folder, expected a file") from None
    except PermissionError:
        raise AnchorError(f"{name}: permission denied") from None
    except OSError as exc:
        raise AnchorError(f"{name}: cannot read it ({_reason(exc)})") from None
    try:
        inputs.register_open(handle, name)
    except BaseException:
        handle.close()
        raise
    return handle


def _reason(exc: OSError) -> str:
    return " ".join((exc.strerror or str(exc) or type(exc).__name__).split())


def file_size(handle: BinaryIO) -> int:
    """The size in bytes of a regular file, 0 for a pipe or a device."""
    try:
        stat = os.fstat(handle.fileno())
    except (OSError, AttributeError, ValueError):
        return 0
    import stat as st

    return stat.st_size if st.S_ISREG(stat.st_mode) else 0


class TextBlocks:
    """A binary file as decoded text blocks, each with the byte offset where it starts.

    ``what`` names the expected content in the error for bytes that are not UTF-8 (e.g.
    ``"COCO JSON in UTF-8"``). ``bytes_read`` is how far the file has been read, for
    progress; ``size`` the file's size (0 when unknown: a pipe or a device).
    """

    def __init__(self, handle: BinaryIO, name: str, what: str, block: int = BLOCK_BYTES):
        self.handle = handle
        self.name = name
        self.what = what
        self.block = block
        self.size = file_size(handle)
        self.bytes_read = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._first = True
        self.eof = False
        # read1: at most one system call, so a pipe's data is handed on as it comes
        self._read = getattr(handle, "read1", handle.read)

    def next_block(self) -> tuple[str, int]:
        """The next piece of text and the byte offset of its first character; ``""`` at EOF."""
        while not self.eof:
            start = self.bytes_read
            try:
                raw = self._read(self.block)
            except OSError as exc:
                raise AnchorError(f"{self.name}: cannot read it ({_reason(exc)})") from None
            self.bytes_read += len(raw)
            final = not raw
            if self._first and raw:
                self._first = False
                if raw.startswith(codecs.BOM_UTF8):
                    raw = raw[3:]
                    start += 3
            # Bytes the decoder held back from the previous block start before `start`.
            held = len(self._decoder.getstate()[0])
            try:
                text = self._decoder.decode(raw, final)
            except UnicodeDecodeError as exc:
                at = start - held + exc.start
                raise AnchorError(
                    f"{self.name}: not a text file (byte {at} is not UTF-8); expected {self.what}"
                ) from None
            if final:
                self.eof = True
            if text:
                return text, start - held
        return "", self.bytes_read


def lines(
    blocks: TextBlocks, what: str, progress: Callable[[int, int], None] | None = None
) -> Iterator[str]:
    """The lines of the text with their line ends (``\\n``, ``\\r\\n`` or ``\\r``), as
    :func:`open` with ``newline=""`` gives them, refusing a line longer than
    :data:`MAX_LINE` characters (``what`` says what was expected, for that error)."""
    pending = ""
    number = 0
    while True:
        text, _ = blocks.next_block()
        if not text:
            break
        if progress is not None:
            progress(blocks.bytes_read, max(blocks.size, blocks.bytes_read))
        text = pending + text
        parts = _split(text)
        # The last part may continue in the next block (or be a "\r" before its "\n").
        pending = parts.pop() if parts and not parts[-1].endswith("\n") else ""
        for part in parts:
            number += 1
            if len(part) > MAX_LINE:
                _too_long(blocks.name, number, what)
            yield part
        if len(pending) > MAX_LINE:
            _too_long(blocks.name, number + 1, what)
    if pending:
        yield pending


_LONE_CR = re.compile(r"(?<=\r)(?!\n)|(?<=\n)")


def _split(text: str) -> list[str]:
    """``text`` cut after each ``\n``, ``\r\n`` or lone ``\r`` (ends kept; the last part
    may be empty or unfinished). Other characters that :meth:`str.splitlines` treats as line
    ends (form feed, U+2028, ...) are data in CSV and YOLO files."""
    if "\r" not in text or text.count("\r") == text.count("\r\n"):
        parts = text.split("\n")
        last = parts.pop()
        out = [part + "\n" for part in parts]
        if last:
            out.append(last)
        return out
    return [part for part in _LONE_CR.split(text) if part]


def _too_long(name: str, number: int, what: str) -> None:
    raise AnchorError(
        f"{name}: line {number} is longer than {MAX_LINE:,} characters; expected {what}"
    )


def read_capped(path: str | os.PathLike[str], name: str, cap: int, what: str) -> bytes:
    """The whole file, refusing one larger than ``cap`` bytes after reading ``cap + 1``."""
    with open_binary(path, name) as handle:
        try:
            raw = handle.read(cap + 1)
        except OSError as exc:
            raise AnchorError(f"{name}: cannot read it ({_reason(exc)})") from None
    if len(raw) > cap:
        raise AnchorError(f"{name}: larger than {cap // 2**20} MiB; expected {what}")
    return raw
