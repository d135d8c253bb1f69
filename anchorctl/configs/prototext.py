"""A small reader of protocol-buffer text format (TF Object Detection API ``pipeline.config``).

Protobuf text is a list of fields: ``name: value`` for a scalar (number, quoted string,
``true``/``false``, an enum name), ``name { ... }`` or ``name: { ... }`` (also ``< ... >``)
for a message, and ``name: [v1, v2]`` for several values at once. A field may repeat; ``#``
starts a comment; ``,`` or ``;`` may end a field. :func:`parse` returns each message as a
:class:`Message`: field name -> list of values in file order (a message value is itself a
:class:`Message`), with the line of each field for error messages. No schema is needed: the
reader of the fields decides what they mean.

Bounds: messages nest at most 64 levels; the text is already size-capped by
:mod:`anchorctl.configs.reading`. Errors are one line naming the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from anchorctl.configs.reading import MAX_NESTING
from anchorctl.errors import AnchorError

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\f\v]+|\#[^\n]*)
  | (?P<newline>\n)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?)(?![\w.]))
  | (?P<name>[-+]?[A-Za-z_][\w.]*|\[[A-Za-z_][\w./]*\])
  | (?P<punct>[{}<>\[\]:,;])
    """,
    re.X,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}


@dataclass
class Message:
    """One message: ``fields[name]`` is the list of that field's values, ``lines[name]`` the
    line of each."""

    fields: dict[str, list[Any]] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict)
    line: int = 1

    def add(self, name: str, value: Any, line: int) -> None:
        self.fields.setdefault(name, []).append(value)
        self.lines.setdefault(name, []).append(line)

    def one(self, name: str) -> Any:
        """The field's last value (protobuf: the last one wins for a singular field), or None."""
        values = self.fields.get(name)
        return values[-1] if values else None

    def all(self, name: str) -> list[Any]:
        return list(self.fields.get(name, []))

    def line_of(self, name: str) -> int:
        lines = self.lines.get(name)
        return lines[-1] if lines else self.line

    def message(self, name: str) -> Message | None:
        value = self.one(name)
        return value if isinstance(value, Message) else None


@dataclass
class _Token:
    kind: str
    text: str
    line: int


def _tokens(text: str, name: str) -> Iterator[_Token]:
    line, pos = 1, 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise AnchorError(f"{name}:{line}: not protobuf text near {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        pos = match.end()
        if kind == "newline":
            line += 1
        elif kind != "space":
            yield _Token(kind, match.group(), line)
    yield _Token("end", "", line)


class _Parser:
    def __init__(self, text: str, name: str) -> None:
        self.name = name
        self.tokens = _tokens(text, name)
        self.token = next(self.tokens)

    def fail(self, what: str) -> AnchorError:
        shown = repr(self.token.text) if self.token.kind != "end" else "the end of the file"
        return AnchorError(f"{self.name}:{self.token.line}: expected {what}, found {shown}")

    def advance(self) -> _Token:
        token = self.token
        self.token = next(self.tokens)
        return token

    def accept(self, text: str) -> bool:
        if self.token.kind == "punct" and self.token.text == text:
            self.advance()
            return True
        return False

    def message(self, close: str | None, depth: int, line: int) -> Message:
        if depth > MAX_NESTING:
            raise AnchorError(
                f"{self.name}:{self.token.line}: messages nest more than {MAX_NESTING} levels"
            )
        out = Message(line=line)
        while True:
            if close is None and self.token.kind == "end":
                return out
            if close is not None and self.accept(close):
                return out
            if self.token.kind != "name" or self.token.text[0] in "+-":
                raise self.fail("a field name" + (f" or {close!r}" if close else ""))
            name_token = self.advance()
            colon = self.accept(":")
            if self.token.kind == "punct" and self.token.text in "{<":
                opener = self.advance().text
                value = self.message("}" if opener == "{" else ">", depth + 1, name_token.line)
                out.add(name_token.text, value, name_token.line)
            elif not colon:
                raise self.fail(f"':' or '{{' after {name_token.text!r}")
            elif self.accept("["):
                if not self.accept("]"):
                    while True:
                        out.add(name_token.text, self.item(depth), name_token.line)
                        if self.accept("]"):
                            break
                        if not self.accept(","):
                            raise self.fail("',' or ']'")
            else:
                out.add(name_token.text, self.scalar(), name_token.line)
            if not self.accept(","):
                self.accept(";")

    def item(self, depth: int) -> Any:
        if self.token.kind == "punct" and self.token.text in "{<":
            opener = self.advance()
            return self.message("}" if opener.text == "{" else ">", depth + 1, opener.line)
        return self.scalar()

    def scalar(self) -> Any:
        token = self.token
        if token.kind == "string":
            parts = []
            while self.token.kind == "string":  # adjacent strings join, as in C
                parts.append(_unquote(self.advance().text))
            return "".join(parts)
        if token.kind == "number":
            self.advance()
            return _number(token.text)
        if token.kind == "name":
            self.advance()
            word = token.text.lower().lstrip("+")
            if word in ("true", "t"):
                return True
            if word in ("false", "f"):
                return False
            if word in ("inf", "infinity", "-inf", "-infinity", "nan", "-nan"):
                return float(word.replace("infinity", "inf"))
            return token.text  # an enum value
        raise self.fail("a value")


def _number(text: str) -> int | float:
    body = text.rstrip("fF") if not text.lower().startswith(("0x", "-0x", "+0x")) else text
    if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", body):
        return int(body, 16)
    if re.fullmatch(r"[-+]?\d+", body):
        return int(body)
    return float(body)


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def parse(text: str, name: str) -> Message:
    """The top-level message of protobuf text ``text`` read from file ``name``."""
    return _Parser(text, name).message(None, 0, 1)
