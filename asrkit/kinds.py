"""The component kinds: one record per kind, from which the rest of the core derives.

Each :class:`Kind` says what a kind is called (``encoders``), where a recipe
names its components (``encoder:``, a single node, or ``augmenters:``, a
list), which hook registers them (``asrkit_register_encoders``), which base
class they derive from (:class:`asrkit.interfaces.Encoder`) and what the
builder passes their constructor. The hook specs' kind map, the registry, the
recipe schema, ``list-plugins``, the generated references and
``check_component`` all read :data:`KIND_TABLE`; ``tests/test_kinds.py``
fails when any of them, the hook specs or the plugin tutorial's table
disagrees with it.

Adding a kind is: a record here, its interface class in
:mod:`asrkit.interfaces`, its hook spec in :mod:`asrkit.hookspecs`, its
contract check in :mod:`asrkit.testing`, and where the builder uses it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """One component kind."""

    name: str
    """Plural, as in hooks, the registry and ``list-plugins``: ``encoders``."""
    recipe_key: str
    """Where a recipe names its components: ``encoder``; ``data.*`` for datasets (in ``data.train`` etc.)."""
    interface: str
    """The name of its base class in :mod:`asrkit.interfaces`."""
    many: bool
    """Whether the recipe takes a list of nodes (``augmenters``, ``loggers``) or one node."""
    built_as: str
    """How the builder constructs one, for the documentation."""

    @property
    def hook(self) -> str:
        """The hook that registers components of this kind."""
        return f"asrkit_register_{self.name}"

    @property
    def in_recipe_root(self) -> bool:
        """Whether the kind's node is a top-level recipe section (datasets live under ``data``)."""
        return "." not in self.recipe_key


KIND_TABLE: tuple[Kind, ...] = (
    Kind("datasets", "data.*", "Dataset", True, "cls(config)"),
    Kind("features", "features", "FeatureExtractor", False, "cls(config, sample_rate=...)"),
    Kind("augmenters", "augmenters", "Augmenter", True, "cls(config, sample_rate=...)"),
    Kind("encoders", "encoder", "Encoder", False, "cls(config, input_dim=D)"),
    Kind("objectives", "objective", "Objective", False, "cls(config, input_dim=H, tokenizer=...)"),
    Kind("tokenizers", "tokenizer", "Tokenizer", False, "cls(config)"),
    Kind("decoders", "decoder", "Decoder", False, "cls(config, tokenizer=...)"),
    Kind("loggers", "loggers", "Logger", True, "cls(config, run=RunInfo(...))"),
)
"""Every component kind, in the order data flows through a run."""

KINDS: tuple[str, ...] = tuple(kind.name for kind in KIND_TABLE)

BY_NAME: dict[str, Kind] = {kind.name: kind for kind in KIND_TABLE}

RECIPE_SECTIONS: tuple[Kind, ...] = tuple(kind for kind in KIND_TABLE if kind.in_recipe_root)
"""The kinds with a top-level recipe section, in recipe order."""
