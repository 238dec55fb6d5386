"""Built-in features plugin: registers asrkit's own features components."""

from __future__ import annotations

from asrkit import hookimpl
from asrkit_plugins.features.log_mel import LogMel
from asrkit_plugins.features.mfcc import Mfcc


@hookimpl
def asrkit_register_features() -> list[type]:
    return [LogMel, Mfcc]
