"""Read an image's display size from its file header, without importing Pillow.

``anchorctl list --image photo.jpg`` needs only the width and height of the photo, and the
``list`` command must stay free of Pillow (``PIL`` must not appear in ``sys.modules``). This
module therefore parses the headers of the common formats with the standard library alone:

* PNG: the IHDR chunk, plus an ``eXIf`` chunk placed before the image data;
* JPEG: the first SOFn frame header, plus the first ``Exif`` APP1 segment before the scan;
* GIF: the logical screen size;
* BMP: BITMAPCOREHEADER (12 bytes) and BITMAPINFOHEADER and its successors (40 to 124 bytes);
* WebP: lossy ``VP8``, lossless ``VP8L`` and extended ``VP8X`` (canvas size, plus its EXIF chunk).

Only the headers are read: fixed-size fields come from the first bytes of the file, and the
segment and chunk walks seek over payloads instead of reading them. Any other format (TIFF,
and anything this module does not understand) falls back to Pillow, imported lazily inside
:func:`image_size`, so importing this module never imports Pillow.

The size returned is the *display* size: for EXIF orientations 5 to 8 (the transposing ones)
width and height are swapped, as :func:`PIL.ImageOps.exif_transpose` would do. Unlike Pillow,
an orientation written only in XMP metadata (no EXIF orientation tag) is not honoured.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    from PIL.TiffImagePlugin import TiffImageFile

__all__ = ["image_size"]

# The first bytes of the file, enough for every fixed-offset field parsed here.
_HEAD_SIZE = 32
# At most this much of an EXIF block is read; IFD0, which holds the orientation, comes first.
_EXIF_READ_LIMIT = 64 * 1024
# At most this many stray bytes (junk and 0xFF fill) are skipped between JPEG markers.
_JPEG_JUNK_LIMIT = 64 * 1024
_SKIP_CHUNK = 64 * 1024

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8\xff"
_GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
_BMP_SIGNATURE = b"BM"

_ORIENTATION_TAG = 0x0112
# EXIF orientations whose transform swaps the axes (transpose, rotations by 90 and 270, transverse).
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})

# Start-of-frame markers: SOF0-SOF3, SOF5-SOF7, SOF9-SOF11, SOF13-SOF15 (not DHT, JPG or DAC).
_JPEG_SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
# Markers that stand alone, without a length field: TEM, RST0-RST7 and SOI.
_JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8), 0xD8})
_JPEG_SOS = 0xDA
_JPEG_EOI = 0xD9
_JPEG_APP1 = 0xE1

_BMP_INFO_HEADER_SIZES = frozenset({40, 52, 56, 64, 108, 124})
_WEBP_VP8X_EXIF_FLAG = 0x08


class _TruncatedError(Exception):
    """The file ends inside a header this module recognised."""


class _UnsupportedError(Exception):
    """A header this module does not understand; Pillow gets a chance to read the file."""


class _Reader:
    """Sequential reader over a binary file that keeps the first bytes for sniffing.

    ``head`` holds up to ``head_size`` bytes from the start of the file. Reads start at
    offset 0 and are served from ``head`` first, then from the file. ``pos`` is the offset of
    the next byte to be read. Skips seek when the file is seekable and read otherwise.
    """

    def __init__(self, file: BinaryIO, head_size: int) -> None:
        self._file = file
        self._seekable = file.seekable()
        self.head = self._read_file(head_size)
        self._pending = self.head
        self.pos = 0

    def _read_file(self, n: int) -> bytes:
        parts: list[bytes] = []
        remaining = n
        while remaining > 0:
            part = self._file.read(remaining)
            if not part:
                break
            parts.append(part)
            remaining -= len(part)
        return b"".join(parts)

    def read_upto(self, n: int) -> bytes:
        """Read up to ``n`` bytes; fewer only at the end of the file."""
        data = self._pending[:n]
        self._pending = self._pending[n:]
        if len(data) < n:
            data += self._read_file(n - len(data))
        self.pos += len(data)
        return data

    def read_exact(self, n: int) -> bytes:
        """Read exactly ``n`` bytes, or raise :class:`_TruncatedError`."""
        data = self.read_upto(n)
        if len(data) < n:
            raise _TruncatedError
        return data

    def read_byte(self) -> int:
        """Read one byte, or raise :class:`_TruncatedError`."""
        return self.read_exact(1)[0]

    def skip(self, n: int) -> None:
        """Move ``n >= 0`` bytes forward; running past the end shows up at the next read."""
        if n < 0:
            raise _UnsupportedError
        from_pending = min(n, len(self._pending))
        self._pending = self._pending[from_pending:]
        self.pos += from_pending
        remaining = n - from_pending
        if remaining == 0:
            return
        if self._seekable:
            self._file.seek(remaining, os.SEEK_CUR)
            self.pos += remaining
            return
        while remaining > 0:
            part = self._file.read(min(remaining, _SKIP_CHUNK))
            if not part:
                raise _TruncatedError
            self.pos += len(part)
            remaining -= len(part)

    def skip_to(self, offset: int) -> None:
        """Move forward to the absolute ``offset``."""
        self.skip(offset - self.pos)


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Display size (width, height) in pixels, after EXIF orientation, read from the header only.

    PNG, JPEG, GIF, BMP and WebP are parsed here without Pillow; any other format is opened
    with Pillow (imported only then), which reads just the header as well. Orientations 5 to 8
    swap width and height, as ``PIL.ImageOps.exif_transpose`` would.

    Raises:
        AnchorError: the file is missing, a directory, unreadable, empty or truncated, has no
            pixels, or is not an image Pillow can read. The message is one line and names the
            file.
    """
    name = repr(os.fspath(path))
    try:
        with open(path, "rb") as file:
            width, height, orientation = _read_header(file, name)
    except AnchorError:
        raise
    except (FileNotFoundError, NotADirectoryError):
        raise AnchorError(f"cannot read image {name}: no such file") from None
    except IsADirectoryError:
        raise AnchorError(f"cannot read image {name}: it is a directory") from None
    except PermissionError:
        if os.path.isdir(path):
            raise AnchorError(f"cannot read image {name}: it is a directory") from None
        raise AnchorError(f"cannot read image {name}: permission denied") from None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise AnchorError(f"cannot read image {name}: {_one_line(reason)}") from exc
    except ValueError as exc:  # e.g. an embedded NUL byte in the path
        raise AnchorError(f"cannot read image {name}: invalid file name ({exc})") from exc

    if width <= 0 or height <= 0:
        raise AnchorError(f"cannot read image {name}: image has no pixels ({width}x{height})")
    if orientation in _SWAPPING_ORIENTATIONS:
        return height, width
    return width, height


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _read_header(file: BinaryIO, name: str) -> tuple[int, int, int]:
    """Return (stored width, stored height, EXIF orientation) of the open image ``file``."""
    reader = _Reader(file, _HEAD_SIZE)
    head = reader.head
    if not head:
        raise AnchorError(f"cannot read image {name}: file is truncated (it is empty)")
    parser = _sniff(head)
    if parser is None:
        if _is_partial_signature(head):
            raise AnchorError(f"cannot read image {name}: file is truncated")
        return _read_with_pillow(file, name)
    try:
        return parser(reader)
    except _TruncatedError:
        raise AnchorError(f"cannot read image {name}: file is truncated") from None
    except _UnsupportedError:
        return _read_with_pillow(file, name)


