"""Built-in objectives plugin: registers asrkit's own objectives components."""

from __future__ import annotations

from asrkit import hookimpl
from asrkit_plugins.objectives.ctc import CTC

ASRKIT_PLUGIN_API = ">=2,<3"  # the plugin API versions this plugin is written for


@hookimpl
def asrkit_register_objectives() -> list[type]:
    return [CTC]
