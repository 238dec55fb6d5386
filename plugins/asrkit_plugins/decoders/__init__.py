"""Built-in decoders plugin: registers asrkit's own decoders components."""

from __future__ import annotations

from asrkit import hookimpl

ASRKIT_PLUGIN_API = ">=2,<3"  # the plugin API versions this plugin is written for


@hookimpl
def asrkit_register_decoders() -> list[type]:
    # Imported here, not at the top: the beam decoder's spawned workers import
    # beam_search from this package and must not pay for importing torch.
    from asrkit_plugins.decoders.beam import BeamDecoder
    from asrkit_plugins.decoders.greedy import GreedyDecoder

    return [GreedyDecoder, BeamDecoder]
