"""Building components from a validated recipe, passing each its dependencies.

Dimensions that depend on another component (the feature size, the encoder's
hidden size, the number of output classes) are given to the constructor
here; a recipe never repeats them.
"""

from __future__ import annotations

import inspect
from typing import Any

from asrkit.errors import AsrkitError, PluginError
from asrkit.interfaces import Encoder, IntermediateOutputs, Tokenizer
from asrkit.model import AcousticModel
from asrkit.recipe import ComponentSpec, Recipe
from asrkit.registry import Registry


def build(registry: Registry, spec: ComponentSpec, **dependencies: Any) -> Any:
    """Construct the component of ``spec`` as ``cls(config, **dependencies)``.

    A component that fails to construct is reported with its recipe key, as one
    line: a recipe mistake the Config could not catch (a missing file, say) is
    the usual cause.
    """
    cls = registry.get(spec.kind, spec.name, spec.path).cls
    try:
        return cls(spec.config, **dependencies)
    except AsrkitError as exc:
        raise type(exc)(f"{spec.path}: {exc}") from exc
    except Exception as exc:
        raise PluginError(
            f"{spec.path}: building {spec.kind} '{spec.name}' failed: {type(exc).__name__}: {exc}"
        ) from exc


def build_objective(registry: Registry, spec: ComponentSpec, encoder: Encoder, tokenizer: Tokenizer) -> Any:
    """The objective over ``encoder``'s hidden features; it also gets the encoder when its constructor asks for it."""
    cls = registry.get(spec.kind, spec.name, spec.path).cls
    dependencies: dict[str, Any] = {"input_dim": encoder.output_dim, "tokenizer": tokenizer}
    if "encoder" in inspect.signature(cls).parameters:
        dependencies["encoder"] = encoder
    objective = build(registry, spec, **dependencies)
    if objective.intermediate_layers and not isinstance(encoder, IntermediateOutputs):
        raise PluginError(
            f"{spec.path}: objective '{spec.name}' reads encoder layers {list(objective.intermediate_layers)}, "
            f"but encoder '{type(encoder).name}' does not offer intermediate outputs "
            "(asrkit.interfaces.IntermediateOutputs)"
        )
    return objective


def build_model(registry: Registry, recipe: Recipe, tokenizer: Tokenizer) -> AcousticModel:
    """features → augmenters → encoder → objective, sized for ``tokenizer``'s classes."""
    rate = recipe.data.sample_rate
    features = build(registry, recipe.features, sample_rate=rate)
    augmenters = [build(registry, spec, sample_rate=rate) for spec in recipe.augmenters]
    encoder = build(registry, recipe.encoder, input_dim=features.num_features)
    objective = build_objective(registry, recipe.objective, encoder, tokenizer)
    return AcousticModel(features, augmenters, encoder, objective)
