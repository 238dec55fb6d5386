"""``write_atomic``: whole files or none, and no temporary file left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from asrkit.files import write_atomic


def test_write_atomic_writes_text_and_bytes_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "file.json"
    write_atomic(path, "première\n")
    assert path.read_text(encoding="utf-8") == "première\n"
    write_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in path.parent.iterdir()) == ["file.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()  # a folder: the rename over it fails
    with pytest.raises(OSError):
        write_atomic(target, "text")
    assert target.is_dir() and [p.name for p in tmp_path.iterdir()] == ["taken"]
