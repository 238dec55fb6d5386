"""Built-in loggers plugin: registers asrkit's own loggers components."""

from __future__ import annotations

from asrkit import hookimpl
from asrkit_plugins.comet_logger import CometLogger
from asrkit_plugins.console_logger import ConsoleLogger
from asrkit_plugins.jsonl_logger import JsonlLogger


@hookimpl
def asrkit_register_loggers() -> list[type]:
    return [ConsoleLogger, JsonlLogger, CometLogger]
