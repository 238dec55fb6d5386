"""Built-in features plugin: registers asrkit's own features components."""

from __future__ import annotations

from typing import Any

from asrkit import hookimpl
from asrkit_plugins.features.log_mel import LogMel
from asrkit_plugins.features.mfcc import Mfcc

ASRKIT_PLUGIN_API = ">=2,<3"  # the plugin API versions this plugin is written for


@hookimpl
def asrkit_register_features() -> list[type]:
    return [LogMel, Mfcc]


@hookimpl
def asrkit_recipe_defaults() -> dict[str, Any]:
    return {"features": {"name": "log_mel"}}
