"""Reading a config file within fixed bounds, and finding the files it inherits from.

A config is small text: framework configs are a few KiB. Whatever path a
user gives (``/dev/zero``, ``/dev/urandom``, a FIFO fed without end, a huge file), at most
:data:`MAX_BYTES` + 1 bytes are read before the file is refused, and text with more than
:data:`MAX_WORDS` words (numbers, names, strings) is refused before any parser builds a tree
of it (Python's ``ast`` takes about 1 KB of memory per list element). Inheritance chains
(MMDetection ``_base_``, Detectron2 ``_BASE_``) are at most :data:`MAX_BASE_DEPTH` files
deep and may not loop; values may nest at most :data:`MAX_NESTING` levels.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    from pathlib import Path

# The framework configs under tests/data/configs, written like the public ones, are at most
# 2.6 KiB and 250 words a file, inherit 1 file deep and nest 8 levels: the caps leave room.
MAX_BYTES = 1 << 20  # 1 MiB
MAX_WORDS = 50_000  # the cost at this cap: benchmarks/bench_configs.py
MAX_BASE_DEPTH = 16
MAX_NESTING = 64

_WORD = re.compile(r"[\w.+-]+|'[^'\n]*'|\"[^\"\n]*\"")


def read_bytes(path: str | Path) -> bytes:
    """At most :data:`MAX_BYTES` of ``path``; :class:`AnchorError` naming the file otherwise."""
    name = str(path)
    try:
        with open(path, "rb") as handle:
            try:
                size = os.fstat(handle.fileno()).st_size
            except OSError:  # pragma: no cover - fstat of an open file does not fail
                size = 0
            if size > MAX_BYTES:
                raise AnchorError(_too_big(name, f" ({size:,} bytes)"))
            data = handle.read(MAX_BYTES + 1)  # bounded: /dev/zero and endless FIFOs stop here
    except FileNotFoundError:
        raise AnchorError(f"config {name!r}: no such file") from None
    except IsADirectoryError:
        raise AnchorError(f"config {name!r}: it is a folder") from None
    except PermissionError:
        raise AnchorError(f"config {name!r}: permission denied") from None
    except OSError as exc:
        raise AnchorError(f"config {name!r}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:
        raise AnchorError(_too_big(name, ""))
    return data


def read_text(path: str | Path) -> str:
    """``path`` as UTF-8 text within the bounds above (a BOM is dropped)."""
    name = str(path)
    data = read_bytes(path)
    if b"\x00" in data:
        raise AnchorError(f"config {name!r}: not a text file (it holds NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnchorError(
            f"config {name!r}: not UTF-8 text (byte {exc.start}); is it a config file?"
        ) from None
    words = sum(1 for _ in _WORD.finditer(text))
    if words > MAX_WORDS:
        raise AnchorError(
            f"config {name!r}: {words:,} words; a config has at most {MAX_WORDS:,} "
            "(framework configs have a few thousand)"
        )
    return text


def _too_big(name: str, size: str) -> str:
    return (
        f"config {name!r}: larger than {MAX_BYTES // (1 << 20)} MiB{size}; a config file is "
        "a few KiB, is this the right file?"
    )


def base_path(child: Path, base: str, key: str, chain: Sequence[Path]) -> Path:
    """The file ``base`` named by ``child``'s inheritance ``key``, checked for depth and loops.

    ``base`` is relative to ``child``'s folder (as MMEngine and Detectron2 resolve it) or
    absolute; ``chain`` is the files already being read, outermost first.
    """
    if not isinstance(base, str) or not base:
        raise AnchorError(f"{child}: {key}: expected a file name, got {base!r}")
    if "::" in base or re.match(r"^[a-z][a-z0-9+.-]*://", base):
        raise AnchorError(
            f"{child}: {key} {base!r} names a package or a URL; anchorctl reads "
            "only files on disk: copy it next to the config and name it by its path"
        )
    from pathlib import Path

    path = Path(os.path.expanduser(base))
    if not path.is_absolute():
        path = child.parent / path
    if not path.is_file():
        what = "is not a regular file" if path.exists() else "not found"
        raise AnchorError(f"{child}: {key} {base!r} {what} (looked for {str(path)!r})")
    resolved = path.resolve()
    if resolved in {p.resolve() for p in chain}:
        raise AnchorError(
            f"{child}: {key} {base!r} inherits from itself "
            f"({' -> '.join(p.name for p in [*chain, path])})"
        )
    if len(chain) >= MAX_BASE_DEPTH:
        raise AnchorError(f"{child}: {key} chain is more than {MAX_BASE_DEPTH} files deep")
    return path


def check_nesting(value: object, where: str) -> None:
    """Refuse lists and dicts nested deeper than :data:`MAX_NESTING` (and shared cycles)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_NESTING:
            raise AnchorError(f"{where}: values nest more than {MAX_NESTING} levels deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)
