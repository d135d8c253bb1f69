"""IMAGE arguments as `draw` and `view` read them: a file, or a pipe read once.

Pillow needs to seek, and both commands read an image's size before the image, so a pipe,
socket or character device (``curl ... | anchorctl draw /dev/stdin``) is read whole first, at
most :data:`STREAM_LIMIT` bytes, and refused early when its first bytes are not an image.
Pillow is imported only when a stream has to be checked or decoded.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from anchorctl.errors import AnchorError

STREAM_LIMIT = 512 << 20  # bytes of an image read from a pipe
_HEAD_BYTES = 1 << 20  # enough of a stream for Pillow to tell whether it is an image


def picture_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of the image at ``path``, upright (after EXIF rotation): from the
    file's header, or for a streamed image (:func:`read_if_stream`) from its bytes."""
    if readable(path) is not path:
        from anchorctl.render import load_image

        size: tuple[int, int] = load_image(readable(path)).size
        return size
    from anchorctl.imagesize import image_size

    return image_size(path)


def read_if_stream(path: Path) -> Path:
    """``path`` itself, or for a pipe, socket or character device (``/dev/stdin``) a
    :class:`_Streamed` path holding its bytes, read once (at most :data:`STREAM_LIMIT`):
    Pillow needs to seek, and the header is read before the image."""
    import stat

    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return path  # missing or unreadable: reported when its turn comes
    if not (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)):
        return path
    from anchorctl.memory import human_bytes

    name = str(path)
    chunks: list[bytes] = []
    size = 0
    try:
        with open(path, "rb") as stream:
            checked = False
            while size <= STREAM_LIMIT:
                chunk = stream.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if not checked and size >= _HEAD_BYTES:  # endless garbage is refused early
                    _check_image_start(b"".join(chunks), name)
                    checked = True
    except OSError as exc:
        raise AnchorError(f"cannot read image {name!r}: {exc.strerror or exc}") from None
    if size > STREAM_LIMIT:
        raise AnchorError(
            f"cannot read image {name!r}: more than {human_bytes(STREAM_LIMIT)} from a "
            "pipe; save it to a file and give that"
        )
    data = b"".join(chunks)
    streamed = _Streamed(path)
    streamed.data = data
    return streamed


def _check_image_start(head: bytes, name: str) -> None:
    """Refuse a stream whose first bytes are not the start of an image Pillow knows."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(head)):
            pass
    except UnidentifiedImageError:
        raise AnchorError(f"cannot read image {name!r}: not an image Pillow can read") from None
    except Exception:  # the header runs past the first chunk: the whole image will tell
        return


class _Streamed(type(Path())):  # type: ignore[misc]
    """The path of a pipe whose bytes were read already (see :func:`read_if_stream`);
    paths derived from it (``.parent``) have no ``data``."""

    data: bytes | None = None


def readable(path: Path) -> Path:
    """What Pillow opens for ``path``: the path, or a streamed image's bytes (named, so
    messages still name the file)."""
    data = path.data if isinstance(path, _Streamed) else None
    if data is None:
        return path
    import io

    class _Named(io.BytesIO):
        def __str__(self) -> str:
            return str(path)

    return cast(Path, _Named(data))
