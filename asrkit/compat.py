"""Whether the installed torch and torchaudio load together, checked before any command runs.

torchaudio's compiled extension loads only against the torch build it was made
with. A mismatched pair (torchaudio 2.11.1 beside torch 2.11.0, a CPU-only
torch beside PyPI's torchaudio) fails inside ``import torchaudio`` with an
``OSError`` about an undefined symbol or a missing library, which would
otherwise stop every command with a long traceback. :func:`torch_pair_problem`
turns that into one line naming both versions and the command that repairs it.

The versions of the repair command are asrkit's own pins, read from its
installed metadata, so they cannot drift from ``pyproject.toml``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement

PAIR = ("torch", "torchaudio")


@dataclass(frozen=True)
class PairStatus:
    """The installed versions of torch and torchaudio and, if they do not load together, why."""

    torch_version: str | None
    torchaudio_version: str | None
    problem: str | None


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def pinned_requirements() -> dict[str, str]:
    """``{"torch": "torch==2.11.0", ...}``: asrkit's own requirements for the pair, from its metadata."""
    pins = {name: name for name in PAIR}
    try:
        requires = importlib.metadata.requires("asrkit") or []
    except importlib.metadata.PackageNotFoundError:  # a source tree on PYTHONPATH, not installed
        return pins
    for line in requires:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.name in pins and requirement.marker is None:
            pins[requirement.name] = f"{requirement.name}{requirement.specifier}"
    return pins


def repair_command() -> str:
    """The ``pip install`` command that installs the pair asrkit is pinned to."""
    pins = pinned_requirements()
    return "pip install --force-reinstall " + " ".join(f"'{pins[name]}'" for name in PAIR)


def _first_line(error: BaseException) -> str:
    """The error's first line; for a chain (torch wraps the loader's error), the innermost one's,
    which names the real reason (an undefined symbol, a missing library)."""
    while (error.__cause__ or error.__context__) is not None:
        error = error.__cause__ or error.__context__
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def check_torch_pair() -> PairStatus:
    """Import torch and torchaudio (its compiled extension included) and say whether that worked."""
    torch_version = installed_version("torch")
    torchaudio_version = installed_version("torchaudio")
    versions = f"torch {torch_version or '(not installed)'} and torchaudio {torchaudio_version or '(not installed)'}"
    fix = f"repair with: {repair_command()}"
    if torch_version is None or torchaudio_version is None:
        missing = " and ".join(
            name for name, v in zip(PAIR, (torch_version, torchaudio_version), strict=True) if v is None
        )
        return PairStatus(torch_version, torchaudio_version, f"{missing} is not installed ({versions}); {fix}")
    for module in PAIR:
        try:
            importlib.import_module(module)
        except Exception as exc:  # an OSError from the extension, an ImportError, anything: one line
            problem = f"{versions} do not load together ({_first_line(exc)}); {fix}"
            return PairStatus(torch_version, torchaudio_version, problem)
    extension = importlib.import_module("torchaudio._extension")
    if not getattr(extension, "_IS_TORCHAUDIO_EXT_AVAILABLE", True):
        problem = f"{versions} load, but torchaudio's compiled extension is not available; {fix}"
        return PairStatus(torch_version, torchaudio_version, problem)
    return PairStatus(torch_version, torchaudio_version, None)
