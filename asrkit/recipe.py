"""Recipes: YAML data naming registered components, validated before anything runs.

A recipe is read with ``yaml.safe_load`` only (within the expansion limits of
:mod:`asrkit.limits`, so aliases cannot multiply it), and a component is chosen by its
registered ``name``: nothing in a recipe can import or execute code. Every
component node has one shape, ``{name: <registered name>, <Config field>: value}``;
``augmenters``, ``loggers`` and the data sets are lists of such nodes.

Validation reports the first mistake with its key path: an unknown component
gets the choices and a did-you-mean, an unknown or mistyped parameter gets the
accepted fields, malformed YAML gets the file and line.

Keys a recipe leaves out get the node the plugins propose
(``asrkit_recipe_defaults``; the built-ins propose ``log_mel``, ``ctc``,
``char``, ``greedy`` and the ``console`` logger): the core itself names no
component.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement

from asrkit.config import build_config, did_you_mean, to_dict
from asrkit.errors import AsrkitError, RecipeError
from asrkit.kinds import RECIPE_SECTIONS, Kind
from asrkit.limits import load_yaml, quote, show
from asrkit.provenance import merge_requires, provider_requirements
from asrkit.registry import Registry
from asrkit.train_config import TrainConfig


@dataclass(frozen=True)
class ComponentSpec:
    """A validated component node: which class, with which config, from where in the recipe."""

    kind: str
    name: str
    config: Any
    path: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **to_dict(self.config)}


@dataclass(frozen=True)
class DataSpec:
    sample_rate: int
    train: tuple[ComponentSpec, ...]
    valid: tuple[ComponentSpec, ...]
    test: tuple[ComponentSpec, ...]


@dataclass(frozen=True)
class Recipe:
    """A validated recipe; :meth:`resolved` is the same with every default filled in."""

    requires: tuple[str, ...]
    data: DataSpec
    features: ComponentSpec
    augmenters: tuple[ComponentSpec, ...]
    encoder: ComponentSpec
    objective: ComponentSpec
    tokenizer: ComponentSpec
    decoder: ComponentSpec
    loggers: tuple[ComponentSpec, ...]
    train: TrainConfig
    valid_decoder: ComponentSpec
    """``train.valid_decoder``: the decoder validation scores with after each epoch (it picks ``best.pt``)."""

    def resolved(self) -> dict[str, Any]:
        return {
            "requires": list(self.requires),
            "data": {
                "sample_rate": self.data.sample_rate,
                "train": [s.as_dict() for s in self.data.train],
                "valid": [s.as_dict() for s in self.data.valid],
                "test": [s.as_dict() for s in self.data.test],
            },
            **{kind.recipe_key: _node_dict(getattr(self, kind.recipe_key)) for kind in RECIPE_SECTIONS},
            "train": {**to_dict(self.train), "valid_decoder": self.valid_decoder.as_dict()},
        }


TOP_LEVEL_KEYS = ("requires", "data", *(kind.recipe_key for kind in RECIPE_SECTIONS), "train")
DATA_KEYS = ("sample_rate", "train", "valid", "test")


def _node_dict(spec: ComponentSpec | tuple[ComponentSpec, ...]) -> Any:
    return [s.as_dict() for s in spec] if isinstance(spec, tuple) else spec.as_dict()


VALID_DECODER = "valid_decoder"
"""The key under ``train`` of the validation decoder's node."""


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a recipe file with ``yaml.safe_load`` within :mod:`asrkit.limits`; errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc.strerror or exc}") from None
    try:
        data = load_yaml(text, str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        detail = f"{context}, {problem}" if context else problem
        raise RecipeError(f"{where}: invalid YAML: {quote(detail, 300)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a mapping of sections, got {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """``train.epochs=3`` → ``(["train", "epochs"], 3)``; the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"override '{quote(text)}': expected KEY=VALUE, e.g. train.epochs=3")
    try:
        value = load_yaml(raw, f"override '{quote(key)}'") if raw.strip() else ""
    except yaml.YAMLError:
        raise RecipeError(f"override '{quote(text)}': the value is not valid YAML") from None
    parts: list[str | int] = []
    for piece in key.strip().replace("[", ".").replace("]", "").split("."):
        if not piece:
            raise RecipeError(f"override '{quote(text)}': empty part in key '{quote(key)}'")
        parts.append(int(piece) if piece.isdigit() else piece)
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set dotted keys (``encoder.rnn_dim=256``, ``augmenters.0.time_masks=2``) in ``data``."""
    for text in overrides:
        parts, value = parse_override(text)
        node: Any = data
        for i, part in enumerate(parts[:-1]):
            here = ".".join(str(p) for p in parts[: i + 1])
            if isinstance(node, list):
                if not isinstance(part, int) or not -len(node) <= part < len(node):
                    raise RecipeError(f"override '{quote(text)}': '{here}' is not an index of a list of {len(node)}")
                node = node[part]
            elif isinstance(node, dict):
                if isinstance(node.get(part), (dict, list)):
                    node = node[part]
                elif isinstance(parts[i + 1], int):
                    raise RecipeError(f"override '{quote(text)}': '{here}' is not a list in this recipe")
                else:
                    node[part] = {}
                    node = node[part]
            else:
                raise RecipeError(f"override '{quote(text)}': '{here}' is not a mapping or list")
        last = parts[-1]
        if isinstance(node, list):
            if not isinstance(last, int) or not -len(node) <= last < len(node):
                raise RecipeError(f"override '{quote(text)}': index {last} is out of range")
            node[last] = value
        else:
            node[last] = value
    return data


def load_recipe(path: str | Path, overrides: list[str], registry: Registry) -> Recipe:
    """Read, override and validate a recipe file."""
    return parse_recipe(apply_overrides(read_yaml(path), list(overrides)), registry)


def parse_recipe(data: dict[str, Any], registry: Registry) -> Recipe:
    """Validate recipe data against the registered components."""
    unknown = [k for k in data if k not in TOP_LEVEL_KEYS]
    if unknown:
        raise RecipeError(
            f"{quote(unknown[0])}: unknown recipe section; sections: {', '.join(TOP_LEVEL_KEYS)}"
            + did_you_mean(str(unknown[0]), TOP_LEVEL_KEYS)
        )
    requires = _requires(data.get("requires") or [])
    check_requirements(requires)
    if "encoder" not in data:
        raise RecipeError("encoder: required section is missing (e.g. encoder: {name: rescnn_bigru})")
    for kind in RECIPE_SECTIONS:
        if kind.recipe_key not in data:
            data[kind.recipe_key] = recipe_default(registry, kind)
    train = data.get("train")
    train = dict(train) if isinstance(train, dict) else train
    valid_node = train.pop(VALID_DECODER, None) if isinstance(train, dict) else None
    if valid_node is None:
        valid_node = copy.deepcopy(registry.recipe_defaults.get(f"train.{VALID_DECODER}", data["decoder"]))
    sections = {
        kind.recipe_key: (component_list if kind.many else component)(
            registry, kind.name, data[kind.recipe_key], kind.recipe_key
        )
        for kind in RECIPE_SECTIONS
    }
    recipe = Recipe(
        requires=requires,
        data=_data_section(data.get("data") or {}, registry),
        **sections,
        train=build_config(TrainConfig, train, "train"),
        valid_decoder=component(registry, "decoders", valid_node, f"train.{VALID_DECODER}"),
    )
    return record_providers(recipe, registry)


def recipe_default(registry: Registry, kind: Kind) -> Any:
    """The node(s) the plugins propose for ``kind``'s section; a one-line error when a single node is missing."""
    if kind.recipe_key in registry.recipe_defaults:
        return copy.deepcopy(registry.recipe_defaults[kind.recipe_key])
    if kind.many:
        return []  # a list section nobody proposes anything for is empty
    names = registry.names(kind.name)
    choices = f"choices: {', '.join(names)}" if names else f"no loaded plugin provides {kind.name}"
    raise RecipeError(
        f"{kind.recipe_key}: required section is missing and no loaded plugin proposes a default "
        f"({choices}; ASRKIT_LOAD_PLUGINS may leave asrkit's own plugins out)"
    )


def record_providers(recipe: Recipe, registry: Registry) -> Recipe:
    """``recipe`` with the installed distributions behind its components added to ``requires`` (name>=version)."""
    specs = [*recipe.data.train, *recipe.data.valid, *recipe.data.test, recipe.valid_decoder]
    for kind in RECIPE_SECTIONS:
        section = getattr(recipe, kind.recipe_key)
        specs += list(section) if kind.many else [section]
    infos = [registry.get(spec.kind, spec.name, spec.path) for spec in specs]
    recorded = provider_requirements((info.package, info.version) for info in infos)
    return dataclasses.replace(recipe, requires=merge_requires(recipe.requires, recorded))


MODEL_SECTIONS = ("features", "encoder", "objective", "tokenizer", "decoder")
"""What inference builds from a checkpoint's recipe: nothing else needs its plugin installed."""


def parse_model_recipe(data: dict[str, Any], registry: Registry) -> Recipe:
    """Validate only the sections inference uses (:data:`MODEL_SECTIONS`, the sample rate, train).

    Datasets, augmenters and loggers used in training are left out, so a model
    trained with a third-party dataset or logger runs where only the model's
    plugins are installed. The test sets are kept when their plugins are here
    (``evaluate``'s default). ``requires`` is kept as recorded, not checked:
    a missing model plugin is named by the component lookup.
    """
    model = {key: copy.deepcopy(data[key]) for key in MODEL_SECTIONS if key in data}
    section = data.get("data") if isinstance(data.get("data"), dict) else {}
    rate = {"sample_rate": section["sample_rate"]} if "sample_rate" in section else {}
    # The validation decoder is training's: inference uses the recipe's decoder.
    train = copy.deepcopy(data.get("train"))
    if isinstance(train, dict):
        train.pop(VALID_DECODER, None)
    train = {"train": train} if "train" in data else {}
    recipe = parse_recipe({**model, **train, "data": rate, "augmenters": [], "loggers": []}, registry)
    try:
        test = component_list(registry, "datasets", copy.deepcopy(section.get("test")), "data.test")
    except AsrkitError:
        test = ()
    requires = _requires(data.get("requires") or [])
    return dataclasses.replace(recipe, requires=requires, data=dataclasses.replace(recipe.data, test=test))


def component(registry: Registry, kind: str, node: Any, path: str) -> ComponentSpec:
    """Validate one ``{name: ..., **params}`` node of ``kind``."""
    if isinstance(node, str):
        node = {"name": node}
    if not isinstance(node, dict):
        raise RecipeError(f"{path}: expected a mapping with a 'name', got {show(node)}")
    params = dict(node)
    name = params.pop("name", None)
    if not isinstance(name, str) or not name:
        choices = ", ".join(registry.names(kind))
        raise RecipeError(f"{path}.name: missing component name; choices: {choices}")
    info = registry.get(kind, name, path)
    return ComponentSpec(kind, name, build_config(info.cls.Config, params, path), path)


def component_list(registry: Registry, kind: str, nodes: Any, path: str) -> tuple[ComponentSpec, ...]:
    if nodes is None:
        return ()
    if isinstance(nodes, (dict, str)):
        nodes = [nodes]
    if not isinstance(nodes, list):
        raise RecipeError(f"{path}: expected a list of components, got {show(nodes)}")
    return tuple(component(registry, kind, node, f"{path}[{i}]") for i, node in enumerate(nodes))


def _data_section(data: Any, registry: Registry) -> DataSpec:
    if not isinstance(data, dict):
        raise RecipeError(f"data: expected a mapping with {', '.join(DATA_KEYS)}, got {show(data)}")
    unknown = [k for k in data if k not in DATA_KEYS]
    if unknown:
        raise RecipeError(
            f"data.{quote(unknown[0])}: unknown key; accepted: {', '.join(DATA_KEYS)}"
            + did_you_mean(str(unknown[0]), DATA_KEYS)
        )
    rate = data.get("sample_rate", 16000)
    if not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0:
        raise RecipeError(f"data.sample_rate: expected a positive int, got {show(rate)}")
    return DataSpec(
        sample_rate=rate,
        train=component_list(registry, "datasets", data.get("train"), "data.train"),
        valid=component_list(registry, "datasets", data.get("valid"), "data.valid"),
        test=component_list(registry, "datasets", data.get("test"), "data.test"),
    )


def _requires(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecipeError(f"requires: expected a list of distribution names, got {show(value)}")
    return tuple(value)


def check_requirements(requires: tuple[str, ...]) -> None:
    """Fail with "install X" when a plugin distribution the recipe needs is missing."""
    for text in requires:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            raise RecipeError(f"requires: '{text}' is not a valid requirement (e.g. my-plugin>=1.0)") from None
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            raise RecipeError(
                f"requires: this recipe needs the plugin distribution '{req.name}', which is not installed; "
                f"install it with: pip install '{text}'"
            ) from None
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            raise RecipeError(
                f"requires: this recipe needs '{text}' but {req.name} {version} is installed; "
                f"install it with: pip install '{text}'"
            )


def dump_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