def _sniff(head: bytes) -> Callable[[_Reader], tuple[int, int, int]] | None:
    """The parser for the format the first bytes announce, or None for any other format."""
    if head.startswith(_PNG_SIGNATURE):
        return _png_size
    if head.startswith(_JPEG_SIGNATURE):
        return _jpeg_size
    if head[:6] in _GIF_SIGNATURES:
        return _gif_size
    if head.startswith(_BMP_SIGNATURE):
        return _bmp_size
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp_size
    return None


def _is_partial_signature(head: bytes) -> bool:
    """Whether the whole file is a proper prefix of a signature this module recognises."""
    signatures = (_PNG_SIGNATURE, _JPEG_SIGNATURE, *_GIF_SIGNATURES, _BMP_SIGNATURE)
    if any(len(head) < len(sig) and sig.startswith(head) for sig in signatures):
        return True
    return len(head) < 12 and b"RIFF".startswith(head[:4]) and b"WEBP".startswith(head[8:])


def _png_size(reader: _Reader) -> tuple[int, int, int]:
    head = reader.head
    if len(head) < 24:
        raise _TruncatedError
    length, chunk_type = struct.unpack(">I4s", head[8:16])
    if chunk_type != b"IHDR" or length < 13:
        raise _UnsupportedError
    width, height = struct.unpack(">II", head[16:24])
    # Walk the ancillary chunks before the image data for an eXIf chunk (the last one wins,
    # as in Pillow). Each chunk is length (4), type (4), data (length) and CRC (4).
    orientation = 1
    reader.skip_to(8 + 8 + length + 4)
    while True:
        length, chunk_type = struct.unpack(">I4s", reader.read_exact(8))
        if chunk_type in (b"IDAT", b"IEND"):
            break
        if chunk_type == b"eXIf":
            data = reader.read_exact(min(length, _EXIF_READ_LIMIT))
            orientation = _exif_orientation(data)
            reader.skip(length - len(data) + 4)
        else:
            reader.skip(length + 4)
    return width, height, orientation


