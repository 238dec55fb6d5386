"""Loading plugins: built-ins, entry points, environment switches, broken plugins.

Built-in plugins are ordinary plugins: they are declared as entry points in the
``asrkit`` group of our own ``pyproject.toml``, exactly as a third party does,
and also listed in :data:`BUILTIN_PLUGINS` so they load from a source tree and
with autoload off. A test keeps the two lists in agreement.

Environment switches, as pytest and datasette have them:

- ``ASRKIT_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry-point plugin but the built-ins.
- ``ASRKIT_LOAD_PLUGINS=a,b``: load only these plugins (entry-point names or
  distribution names), built-ins included: ``asrkit`` stands for all of them,
  ``asrkit_decoders`` for one. The core names no built-in, so a run with a
  third-party set of components needs none of asrkit's.

A plugin that fails to import, or whose hook raises, is recorded as a
:class:`BrokenPlugin` with its error instead of stopping the program: commands
that do not need it keep working.

The plugin API has a version, :data:`PLUGIN_API_VERSION`. A plugin module
declares the versions it supports with a module attribute holding a PEP 440
specifier, ``ASRKIT_PLUGIN_API = ">=2,<3"``; a plugin that does not support
this asrkit's version is recorded as broken, with one line saying so. A
plugin that declares nothing is loaded, and its components are checked
against today's contracts (an asrkit 0.1 encoder is refused by name).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy

from asrkit import hookspecs

ENTRY_POINT_GROUP = "asrkit"

PLUGIN_API_VERSION = 2
"""The version of the plugin API (hooks and interfaces): 1 was asrkit 0.1; 2 added objectives, and encoders
return hidden features instead of logits."""

API_ATTRIBUTE = "ASRKIT_PLUGIN_API"
"""The module attribute in which a plugin declares the plugin API versions it supports (a PEP 440 specifier)."""

BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("asrkit_datasets", "asrkit_plugins.datasets"),
    ("asrkit_features", "asrkit_plugins.features"),
    ("asrkit_augmenters", "asrkit_plugins.augmenters"),
    ("asrkit_encoders", "asrkit_plugins.encoders"),
    ("asrkit_objectives", "asrkit_plugins.objectives"),
    ("asrkit_tokenizers", "asrkit_plugins.tokenizers"),
    ("asrkit_decoders", "asrkit_plugins.decoders"),
    ("asrkit_loggers", "asrkit_plugins.loggers"),
)
"""``(entry-point name, module)`` of every built-in plugin, in load order."""


EXTRA_PLUGINS: list[tuple[str, object, PluginSource]] = []
"""``(name, plugin, source)`` registered in every new manager: how tests add a throwaway plugin."""


@dataclass(frozen=True)
class PluginSource:
    """Where a plugin comes from: its distribution and version."""

    package: str
    version: str


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that could not be loaded or registered."""

    name: str
    package: str
    version: str
    error: str


class AsrkitPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers where each plugin came from and which failed."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.sources: dict[str, PluginSource] = {}
        self.broken: list[BrokenPlugin] = []

    def register_plugin(self, plugin: object, name: str, source: PluginSource) -> None:
        check_api_version(plugin, name, source)
        self.register(plugin, name=name)
        self.sources[name] = source

    def mark_broken(self, name: str, source: PluginSource, error: BaseException) -> None:
        message = f"{type(error).__name__}: {error}".splitlines()[0]
        self.broken.append(BrokenPlugin(name, source.package, source.version, message))


class PluginApiError(Exception):
    """A plugin declares plugin API versions that do not include this asrkit's."""


def check_api_version(plugin: object, name: str, source: PluginSource) -> None:
    """Refuse ``plugin`` when its :data:`API_ATTRIBUTE` excludes :data:`PLUGIN_API_VERSION`."""
    declared = getattr(plugin, API_ATTRIBUTE, None)
    if declared is None:
        return
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        supported = SpecifierSet(str(declared))
    except InvalidSpecifier:
        raise PluginApiError(f"{API_ATTRIBUTE} = {declared!r} is not a version specifier such as '>=2,<3'") from None
    if not supported.contains(str(PLUGIN_API_VERSION)):
        raise PluginApiError(
            f"plugin '{name}' ({source.package} {source.version}) supports asrkit plugin API {declared}; "
            f"this asrkit has plugin API {PLUGIN_API_VERSION}: see docs/plugins.md#migrating-from-asrkit-01"
        )


