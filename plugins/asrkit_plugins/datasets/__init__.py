"""Built-in datasets plugin: registers asrkit's own datasets components."""

from __future__ import annotations

from asrkit import hookimpl
from asrkit_plugins.datasets.librispeech import LibriSpeech
from asrkit_plugins.datasets.manifest import Manifest

ASRKIT_PLUGIN_API = ">=2,<3"  # the plugin API versions this plugin is written for


@hookimpl
def asrkit_register_datasets() -> list[type]:
    return [LibriSpeech, Manifest]