def _jpeg_size(reader: _Reader) -> tuple[int, int, int]:
    reader.skip(2)  # SOI
    frame: tuple[int, int] | None = None
    orientation = 1
    seen_exif = False
    stray = 0
    # Walk the marker segments up to the start of scan (or end of image): the frame header
    # gives the size, and the first Exif APP1 segment the orientation, as in Pillow.
    while True:
        byte = reader.read_byte()
        if byte != 0xFF:
            stray += 1  # junk between segments: skip it, as libjpeg and Pillow do
            if stray > _JPEG_JUNK_LIMIT:
                raise _UnsupportedError
            continue
        marker = reader.read_byte()
        while marker == 0xFF:  # fill bytes before the marker code
            stray += 1
            if stray > _JPEG_JUNK_LIMIT:
                raise _UnsupportedError
            marker = reader.read_byte()
        if marker == 0x00 or marker in _JPEG_STANDALONE_MARKERS:
            continue  # a stuffed zero outside entropy-coded data, or a marker without a length
        if marker in (_JPEG_SOS, _JPEG_EOI):
            break
        (length,) = struct.unpack(">H", reader.read_exact(2))
        if length < 2:
            raise _UnsupportedError
        if marker in _JPEG_SOF_MARKERS and frame is None:
            segment = reader.read_exact(length - 2)
            if len(segment) < 5:
                raise _UnsupportedError
            height, width = struct.unpack(">HH", segment[1:5])
            frame = (width, height)
        elif marker == _JPEG_APP1 and not seen_exif:
            segment = reader.read_exact(length - 2)
            if segment.startswith(b"Exif\0\0"):
                seen_exif = True
                orientation = _exif_orientation(segment)
        else:
            reader.skip(length - 2)
    if frame is None:
        raise _UnsupportedError
    return frame[0], frame[1], orientation


def _gif_size(reader: _Reader) -> tuple[int, int, int]:
    head = reader.head
    if len(head) < 10:
        raise _TruncatedError
    width, height = struct.unpack("<HH", head[6:10])
    return width, height, 1


def _bmp_size(reader: _Reader) -> tuple[int, int, int]:
    head = reader.head
    if len(head) < 18:
        raise _TruncatedError
    (header_size,) = struct.unpack("<I", head[14:18])
    if header_size == 12:  # BITMAPCOREHEADER: unsigned 16-bit width and height
        if len(head) < 22:
            raise _TruncatedError
        width, height = struct.unpack("<HH", head[18:22])
        return width, height, 1
    if header_size in _BMP_INFO_HEADER_SIZES:  # signed 32-bit; negative height is top-down
        if len(head) < 26:
            raise _TruncatedError
        width, height = struct.unpack("<ii", head[18:26])
        if width < 0:
            raise _UnsupportedError
        return width, abs(height), 1
    raise _UnsupportedError


def _webp_size(reader: _Reader) -> tuple[int, int, int]:
    head = reader.head
    if len(head) < 20:
        raise _TruncatedError
    chunk_type, chunk_size = struct.unpack("<4sI", head[12:20])
    data = head[20:]
    if chunk_type == b"VP8 ":
        # Frame tag (3 bytes; bit 0 clear for a key frame), start code, 14-bit width and height.
        if len(data) < 10:
            raise _TruncatedError
        if data[0] & 1 or data[3:6] != b"\x9d\x01\x2a":
            raise _UnsupportedError
        width, height = struct.unpack("<HH", data[6:10])
        return width & 0x3FFF, height & 0x3FFF, 1
    if chunk_type == b"VP8L":
        # Signature byte, then 14 bits of width - 1 and 14 bits of height - 1.
        if len(data) < 5:
            raise _TruncatedError
        if data[0] != 0x2F:
            raise _UnsupportedError
        (bits,) = struct.unpack("<I", data[1:5])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 1
    if chunk_type == b"VP8X":
        # Flags (1 byte), reserved (3), canvas width - 1 (24 bits), canvas height - 1 (24 bits).
        if len(data) < 10:
            raise _TruncatedError
        width = int.from_bytes(data[4:7], "little") + 1
        height = int.from_bytes(data[7:10], "little") + 1
        orientation = 1
        if data[0] & _WEBP_VP8X_EXIF_FLAG:
            orientation = _webp_exif_orientation(reader, 20 + chunk_size + (chunk_size & 1))
        return width, height, orientation
    raise _UnsupportedError


