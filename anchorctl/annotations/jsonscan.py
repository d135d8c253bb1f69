"""An incremental JSON scanner: one large document read value by value in bounded memory.

The standard library's C decoder does the work (``JSONDecoder.raw_decode`` on one value at
a time); this module only walks the structure around those values: the top-level object's
keys, and the elements of the arrays the caller wants one by one. Measured against the
alternatives (see ``benchmarks/bench_annotations.py``): one pass of this scanner over a COCO
file takes about the time of ``json.load`` or less, while ``ijson`` with its C backend
(``yajl2_c``) needs one full pass per top-level list the reader wants, in any key order.

Bounds: the text held at once is one block plus the value being decoded, and a single
value may not exceed :data:`~anchorctl.annotations.textio.MAX_VALUE` characters; containers
the caller does not want are skipped element by element, so they may be of any size. Errors
name the line, column and byte where the JSON goes wrong and stop the read there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from anchorctl.annotations.textio import MAX_VALUE, TextBlocks
from anchorctl.errors import AnchorError

__all__ = ["JsonScanner"]

_WS = re.compile(r"[ \t\n\r]*")
_TYPE_OF_START = {"[": "list", "{": "dict", '"': "str", "t": "bool", "f": "bool", "n": "NoneType"}
# A failed decode this far before the end of the text read so far cannot be the text's end
# cutting a value short (numbers and constants are shorter); only an unterminated string
# can be, and it is read further.
_GUARD = 1024
# Text past which array elements are decoded many at a time (see JsonScanner.batches).
_BULK = 1 << 16


class JsonScanner:
    """Walk a JSON document in ``blocks``; ``what`` says what was expected, for errors."""

    def __init__(self, blocks: TextBlocks, what: str) -> None:
        self.blocks = blocks
        self.name = blocks.name
        self.what = what
        self.buf = ""
        self.pos = 0
        self._byte = 0  # byte offset of buf[0]
        self._line = 1  # line of buf[0]
        self._col = 1  # column of buf[0]
        decoder = json.JSONDecoder()
        self._decode = decoder.raw_decode
        self._scan = decoder.scan_once  # type: ignore[attr-defined]

    # --- the text ---------------------------------------------------------------------

    def _fill(self) -> bool:
        """Read one more block (dropping what was consumed); False at the end of the file."""
        if self.pos:
            done = self.buf[: self.pos]
            self._byte += len(done) if done.isascii() else len(done.encode("utf-8", "replace"))
            newlines = done.count("\n")
            if newlines:
                self._line += newlines
                self._col = len(done) - done.rfind("\n")
            else:
                self._col += len(done)
            self.buf = self.buf[self.pos :]
            self.pos = 0
        text, start = self.blocks.next_block()
        if not text:
            if not self.buf:
                self._byte = start
            return False
        self.buf += text
        return True

    def where(self, pos: int | None = None) -> str:
        """``"line L column C, byte B"`` of ``pos`` in the text held (default: here)."""
        pos = self.pos if pos is None else pos
        before = self.buf[:pos]
        newlines = before.count("\n")
        line = self._line + newlines
        col = pos - before.rfind("\n") if newlines else self._col + pos
        size = len(before) if before.isascii() else len(before.encode("utf-8", "replace"))
        return f"line {line} column {col}, byte {self._byte + size}"

    def error(self, message: str, pos: int | None = None) -> AnchorError:
        return AnchorError(
            f"{self.name}: not valid JSON ({self.where(pos)}: {message}); expected {self.what}"
        )

    def peek(self) -> str | None:
        """The next character after whitespace (not consumed), None at the end of the file."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return None

    def take(self, expected: str, message: str) -> str:
        """Consume the next character, one of ``expected``, or raise ``message``."""
        char = self.peek()
        if char is None:
            raise self.error("the file ends before the JSON does (truncated?)")
        if char not in expected:
            raise self.error(message)
        self.pos += 1
        return char

    # --- values -----------------------------------------------------------------------

    def value(self) -> Any:
        """The next value, decoded; at most :data:`MAX_VALUE` characters of text."""
        if self.peek() is None:
            raise self.error("the file ends before the JSON does (truncated?)")
        while True:
            try:
                value, end = self._decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                cut_short = exc.msg.startswith("Unterminated string") or (
                    exc.pos + _GUARD >= len(self.buf)
                )
                if not cut_short or self.blocks.eof:
                    raise self.error(exc.msg, exc.pos) from None
                self._grow()
                continue
            except RecursionError:
                raise AnchorError(
                    f"{self.name}: not {self.what} (JSON nested too deeply at {self.where()})"
                ) from None
            # A number or constant that ends where the text read so far ends may go on.
            if end < len(self.buf) or self.blocks.eof:
                self.pos = end
                return value
            self._grow()

    def _grow(self) -> None:
        if len(self.buf) - self.pos > MAX_VALUE:
            raise AnchorError(
                f"{self.name}: a JSON value at {self.where()} is longer than "
                f"{MAX_VALUE:,} characters; expected {self.what}"
            )
        self._fill()

    def kind(self) -> str:
        """The JSON type of the next value, as Python names it (``"list"``, ``"dict"``...)."""
        char = self.peek()
        if char is None:
            return "nothing"
        if char in _TYPE_OF_START:
            return _TYPE_OF_START[char]
        return type(self.value()).__name__  # a number (or garbage, which raises)

    def items(self) -> Iterator[Any]:
        """The elements of the array that comes next, decoded one at a time."""
        for batch in self.batches(1024):
            yield from batch

    def batches(self, size: int) -> Iterator[list[Any]]:
        """The elements of the array that comes next, decoded, in lists of ``size``.

        The scanner's hot path: elements of objects are decoded many at a time by the C
        scanner (one call per block of text, as ``json.load`` makes one call per file);
        other elements one at a time, straight from the text, with the separator after
        each checked character by character. The general path (:meth:`value`,
        :meth:`take`) runs only at block ends, around unusual whitespace, and on errors.
        """
        self.take("[", "expected an array")
        if self.peek() == "]":
            self.pos += 1
            return
        scan = self._scan
        blank = " \t\n\r"
        batch: list[Any] = []
        buf, pos = self.buf, self.pos
        length = len(buf)
        careful_until = -1  # a run the bulk path failed on: element by element up to here
        while True:
            # Bulk: the elements up to the last "}," of the text read so far, decoded in one
            # call as "[...]". That decodes only if the cut falls between two elements (a
            # cut inside a string or a nested value leaves brackets or quotes unbalanced),
            # and then the values are exactly those elements.
            if pos > careful_until and length - pos > _BULK:
                cut = max(buf.rfind("},", pos, length), buf.rfind("}, ", pos, length))
                if cut > pos:
                    try:
                        values, end = scan("[" + buf[pos : cut + 1] + "]", 0)
                        bulk = end == cut + 3 - pos
                    except (StopIteration, json.JSONDecodeError, RecursionError):
                        bulk = False
                    if bulk:
                        batch.extend(values)
                        del values
                        while len(batch) >= size:
                            yield batch[:size]
                            del batch[:size]
                        end = cut + 1
                    else:
                        careful_until = cut
                        continue
                else:
                    careful_until = length
                    continue
            else:
                try:
                    value, end = scan(buf, pos)
                except (StopIteration, json.JSONDecodeError, RecursionError):
                    end = length
                if end >= length:  # the block ends, or an error: the careful path decides
                    self.pos = pos
                    value = self.value()
                    if self.buf is not buf:
                        careful_until = -1
                    buf, end = self.buf, self.pos
                    length = len(buf)
                batch.append(value)
                if len(batch) == size:
                    yield batch
                    batch = []
            # The separator: "," or "]", maybe with one space after (json.dump writes
            # ", "); anything else goes the careful way.
            if end + 2 < length and buf[end] == ",":
                pos = end + 1
                if buf[pos] not in blank:
                    continue
                pos += 1
                if buf[pos] not in blank:
                    continue
            self.pos = end
            if self.take(",]", "expected ',' or ']' after an array element") == "]":
                break
            self.peek()
            if self.buf is not buf:
                careful_until = -1
            buf, pos = self.buf, self.pos
            length = len(buf)
        if batch:
            yield batch

    def members(self) -> Iterator[str]:
        """The keys of the object that comes next; after each key, the caller reads (or
        :meth:`skip` s) its value before asking for the next."""
        self.take("{", "expected an object")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            if self.peek() != '"':
                raise self.error("expected a key in double quotes")
            key = self.value()
            self.take(":", "expected ':' after a key")
            yield key
            if self.take(",}", "expected ',' or '}' after a value") == "}":
                return

    def skip(self) -> None:
        """Read past the next value; arrays and objects element by element, so a large one
        never has to fit in memory."""
        char = self.peek()
        if char == "[":
            for _ in self._skip_items():
                pass
        elif char == "{":
            for _ in self.members():
                self.skip()
        else:
            self.value()

    def _skip_items(self) -> Iterator[None]:
        self.take("[", "expected an array")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            self.skip()
            yield None
            if self.take(",]", "expected ',' or ']' after an array element") == "]":
                return

    def end(self) -> None:
        """Check that nothing but whitespace follows the document."""
        if self.peek() is not None:
            raise self.error("extra data after the end of the JSON document")