def asrkit_source() -> PluginSource:
    from asrkit import __version__

    return PluginSource("asrkit", __version__)


def autoload_enabled() -> bool:
    return os.environ.get("ASRKIT_DISABLE_PLUGIN_AUTOLOAD", "").strip().lower() in ("", "0", "false", "no")


def allowlist() -> set[str] | None:
    raw = os.environ.get("ASRKIT_LOAD_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def load_builtins(pm: AsrkitPluginManager, allowed: set[str] | None = None) -> None:
    """Register the built-in plugins; with an allowlist, only those it names (``asrkit`` names them all)."""
    source = asrkit_source()
    for name, module in BUILTIN_PLUGINS:
        if pm.has_plugin(name) or (allowed is not None and name not in allowed and source.package not in allowed):
            continue
        try:
            pm.register_plugin(importlib.import_module(module), name, source)
        except Exception as exc:  # a broken optional dependency must not break the CLI
            pm.mark_broken(name, source, exc)


def load_entry_points(pm: AsrkitPluginManager, allowed: set[str] | None) -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.has_plugin(ep.name) or pm.is_blocked(ep.name) or any(b.name == ep.name for b in pm.broken):
            continue
        dist = getattr(ep, "dist", None)
        source = PluginSource(dist.name if dist else "?", dist.version if dist else "?")
        if allowed is not None and ep.name not in allowed and source.package not in allowed:
            continue
        try:
            plugin = load_guarded(ep.load)
        except KeyboardInterrupt:
            raise  # the user pressed Ctrl-C (a plugin's own KeyboardInterrupt is PluginInterrupted)
        except BaseException as exc:  # SystemExit too: one plugin must not end every command
            pm.mark_broken(ep.name, source, exc)
            continue
        try:
            pm.register_plugin(plugin, ep.name, source)
        except Exception as exc:
            pm.mark_broken(ep.name, source, exc)


class PluginInterrupted(Exception):
    """A plugin raised ``KeyboardInterrupt`` while loading although nobody pressed Ctrl-C."""


def load_guarded(load: Callable[[], Any]) -> Any:
    """``load()``, where a ``KeyboardInterrupt`` the plugin raised itself becomes :class:`PluginInterrupted`.

    ``SystemExit`` and every exception pass through for the caller to record
    the plugin as broken; a real Ctrl-C (SIGINT received meanwhile) still stops
    the program. Off the main thread no handler can be installed, and any
    ``KeyboardInterrupt`` is taken as the user's.
    """
    pressed: list[bool] = []

    def on_sigint(signum: int, frame: Any) -> None:
        pressed.append(True)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread
        return load()
    try:
        return load()
    except KeyboardInterrupt:
        if pressed:
            raise
        raise PluginInterrupted("KeyboardInterrupt raised at import (not by Ctrl-C)") from None
    finally:
        signal.signal(signal.SIGINT, previous)


def make_plugin_manager(autoload: bool | None = None, allowed: set[str] | None = None) -> AsrkitPluginManager:
    """A plugin manager with the built-ins and, unless disabled, the installed plugins.

    ``autoload`` and ``allowed`` default to the environment switches; the
    allowlist applies to the built-ins too.
    """
    pm = AsrkitPluginManager()
    if allowed is None:
        allowed = allowlist()
    load_builtins(pm, allowed)
    for name, plugin, source in EXTRA_PLUGINS:
        try:
            pm.register_plugin(plugin, name, source)
        except Exception as exc:
            pm.mark_broken(name, source, exc)
    if autoload if autoload is not None else autoload_enabled():
        load_entry_points(pm, allowed)
    _drop_misspelled_hooks(pm)
    return pm


def _drop_misspelled_hooks(pm: AsrkitPluginManager) -> None:
    """Unregister plugins whose ``@hookimpl`` names no hook (a typo would otherwise do nothing)."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or "?"
            pm.unregister(exc.plugin)
            pm.mark_broken(name, pm.sources.get(name, PluginSource("?", "?")), exc)
