"""Atomic writes: the whole file or the old one, never a half-written file."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from anchorctl.atomic import atomic_write


def test_new_file_gets_ordinary_permissions(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.bin") as handle:
            handle.write(b"abc")
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").read_bytes() == b"abc"
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o644


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    target.chmod(0o600)
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write(b"partial")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]
    with atomic_write(target) as handle:
        handle.write(b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # an existing file keeps its mode


def test_a_named_pipe_is_written_in_place_not_replaced(tmp_path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    with atomic_write(fifo) as handle:
        handle.write(b"through the pipe")
    reader.join(timeout=10)
    assert got == [b"through the pipe"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still a pipe, not a regular file
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_an_input_is_refused_by_any_name(tmp_path) -> None:
    from anchorctl import inputs
    from anchorctl.errors import AnchorError

    source = tmp_path / "in.jpg"
    source.write_bytes(b"image")
    (tmp_path / "link.jpg").symlink_to(source)
    os.link(source, tmp_path / "hard.jpg")
    with inputs.watching():
        inputs.register(source)
        for name in ("in.jpg", "link.jpg", "hard.jpg", "sub/../in.jpg"):
            (tmp_path / "sub").mkdir(exist_ok=True)
            refused = pytest.raises(AnchorError, match="refusing to overwrite the input")
            with refused as info, atomic_write(tmp_path / name) as handle:
                handle.write(b"text")
            assert str(source) in str(info.value)
            if name != "in.jpg":
                assert name in str(info.value)  # both spellings are named
    assert source.read_bytes() == b"image"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.jpg", "in.jpg", "link.jpg", "sub"]
    with atomic_write(tmp_path / "link.jpg") as handle:  # outside the run, nothing is an input
        handle.write(b"text")


def test_files_read_during_a_run_are_inputs_and_written_ones_are_not(tmp_path) -> None:
    from anchorctl import inputs

    read, written = tmp_path / "read.txt", tmp_path / "written.txt"
    read.write_text("a")
    with inputs.watching():
        read.read_text()  # any reader: open(), pathlib, os.open
        written.write_text("b")
        assert inputs.input_named_by(tmp_path / "." / "read.txt") == str(read)
        assert inputs.input_named_by(written) is None
    assert inputs.input_named_by(read) is None  # forgotten when the run ends


def test_an_existing_file_without_write_permission_is_refused(tmp_path, monkeypatch) -> None:
    target = tmp_path / "theirs.png"
    target.write_bytes(b"theirs")
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: mode != os.W_OK)
    with pytest.raises(PermissionError), atomic_write(target) as handle:
        handle.write(b"mine")
    assert target.read_bytes() == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["theirs.png"]


def test_abandon_removes_the_part_and_stops_the_rename(tmp_path) -> None:
    from anchorctl import atomic

    target = tmp_path / "big.csv"
    stop = KeyboardInterrupt()
    try:
        with pytest.raises(KeyboardInterrupt), atomic_write(target) as handle:
            handle.write(b"half")
            parts = [p.name for p in tmp_path.iterdir()]
            assert (
                len(parts) == 1 and parts[0].startswith(".big.csv.") and parts[0].endswith(".part")
            )
            atomic.abandon(stop)  # what a signal handler does
            assert list(tmp_path.iterdir()) == []
            handle.write(b"the rest")  # the writer goes on: the rename must not happen
        with pytest.raises(KeyboardInterrupt), atomic_write(target):  # nor any new write
            pass
    finally:
        atomic.resume()
    assert list(tmp_path.iterdir()) == []
    with atomic_write(target) as handle:
        handle.write(b"whole")
    assert target.read_bytes() == b"whole"
