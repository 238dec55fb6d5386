"""Checking tar members before anything is extracted: speech corpora hold files and folders, nothing else.

``tarfile``'s ``filter="data"`` is the usual defence, but its checks have had
bypasses (CVE-2025-4517: a chain of nested symlinks resolved past ``PATH_MAX``
let a member be written outside the destination on interpreters without the
2025 fixes). A corpus archive never needs links or devices, so
:func:`validated_members` refuses them outright, along with any member whose
path, resolved against the destination as it is on disk, leaves it. The first
bad member stops extraction, before it is written; ``filter="data"`` stays as a
second layer.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

from asrkit.errors import DataError

__all__ = ["check_member", "extract_members", "validated_members"]


def check_member(member: tarfile.TarInfo, root: str) -> None:
    """Refuse ``member`` unless it is a regular file or a folder whose path stays inside ``root``.

    ``root`` is the destination folder's real path (``os.path.realpath``).
    Raises :class:`DataError` naming the member and why.
    """
    name = _printable(member.name)
    if member.issym() or member.islnk():
        raise DataError(f"member '{name}' is a link (to '{_printable(member.linkname)}'); corpus archives have none")
    if not (member.isreg() or member.isdir()):
        raise DataError(f"member '{name}' is not a regular file or folder (a device, FIFO or other special file)")
    if not member.name or "\x00" in member.name:
        raise DataError(f"member '{name}' has an empty or invalid name")
    if os.path.isabs(member.name) or member.name.startswith(("/", "\\")):
        raise DataError(f"member '{name}' has an absolute path")
    if ".." in Path(member.name.replace("\\", "/")).parts:
        raise DataError(f"member '{name}' has a '..' in its path")
    # realpath follows links already on disk (the destination's own, or left by an earlier extraction).
    target = os.path.realpath(os.path.join(root, member.name))
    if os.path.commonpath([root, target]) != root:
        raise DataError(f"member '{name}' would be written outside the destination (to {target})")


def validated_members(tar: tarfile.TarFile, dest: Path) -> Iterator[tarfile.TarInfo]:
    """``tar``'s members in order, each checked by :func:`check_member` just before it is handed on.

    Works on streamed archives (``mode="r|gz"``): nothing is read ahead.
    """
    root = os.path.realpath(dest)
    for member in tar:
        check_member(member, root)
        yield member


def extract_members(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract the validated members of ``tar`` into ``dest`` with ``filter="data"`` as the second layer.

    Raises:
        DataError: on the first bad member (earlier members are already written).
    """
    dest.mkdir(parents=True, exist_ok=True)
    tar.extractall(dest, members=validated_members(tar, dest), filter="data")


def _printable(name: str, limit: int = 200) -> str:
    """A member name for a one-line message: control characters escaped, long names cut."""
    shown = name.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= limit else shown[:limit] + "..."
