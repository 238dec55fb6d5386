"""What ``asrkit evaluate`` and ``asrkit transcribe`` share: the device, and a decoder chosen on the command line.

A decoder given on the command line is validated exactly like a recipe
override: ``--decoder beam --decoder-option beam_width=50`` becomes the node
``{name: beam, beam_width: 50}`` (values parsed as YAML) and goes through the
same checks, so a typo gets the accepted parameters and a did-you-mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from asrkit.errors import RecipeError
from asrkit.recipe import ComponentSpec, component, parse_override
from asrkit.registry import Registry


def inference_device(name: str) -> torch.device:
    """``auto``: the first GPU if there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise RecipeError(f"--device: '{name}' is not a device (auto, cpu, cuda, cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RecipeError(f"--device: '{name}' asked for, but no CUDA device is available")
    return device


def decoder_spec(
    registry: Registry, recipe_decoder: ComponentSpec, name: str | None, options: Sequence[str]
) -> ComponentSpec:
    """The recipe's decoder, or the one named by ``name``, with ``KEY=VALUE`` options applied."""
    node = recipe_decoder.as_dict() if name is None or name == recipe_decoder.name else {"name": name}
    for option in options:
        parts, value = parse_override(option)
        if len(parts) != 1 or not isinstance(parts[0], str) or parts[0] == "name":
            raise RecipeError(f"--decoder-option '{option}': expected PARAMETER=VALUE, e.g. beam_width=50")
        node[parts[0]] = value
    return component(registry, "decoders", node, "decoder")
