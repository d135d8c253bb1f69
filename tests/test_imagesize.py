"""Tests for anchorctl.imagesize: header-only image sizes that agree with Pillow."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from anchorctl import imagesize
from anchorctl.errors import AnchorError
from anchorctl.imagesize import image_size

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_IMAGES = Path(__file__).parent.parent / "sample_images"

SIZES = [(37, 19), (19, 37), (1, 1), (640, 427), (300, 1), (1, 300)]

# Pillow save arguments per case: (file suffix, Pillow format, save keyword arguments).
FORMATS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "png": (".png", "PNG", {}),
    "jpeg-baseline": (".jpg", "JPEG", {"quality": 90}),
    "jpeg-progressive": (".jpg", "JPEG", {"quality": 90, "progressive": True}),
    "gif": (".gif", "GIF", {}),
    "bmp": (".bmp", "BMP", {}),
    "webp-lossy": (".webp", "WEBP", {"quality": 80}),
    "webp-lossless": (".webp", "WEBP", {"lossless": True}),
    "tiff": (".tiff", "TIFF", {}),
}


def pattern(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A small deterministic picture, so encoders do real work without being slow."""
    im = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (im, im.transpose(Image.Transpose.FLIP_LEFT_RIGHT), im)).convert(mode)


def save(path: Path, im: Image.Image, fmt: str, **kwargs: Any) -> Path:
    im.save(path, format=fmt, **kwargs)
    return path


def pillow_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


def pillow_display_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return ImageOps.exif_transpose(im).size


def exif_with_orientation(k: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = k
    return exif


# --- formats and sizes -------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("case", list(FORMATS))
def test_matches_pillow(tmp_path: Path, case: str, size: tuple[int, int]) -> None:
    suffix, fmt, kwargs = FORMATS[case]
    path = save(tmp_path / f"im{suffix}", pattern(size), fmt, **kwargs)
    assert image_size(path) == pillow_size(path) == size
    assert image_size(str(path)) == size


def test_progressive_jpeg_really_uses_sof2(tmp_path: Path) -> None:
    path = save(tmp_path / "p.jpg", pattern((37, 19)), "JPEG", progressive=True)
    assert b"\xff\xc2" in path.read_bytes()
    assert image_size(path) == (37, 19)


@pytest.mark.parametrize(
    ("mode", "kwargs", "chunk"),
    [
        ("RGB", {"quality": 80}, b"VP8 "),
        ("RGB", {"lossless": True}, b"VP8L"),
        ("RGBA", {"quality": 80}, b"VP8X"),  # lossy with alpha needs the extended format
    ],
)
def test_webp_variants(tmp_path: Path, mode: str, kwargs: dict[str, Any], chunk: bytes) -> None:
    im = pattern((37, 19), mode)
    if mode == "RGBA":
        im.putalpha(Image.linear_gradient("L").resize(im.size))
    path = save(tmp_path / "w.webp", im, "WEBP", **kwargs)
    assert path.read_bytes()[12:16] == chunk
    assert image_size(path) == pillow_size(path) == (37, 19)


def test_animated_webp_uses_canvas_size(tmp_path: Path) -> None:
    frames = [pattern((40, 30)), pattern((40, 30)).rotate(180)]
    path = tmp_path / "anim.webp"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, lossless=True)
    assert path.read_bytes()[12:16] == b"VP8X"
    assert image_size(path) == pillow_size(path) == (40, 30)


