"""Built-in datasets plugin: registers asrkit's own datasets components."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from asrkit import hookimpl
from asrkit_plugins.datasets.librispeech import LibriSpeech
from asrkit_plugins.datasets.manifest import Manifest

ASRKIT_PLUGIN_API = ">=2,<3"  # the plugin API versions this plugin is written for


@hookimpl
def asrkit_register_datasets() -> list[type]:
    return [LibriSpeech, Manifest]


MANIFEST_SUFFIXES = (".jsonl", ".json")


@hookimpl
def asrkit_open_dataset(spec: str) -> dict[str, Any] | None:
    """``*.jsonl``/``*.json``: a manifest; ``ROOT:SUBSET``: a LibriSpeech-layout corpus."""
    if Path(spec).suffix in MANIFEST_SUFFIXES:
        return {"name": "manifest", "path": spec}
    root, sep, subset = spec.rpartition(":")
    if sep and root and subset:
        return {"name": "librispeech", "root": root, "subset": subset}
    return None
