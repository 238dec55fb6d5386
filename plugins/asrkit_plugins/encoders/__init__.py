"""Built-in encoders plugin: registers asrkit's own encoders components."""

from __future__ import annotations

from asrkit import hookimpl
from asrkit_plugins.encoders.conformer import Conformer
from asrkit_plugins.encoders.rescnn_bigru import ResCNNBiGRU

ASRKIT_PLUGIN_API = ">=2,<3"  # the plugin API versions this plugin is written for


@hookimpl
def asrkit_register_encoders() -> list[type]:
    return [ResCNNBiGRU, Conformer]