def test_animated_gif_uses_logical_screen(tmp_path: Path) -> None:
    frames = [pattern((41, 23)), pattern((41, 23)).rotate(180)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    assert image_size(path) == pillow_size(path) == (41, 23)


@pytest.mark.parametrize("mode", ["L", "P", "1", "RGBA"])
def test_png_and_bmp_modes(tmp_path: Path, mode: str) -> None:
    for suffix, fmt in ((".png", "PNG"), (".bmp", "BMP")):
        path = save(tmp_path / f"m{suffix}", pattern((37, 19), mode), fmt)
        assert image_size(path) == pillow_size(path) == (37, 19)


def test_grayscale_jpeg(tmp_path: Path) -> None:
    path = save(tmp_path / "g.jpg", pattern((37, 19), "L"), "JPEG")
    assert image_size(path) == pillow_size(path) == (37, 19)


def test_top_down_bmp_uses_abs_height(tmp_path: Path) -> None:
    path = save(tmp_path / "b.bmp", pattern((37, 19)), "BMP")
    data = bytearray(path.read_bytes())
    (height,) = struct.unpack_from("<i", data, 22)
    struct.pack_into("<i", data, 22, -height)
    path.write_bytes(bytes(data))
    assert image_size(path) == pillow_size(path) == (37, 19)


def test_bmp_core_header(tmp_path: Path) -> None:
    width, height = 37, 19
    row = (width * 3 + 3) // 4 * 4
    pixels = bytes(row * height)
    core = struct.pack("<IHHHH", 12, width, height, 1, 24)
    offset = 14 + len(core)
    header = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    path = tmp_path / "core.bmp"
    path.write_bytes(header + core + pixels)
    assert image_size(path) == pillow_size(path) == (37, 19)


# --- JPEG marker walking -----------------------------------------------------------------------


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def test_jpeg_fill_bytes_and_junk_between_segments(tmp_path: Path) -> None:
    data = save(tmp_path / "a.jpg", pattern((37, 19)), "JPEG").read_bytes()
    assert data[2:4] == b"\xff\xe0"  # SOI then the JFIF APP0 segment
    # Fill bytes before the APP0 marker, and junk plus fill bytes after it.
    (app0_len,) = struct.unpack(">H", data[4:6])
    app0_end = 4 + app0_len
    padded = data[:2] + b"\xff\xff\xff" + data[2:app0_end] + b"\x00junk\xff\xff" + data[app0_end:]
    path = tmp_path / "padded.jpg"
    path.write_bytes(padded)
    assert image_size(path) == pillow_size(path) == (37, 19)


@pytest.mark.parametrize("sof", [0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD])
def test_jpeg_sof_variants_after_other_segments(tmp_path: Path, sof: int) -> None:
    # Header-only JPEG: DHT, DAC, restart and TEM markers before the frame header must not
    # be taken for it, and segments are skipped by their length.
    frame = struct.pack(">BHHB", 8, 19, 37, 1) + b"\x01\x11\x00"
    data = (
        b"\xff\xd8"
        + segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")
        + segment(0xC4, b"\x00" + bytes(16))  # DHT with an empty table
        + segment(0xCC, b"\x00\x11")  # DAC
        + b"\xff\xd0\xff\x01"  # RST0 and TEM: standalone markers
        + segment(0xFE, b"C" * 1000)  # comment
        + segment(sof, frame)
        + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x00" * 16
        + b"\xff\xd9"
    )
    path = tmp_path / "hdr.jpg"
    path.write_bytes(data)
    assert image_size(path) == (37, 19)


@pytest.mark.parametrize("k", range(1, 9))
@pytest.mark.parametrize("size", [(37, 19), (640, 427)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_jpeg_exif_orientation(tmp_path: Path, k: int, size: tuple[int, int]) -> None:
    path = tmp_path / f"o{k}.jpg"
    pattern(size).save(path, exif=exif_with_orientation(k))
    expected = (size[1], size[0]) if k in (5, 6, 7, 8) else size
    assert image_size(path) == pillow_display_size(path) == expected


@pytest.mark.parametrize("k", [3, 6, 8])
def test_big_endian_exif(tmp_path: Path, k: int) -> None:
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, k, 0) + struct.pack(">I", 0)
    data = save(tmp_path / "a.jpg", pattern((37, 19)), "JPEG").read_bytes()
    path = tmp_path / "mm.jpg"
    path.write_bytes(data[:2] + segment(0xE1, b"Exif\0\0" + tiff) + data[2:])
    assert image_size(path) == pillow_display_size(path)
    assert image_size(path) == ((19, 37) if k in (6, 8) else (37, 19))


def test_only_first_exif_segment_counts(tmp_path: Path) -> None:
    data = save(tmp_path / "a.jpg", pattern((37, 19)), "JPEG").read_bytes()
    first = b"Exif\0\0" + exif_with_orientation(1).tobytes()
    second = b"Exif\0\0" + exif_with_orientation(6).tobytes()
    path = tmp_path / "two.jpg"
    path.write_bytes(data[:2] + segment(0xE1, first) + segment(0xE1, second) + data[2:])
    assert image_size(path) == pillow_display_size(path) == (37, 19)


def test_garbage_exif_is_ignored(tmp_path: Path) -> None:
    data = save(tmp_path / "a.jpg", pattern((37, 19)), "JPEG").read_bytes()
    path = tmp_path / "bad-exif.jpg"
    path.write_bytes(data[:2] + segment(0xE1, b"Exif\0\0II*\0\xff\xff\xff\x7f") + data[2:])
    assert image_size(path) == (37, 19)


# --- EXIF orientation in the other formats -----------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 5, 6, 7, 8])
@pytest.mark.parametrize(
    ("suffix", "fmt", "kwargs"),
    [(".png", "PNG", {}), (".webp", "WEBP", {"lossless": True}), (".tiff", "TIFF", {})],
    ids=["png-eXIf", "webp-VP8X", "tiff-fallback"],
)
def test_exif_orientation_other_formats(
    tmp_path: Path, k: int, suffix: str, fmt: str, kwargs: dict[str, Any]
) -> None:
    path = tmp_path / f"o{k}{suffix}"
    pattern((37, 19)).save(path, format=fmt, exif=exif_with_orientation(k), **kwargs)
    expected = (19, 37) if k in (5, 6, 7, 8) else (37, 19)
    assert image_size(path) == pillow_display_size(path) == expected


# --- property test -----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 300),
    height=st.integers(1, 300),
    fmt=st.sampled_from(["PNG", "JPEG", "GIF", "BMP"]),
)
def test_property_matches_pillow(
    tmp_path_factory: pytest.TempPathFactory, width: int, height: int, fmt: str
) -> None:
    path = tmp_path_factory.mktemp("prop") / f"im.{fmt.lower()}"
    Image.new("RGB", (width, height), (200, 30, 90)).save(path, format=fmt)
    assert image_size(path) == pillow_size(path) == (width, height)


# --- sample photos -----------------------------------------------------------------------------


SAMPLE_PHOTOS = sorted(SAMPLE_IMAGES.glob("*.jpg"))


def test_the_sample_photos_are_there() -> None:
    assert len(SAMPLE_PHOTOS) == 4


@pytest.mark.parametrize("path", SAMPLE_PHOTOS, ids=lambda p: p.name)
def test_sample_photos_match_pillow(path: Path) -> None:
    assert image_size(path) == pillow_display_size(path)


def test_sample_photos_exist() -> None:
    assert {p.name for p in SAMPLE_PHOTOS} >= {"astronaut.jpg", "cat.jpg", "coffee.jpg"}


# --- reading only the header -------------------------------------------------------------------


class CountingFile:
    """Wraps a binary file and counts the bytes read through it."""

    total = 0

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    def read(self, n: int = -1) -> bytes:
        data = self._file.read(n)
        CountingFile.total += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def __enter__(self) -> CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


@pytest.mark.parametrize("case", ["png", "jpeg", "webp"])
def test_reads_only_a_bounded_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    noise = Image.frombytes("RGB", (700, 500), os.urandom(700 * 500 * 3))
    path = tmp_path / f"big.{case}"
    if case == "png":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Comment", "x" * 1_000_000)  # a large chunk before the image data
        noise.save(path, pnginfo=info, exif=exif_with_orientation(6))
    elif case == "jpeg":
        noise.save(path, quality=95, exif=exif_with_orientation(6))
    else:
        noise.save(path, lossless=True, exif=exif_with_orientation(6))
    assert path.stat().st_size > 300_000

    def counting_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> CountingFile:
        return CountingFile(open(file, mode, *args, **kwargs))

    CountingFile.total = 0
    monkeypatch.setattr(imagesize, "open", counting_open, raising=False)
    assert image_size(path) == (500, 700)
    assert 0 < CountingFile.total < 20_000


class PipeLikeFile(CountingFile):
    """A file that cannot seek, like a pipe: skips must read through the data."""

    def seekable(self) -> bool:
        return False

    def seek(self, *args: object) -> int:
        raise io.UnsupportedOperation("seek")


def pipe_open(file: Any, mode: str) -> PipeLikeFile:
    return PipeLikeFile(open(file, mode))


@pytest.mark.parametrize(
    ("suffix", "kwargs"),
    [
        (".png", {}),
        (".jpg", {"progressive": True}),
        (".webp", {"lossless": True}),
        (".gif", {}),
        (".bmp", {}),
    ],
)
def test_non_seekable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, kwargs: dict[str, Any]
) -> None:
    path = tmp_path / f"a{suffix}"
    pattern((37, 19)).save(path, exif=exif_with_orientation(8), **kwargs)
    expected = pillow_display_size(path)
    monkeypatch.setattr(imagesize, "open", pipe_open, raising=False)
    assert image_size(path) == expected


