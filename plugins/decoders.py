"""Built-in decoders plugin: registers asrkit's own decoders components."""

from __future__ import annotations

from asrkit import hookimpl
from asrkit_plugins.beam import BeamDecoder
from asrkit_plugins.greedy import GreedyDecoder


@hookimpl
def asrkit_register_decoders() -> list[type]:
    return [GreedyDecoder, BeamDecoder]
