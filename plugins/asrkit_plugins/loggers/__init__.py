"""Built-in loggers plugin: registers asrkit's own loggers components."""

from __future__ import annotations

from typing import Any

from asrkit import hookimpl
from asrkit_plugins.loggers.comet_logger import CometLogger
from asrkit_plugins.loggers.console_logger import ConsoleLogger
from asrkit_plugins.loggers.jsonl_logger import JsonlLogger

ASRKIT_PLUGIN_API = ">=2,<3"  # the plugin API versions this plugin is written for


@hookimpl
def asrkit_register_loggers() -> list[type]:
    return [ConsoleLogger, JsonlLogger, CometLogger]


@hookimpl
def asrkit_recipe_defaults() -> dict[str, Any]:
    # The engine writes metrics.jsonl itself; the jsonl logger is for other files.
    return {"loggers": [{"name": "console"}]}
