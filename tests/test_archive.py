"""Tar members are checked one by one before extraction: files and folders inside the destination only."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asrkit.data.archive import check_member
from asrkit.data.download import extract_archive
from asrkit.errors import DataError


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", data: bytes = b"x") -> tuple:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


def write_archive(path: Path, members: list[tuple]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


GOOD = [member("LibriSpeech/", tarfile.DIRTYPE), member("LibriSpeech/a.flac", data=b"audio")]


def test_files_and_folders_are_extracted(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "good.tar.gz", GOOD)
    extract_archive(archive, tmp_path / "out")
    assert (tmp_path / "out" / "LibriSpeech" / "a.flac").read_bytes() == b"audio"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        # filter="data" alone lets both links through (they point inside the destination).
        (member("LibriSpeech/link", tarfile.SYMTYPE, linkname="a.flac"), "is a link"),
        (member("LibriSpeech/hard", tarfile.LNKTYPE, linkname="LibriSpeech/a.flac"), "is a link"),
        (member("LibriSpeech/dev", tarfile.CHRTYPE), "not a regular file or folder"),
        (member("LibriSpeech/fifo", tarfile.FIFOTYPE), "not a regular file or folder"),
        (member("../escaped.txt"), "'..'"),
        (member("/tmp/absolute.txt"), "absolute path"),
    ],
)
def test_a_bad_member_stops_extraction_before_it_is_written(tmp_path: Path, bad: tuple, reason: str) -> None:
    later = member("LibriSpeech/after.flac")
    archive = write_archive(tmp_path / "bad.tar.gz", [*GOOD, bad, later])
    out = tmp_path / "out"
    with pytest.raises(DataError, match=f"cannot extract .*bad.tar.gz: member '{bad[0].name}' .*{reason}"):
        extract_archive(archive, out)
    assert not (out / "LibriSpeech" / "after.flac").exists()
    assert not os.path.lexists(out / bad[0].name.lstrip("/"))


def test_the_nested_symlink_escape_pattern_is_refused_at_its_first_link(tmp_path: Path) -> None:
    # Links through links, then a file written through the last: the building block of CVE-2025-4517's
    # escape (which also needs paths past PATH_MAX). filter="data" alone writes a/b before refusing a/b/c.
    chain = [
        member("a/", tarfile.DIRTYPE),
        member("a/b", tarfile.SYMTYPE, linkname="."),
        member("a/b/c", tarfile.SYMTYPE, linkname="../.."),
        member("a/b/c/escaped.txt", data=b"gotcha"),
    ]
    archive = write_archive(tmp_path / "chain.tar.gz", chain)
    with pytest.raises(DataError, match="member 'a/b' is a link"):
        extract_archive(archive, tmp_path / "root" / "out")
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "root" / "escaped.txt").exists()


def test_a_link_already_in_the_destination_cannot_lead_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "LibriSpeech").symlink_to(outside)
    archive = write_archive(tmp_path / "good.tar.gz", GOOD)
    with pytest.raises(DataError, match="outside the destination"):
        extract_archive(archive, out)
    assert not (outside / "a.flac").exists()


KINDS = [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE]
NAMES = st.lists(st.sampled_from(["a", "b", "..", ".", "", "/", "\\", "\x00", "é", "c:"]), max_size=6).map("/".join)


@settings(max_examples=200, deadline=5000)
@given(name=st.one_of(NAMES, st.text(max_size=30)), kind=st.sampled_from(KINDS), link=st.text(max_size=10))
def test_any_member_is_accepted_inside_the_root_or_refused_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, name: str, kind: bytes, link: str
) -> None:
    root = os.path.realpath(tmp_path_factory.getbasetemp())
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    try:
        check_member(info, root)
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    assert kind in (tarfile.REGTYPE, tarfile.DIRTYPE)
    assert os.path.commonpath([root, os.path.realpath(os.path.join(root, name))]) == root