def test_non_seekable_unknown_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(tmp_path / "a.tiff", pattern((37, 19)), "TIFF")
    monkeypatch.setattr(imagesize, "open", pipe_open, raising=False)
    assert_error(path, "not a regular file")


# --- errors ------------------------------------------------------------------------------------


def assert_error(path: Path | str, *fragments: str) -> AnchorError:
    with pytest.raises(AnchorError) as info:
        image_size(path)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in message
    assert Path(path).name in message
    for fragment in fragments:
        assert fragment in message
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    err = assert_error(path, "cannot read image", "no such file")
    assert str(err) == f"cannot read image {str(path)!r}: no such file"


def test_missing_parent_component(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert_error(tmp_path / "file" / "x.jpg", "no such file")


def test_directory(tmp_path: Path) -> None:
    directory = tmp_path / "photos.jpg"
    directory.mkdir()
    assert_error(directory, "directory")


def test_permission_denied_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(tmp_path / "secret.png", pattern((5, 5)), "PNG")

    def denied(file: Any, mode: str) -> io.BufferedReader:
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(imagesize, "open", denied, raising=False)
    assert_error(path, "permission denied")


def test_other_os_error_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.png"

    def failing(file: Any, mode: str) -> io.BufferedReader:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(imagesize, "open", failing, raising=False)
    assert_error(path, "Input/output error")


def test_pillow_errors_do_not_escape(tmp_path: Path) -> None:
    # A TIFF whose header is valid but whose first IFD points past the end of the file.
    path = tmp_path / "broken.tiff"
    path.write_bytes(b"II*\x00" + struct.pack("<I", 10_000) + bytes(8))
    assert_error(path, "not an image Pillow can read")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert_error(path, "truncated")


@pytest.mark.parametrize("cut", [3, 10, 20])
def test_truncated_png(tmp_path: Path, cut: int) -> None:
    data = save(tmp_path / "full.png", pattern((37, 19)), "PNG").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[:cut])
    assert_error(path, "truncated")


