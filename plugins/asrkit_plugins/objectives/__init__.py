"""Built-in objectives plugin: registers asrkit's own objectives components."""

from __future__ import annotations

from typing import Any

from asrkit import hookimpl
from asrkit_plugins.objectives.ctc import CTC
from asrkit_plugins.objectives.inter_ctc import InterCTC

ASRKIT_PLUGIN_API = ">=2,<3"  # the plugin API versions this plugin is written for


@hookimpl
def asrkit_register_objectives() -> list[type]:
    return [CTC, InterCTC]


@hookimpl
def asrkit_recipe_defaults() -> dict[str, Any]:
    return {"objective": {"name": "ctc"}}