def _webp_exif_orientation(reader: _Reader, offset: int) -> int:
    """Find the EXIF chunk of an extended WebP file, walking the chunks from ``offset``."""
    (riff_size,) = struct.unpack("<I", reader.head[4:8])
    end = 8 + riff_size
    reader.skip_to(offset)
    while reader.pos + 8 <= end:
        chunk_type, chunk_size = struct.unpack("<4sI", reader.read_exact(8))
        if chunk_type == b"EXIF":
            return _exif_orientation(reader.read_exact(min(chunk_size, _EXIF_READ_LIMIT)))
        reader.skip(chunk_size + (chunk_size & 1))
    return 1


def _exif_orientation(data: bytes) -> int:
    """The orientation tag (0x0112) of IFD0 in an EXIF block, or 1 if absent or unreadable.

    ``data`` is a TIFF structure (byte order mark, 42, offset of IFD0), optionally preceded
    by one or two ``Exif\\0\\0`` identifiers as Pillow accepts.
    """
    for _ in range(2):
        if data.startswith(b"Exif\0\0"):
            data = data[6:]
    if data[:2] == b"II":
        endian = "<"
    elif data[:2] == b"MM":
        endian = ">"
    else:
        return 1
    if len(data) < 8:
        return 1
    magic, ifd_offset = struct.unpack(endian + "HI", data[2:8])
    if magic != 42 or ifd_offset + 2 > len(data):
        return 1
    (count,) = struct.unpack(endian + "H", data[ifd_offset : ifd_offset + 2])
    orientation = 1
    for index in range(count):
        start = ifd_offset + 2 + 12 * index
        entry = data[start : start + 12]
        if len(entry) < 12:
            break  # a truncated IFD: keep what was read, as Pillow does
        tag, field_type, value_count = struct.unpack(endian + "HHI", entry[:8])
        if tag != _ORIENTATION_TAG:
            continue
        if value_count != 1:
            orientation = 1
        elif field_type == 3:  # SHORT
            (orientation,) = struct.unpack(endian + "H", entry[8:10])
        elif field_type == 4:  # LONG
            (orientation,) = struct.unpack(endian + "I", entry[8:12])
        elif field_type == 1:  # BYTE
            orientation = entry[8]
        else:
            orientation = 1
    return orientation


def _read_with_pillow(file: BinaryIO, name: str) -> tuple[int, int, int]:
    """Open ``file`` with Pillow, imported only now, for its size and EXIF orientation."""
    if not file.seekable():
        raise AnchorError(
            f"cannot read image {name}: not a PNG, JPEG, GIF, BMP or WebP file, and not a "
            "regular file that Pillow could read"
        )
    try:
        from PIL import Image, TiffImagePlugin
    except ImportError:
        raise AnchorError(
            f"cannot read image {name}: not a PNG, JPEG, GIF, BMP or WebP file, and Pillow "
            "is not installed to read other formats"
        ) from None
    try:
        file.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # decompression-bomb and corrupt-EXIF warnings
            with Image.open(file) as image:
                width, height = image.size
                if isinstance(image, TiffImagePlugin.TiffImageFile):
                    width, height, orientation = _tiff_stored_size(image, width, height)
                else:
                    try:
                        orientation = image.getexif().get(_ORIENTATION_TAG, 1)
                    except Exception:  # corrupt EXIF: show the image as stored
                        orientation = 1
    except Image.DecompressionBombError:
        raise AnchorError(
            f"cannot read image {name}: image is too large for Pillow to open safely"
        ) from None
    except Exception as exc:  # Pillow's plugins raise many kinds of errors for bad input
        raise AnchorError(f"cannot read image {name}: not an image Pillow can read") from exc
    if not isinstance(orientation, int):
        orientation = 1
    return width, height, orientation


def _tiff_stored_size(
    image: TiffImageFile, size_width: int, size_height: int
) -> tuple[int, int, int]:
    """Stored size and orientation of a TIFF image, from its first IFD.

    Pillow 11 and later report a TIFF's ``size`` with the orientation already applied (older
    versions apply it only on load), so the stored size is taken from the tags instead.
    """
    tags = image.tag_v2
    width, height = tags.get(256), tags.get(257)
    orientation = tags.get(_ORIENTATION_TAG, 1)
    if not (isinstance(width, int) and isinstance(height, int)):
        return size_width, size_height, 1
    if not isinstance(orientation, int):
        orientation = 1
    return width, height, orientation
