"""Errors a user can act on.

Every exception here is caught by the CLI and printed as one line, without a
traceback: the message must say what is wrong and, where possible, what to do.
"""

from __future__ import annotations


class AsrkitError(Exception):
    """Base class of every error asrkit reports to a user as one line."""


class RecipeError(AsrkitError):
    """A recipe is malformed, names an unknown component or has a bad parameter."""


class PluginError(AsrkitError):
    """A plugin is missing, broken, or registers something invalid."""


class AudioError(AsrkitError):
    """An audio file cannot be read or decoded."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read audio {self.path}: {reason}")


class DataError(AsrkitError):
    """A dataset cannot be found, downloaded, verified or indexed."""


class CheckpointError(AsrkitError):
    """A checkpoint is missing, corrupt or incompatible."""


class TrainingError(AsrkitError):
    """Training cannot continue (e.g. repeated non-finite losses)."""
