"""Built-in decoders plugin: registers asrkit's own decoders components."""

from __future__ import annotations

from typing import Any

from asrkit import hookimpl

ASRKIT_PLUGIN_API = ">=2,<3"  # the plugin API versions this plugin is written for


@hookimpl
def asrkit_register_decoders() -> list[type]:
    # Imported here, not at the top: the beam decoder's spawned workers import
    # beam_search from this package and must not pay for importing torch.
    from asrkit_plugins.decoders.beam import BeamDecoder
    from asrkit_plugins.decoders.greedy import GreedyDecoder

    return [GreedyDecoder, BeamDecoder]


@hookimpl
def asrkit_recipe_defaults() -> dict[str, Any]:
    # Validation decodes every epoch: the fast best path, whatever the recipe's decoder.
    return {"decoder": {"name": "greedy"}, "train.valid_decoder": {"name": "greedy"}}