@pytest.mark.parametrize(("case", "cut"), [("jpeg-baseline", 60), ("gif", 8), ("bmp", 20)])
def test_truncated_headers(tmp_path: Path, case: str, cut: int) -> None:
    suffix, fmt, kwargs = FORMATS[case]
    data = save(tmp_path / f"full{suffix}", pattern((37, 19)), fmt, **kwargs).read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[:cut])
    assert_error(path, "truncated")


def test_truncated_webp(tmp_path: Path) -> None:
    data = save(tmp_path / "full.webp", pattern((37, 19)), "WEBP").read_bytes()
    path = tmp_path / "cut.webp"
    path.write_bytes(data[:18])
    assert_error(path, "truncated")


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image, just some text\n")
    assert_error(path, "not an image Pillow can read")


def test_corrupt_jpeg_without_frame_header(tmp_path: Path) -> None:
    path = tmp_path / "noframe.jpg"
    path.write_bytes(b"\xff\xd8" + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00") + b"\xff\xd9")
    assert_error(path, "not an image Pillow can read")


def test_zero_sized_image(tmp_path: Path) -> None:
    data = bytearray(save(tmp_path / "a.gif", pattern((3, 3)), "GIF").read_bytes())
    struct.pack_into("<HH", data, 6, 0, 0)
    path = tmp_path / "zero.gif"
    path.write_bytes(bytes(data))
    assert_error(path, "no pixels")


# --- no Pillow on import -----------------------------------------------------------------------


def test_importing_and_using_does_not_import_pillow(tmp_path: Path) -> None:
    path = save(tmp_path / "a.png", pattern((37, 19)), "PNG")
    jpeg = save(tmp_path / "a.jpg", pattern((37, 19)), "JPEG")
    code = (
        "import anchorctl.imagesize, sys; "
        f"print(anchorctl.imagesize.image_size({str(path)!r}), "
        f"anchorctl.imagesize.image_size({str(jpeg)!r})); "
        "print('PIL' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == ["(37, 19) (37, 19)", "False"]
