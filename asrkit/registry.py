"""Registries: the components each kind's hook returned, by name.

A registry refuses a second component with a name already taken (naming both
providers), unless ``ASRKIT_PREFER_PLUGINS`` names one of the two: then that
one is used, so a plugin can replace a built-in only when the user says so.
An unknown name gets the choices and a did-you-mean.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from typing import Any

from asrkit.checks.plugin import hook_problems, hook_result_problem
from asrkit.config import did_you_mean, is_config_class
from asrkit.errors import PluginError, RecipeError
from asrkit.hookspecs import HOOK_KINDS
from asrkit.interfaces import INTERFACES, KINDS
from asrkit.limits import quote
from asrkit.plugins import (
    PLUGIN_API_VERSION,
    AsrkitPluginManager,
    BrokenPlugin,
    PluginSource,
    asrkit_source,
    make_plugin_manager,
)


@dataclass(frozen=True)
class ComponentInfo:
    """A registered component and where it comes from."""

    kind: str
    name: str
    cls: type
    plugin: str
    package: str
    version: str

    @property
    def description(self) -> str:
        doc = inspect.getdoc(self.cls) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    def as_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "name": self.name,
            "plugin": self.plugin,
            "package": self.package,
            "version": self.version,
            "description": self.description,
        }


PREFER_VARIABLE = "ASRKIT_PREFER_PLUGINS"
"""Plugins (entry-point or distribution names; ``asrkit`` for the built-ins) that win a name conflict."""


def preferred_plugins() -> set[str]:
    """The plugins named in ``ASRKIT_PREFER_PLUGINS=a,b``."""
    return {name.strip() for name in os.environ.get(PREFER_VARIABLE, "").split(",") if name.strip()}


class Registry:
    """Every component of every kind, from one plugin manager."""

    def __init__(self, pm: AsrkitPluginManager, prefer: set[str] | None = None) -> None:
        self.pm = pm
        self.prefer = preferred_plugins() if prefer is None else prefer
        self._components: dict[str, dict[str, ComponentInfo]] = {kind: {} for kind in KINDS}
        self._failed: list[BrokenPlugin] = []
        self._conflicts: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
        self._refused: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
        for hook_name, kind in HOOK_KINDS.items():
            for impl in getattr(pm.hook, hook_name).get_hookimpls():
                self._collect(kind, impl.plugin_name, impl.function)
        self.recipe_defaults: dict[str, Any] = self._collect_defaults()
        """Recipe nodes proposed by the plugins for keys a recipe leaves out (``asrkit_recipe_defaults``)."""

    @property
    def broken(self) -> list[BrokenPlugin]:
        """Plugins that failed to load, or whose registration hook failed."""
        return [*self.pm.broken, *self._failed]

    def hook_warnings(self) -> list[BrokenPlugin]:
        """Loaded plugins with functions pluggy silently ignores: an ``asrkit_*`` function without ``@hookimpl``."""
        found = []
        for name, source in self.pm.sources.items():
            for problem in hook_problems(self.pm.get_plugin(name)):
                found.append(BrokenPlugin(name, source.package, source.version, problem))
        return found

    def _collect(self, kind: str, plugin_name: str, hook: Any) -> None:
        source = self.pm.sources.get(plugin_name, PluginSource("?", "?"))
        try:
            result = hook()
            wrong_type = hook_result_problem(hook.__name__, result)
            if wrong_type:
                raise PluginError(wrong_type)
            classes = list(result)
            for cls in classes:
                _check_shape(kind, cls)
        except (Exception, SystemExit) as exc:
            message = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self._failed.append(BrokenPlugin(plugin_name, source.package, source.version, message))
            return
        outdated = [cls for cls in classes if outdated_contract(kind, cls)]
        for cls in outdated:
            message = outdated_contract(kind, cls).format(plugin=f"plugin '{plugin_name}' ({source.package})")
            self._refused[kind][cls.name] = message
            self._failed.append(BrokenPlugin(plugin_name, source.package, source.version, message))
        for cls in classes:
            if cls in outdated:
                continue
            info = ComponentInfo(kind, cls.name, cls, plugin_name, source.package, source.version)
            taken = self._components[kind].get(cls.name)
            if taken is not None:
                winner = self._preferred(taken, info)
                if winner is not None:
                    self._components[kind][cls.name] = winner
                    self._conflicts[kind].pop(cls.name, None)
                    continue
                # Refuse both: which one a recipe got would depend on load order.
                message = (
                    f"{kind} component '{cls.name}' is registered twice: by plugin '{taken.plugin}' "
                    f"({taken.package}) and by plugin '{plugin_name}' ({source.package}); choose one with "
                    f"{PREFER_VARIABLE}={plugin_name} (or ={taken.plugin}), uninstall one, "
                    "or leave one out with ASRKIT_LOAD_PLUGINS"
                )
                self._conflicts[kind][cls.name] = message
                self._failed.append(BrokenPlugin(plugin_name, source.package, source.version, message))
                continue
            self._components[kind][cls.name] = info

    def _preferred(self, first: ComponentInfo, second: ComponentInfo) -> ComponentInfo | None:
        """The one of two same-named components that :data:`PREFER_VARIABLE` names, if it names exactly one."""
        chosen = [c for c in (first, second) if {c.plugin, c.package} & self.prefer]
        return chosen[0] if len(chosen) == 1 else None

    def _collect_defaults(self) -> dict[str, Any]:
        """Each key's proposal: the built-ins' first, then by plugin name, so that installing a plugin changes none."""
        own = asrkit_source().package

        def order(impl: Any) -> tuple[bool, str]:
            return self.pm.sources.get(impl.plugin_name, PluginSource("?", "?")).package != own, impl.plugin_name

        defaults: dict[str, Any] = {}
        for impl in sorted(self.pm.hook.asrkit_recipe_defaults.get_hookimpls(), key=order):
            try:
                proposed = dict(impl.function())
            except Exception as exc:
                source = self.pm.sources.get(impl.plugin_name, PluginSource("?", "?"))
                message = f"{type(exc).__name__}: {exc}".splitlines()[0]
                self._failed.append(BrokenPlugin(impl.plugin_name, source.package, source.version, message))
                continue
            for key, node in proposed.items():
                defaults.setdefault(key, node)
        return defaults

    def open_dataset(self, spec: str) -> Any:
        """The dataset node a plugin makes of the shortcut ``spec`` (``asrkit_open_dataset``), or None."""
        return self.pm.hook.asrkit_open_dataset(spec=spec)

    def names(self, kind: str) -> list[str]:
        return sorted(n for n in self._components[kind] if n not in self._conflicts[kind])

    def components(self, kind: str | None = None) -> list[ComponentInfo]:
        kinds = KINDS if kind is None else (kind,)
        return [self._components[k][n] for k in kinds for n in self.names(k)]

    def get(self, kind: str, name: str, path: str | None = None) -> ComponentInfo:
        """The component ``name`` of ``kind``; ``path`` (the recipe key) prefixes the error."""
        if kind not in self._components:
            raise RecipeError(f"unknown component kind '{kind}'; kinds: {', '.join(KINDS)}" + did_you_mean(kind, KINDS))
        if name in self._conflicts[kind]:
            raise PluginError(self._conflicts[kind][name])
        if name in self._refused[kind] and name not in self._components[kind]:
            raise PluginError(self._refused[kind][name])
        found = self._components[kind].get(name)
        if found is not None:
            return found
        where = f"{path}.name" if path else kind
        choices = ", ".join(self.names(kind)) or "(none installed)"
        message = f"{where}: unknown {kind} component '{quote(str(name))}'; choices: {choices}" + did_you_mean(
            str(name), self.names(kind)
        )
        if self.broken:
            message += f" (broken plugins: {', '.join(b.name for b in self.broken)}; see asrkit list-plugins)"
        raise RecipeError(message)


def _check_shape(kind: str, cls: Any) -> None:
    """The minimum a registered class needs so that recipes can use it."""
    if not isinstance(cls, type):
        raise PluginError(f"registered {kind} {cls!r} is not a class")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise PluginError(f"{kind} class {cls.__qualname__} has no string 'name'")
    if not is_config_class(getattr(cls, "Config", None)):
        raise PluginError(f"{kind} component '{name}' has no Config dataclass")
    base = INTERFACES[kind]
    if not issubclass(cls, base):
        raise PluginError(f"{kind} component '{name}' does not derive from asrkit.interfaces.{base.__name__}")


MIGRATION_DOCS = "docs/plugins.md#migrating-from-asrkit-01"
"""Where a plugin author reads what changed in the plugin API."""


def outdated_contract(kind: str, cls: type) -> str | None:
    """Why ``cls`` is written against asrkit 0.1's contract of its kind (``{plugin}`` left to fill in), or None.

    0.1 encoders were built with ``num_classes`` and returned logits; today the
    objective owns the output layer. Building one would fail, or worse, train
    a model whose encoder output is taken for hidden features.
    """
    if kind != "encoders":
        return None
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return None
    if "num_classes" not in parameters:
        return None
    return (
        f"encoders component '{cls.name}' of {{plugin}} is written for asrkit 0.1 (built with num_classes, "
        f"returning logits); asrkit plugin API {PLUGIN_API_VERSION} encoders return hidden features: "
        f"see {MIGRATION_DOCS}"
    )


def load_registry(autoload: bool | None = None, allowed: set[str] | None = None) -> Registry:
    """The registry of the current environment's plugins (see :mod:`asrkit.plugins`)."""
    return Registry(make_plugin_manager(autoload=autoload, allowed=allowed))
