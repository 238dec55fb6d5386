"""Test kit for plugin authors, registered as a pytest plugin (``-p asrkit.testing`` is automatic).

Fixtures:

- ``asrkit_plugin_manager``: a fresh plugin manager with the built-ins only.
- ``asrkit_register_plugin``: register a throwaway plugin for one test; every
  registry made during the test (also by CLI commands) sees it. (The old name
  ``register_plugin`` still works, with a deprecation warning.)

And the contract checks, which raise :class:`ContractError` (an
``AssertionError``) naming the component, the check and the values seen::

    from asrkit.testing import check_component, check_plugin

    def test_my_encoder():
        check_component("encoders", MyEncoder, input_dim=80)

    def test_my_plugin():
        check_plugin("my_package.plugin")

This module is loaded by every pytest session where asrkit is installed, so it
imports neither torch nor anything heavy until a check runs, and it imports
without pytest (then it offers the checks but no fixtures).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from asrkit.checks import ContractError, expect

if TYPE_CHECKING:
    from asrkit.checks.plugin import PluginReport
    from asrkit.plugins import AsrkitPluginManager

__all__ = ["ContractError", "check_component", "check_plugin"]


def check_component(kind: str, cls: type, config: Any = None, **dependencies: Any) -> None:
    """Check that ``cls`` is a valid component of ``kind`` and behaves as its interface says.

    The static part (name, docstring, Config dataclass with typed, documented,
    recipe-compatible fields, the kind's base class) always runs. The behaviour
    part builds the component as the builder does, ``cls(config, **dependencies)``
    (``config`` defaults to ``cls.Config()`` when every field has a default;
    each dependency not given gets a small default: ``input_dim=20`` for an
    encoder, ``sample_rate=16000``...), feeds it inputs of those sizes and runs
    it in eval and in train mode. docs/plugins.md lists every check per kind.
    """
    from asrkit.checks.components import BEHAVIOUR
    from asrkit.checks.static import check_static
    from asrkit.interfaces import KINDS

    expect(kind in KINDS, f"check_component('{kind}')", "unknown kind", kinds=KINDS)
    check_static(kind, cls)
    if config is None:
        try:
            config = cls.Config()
        except TypeError:
            return  # required parameters (a data root, say): only the static contract applies
    BEHAVIOUR[kind](cls, config, dict(dependencies))


def check_plugin(plugin: Any) -> PluginReport:
    """Check a whole plugin: a module, an importable module name, or an installed distribution's name.

    Raises :class:`ContractError` listing every problem found (a hook function
    without ``@hookimpl``, an unknown hook name, a hook returning something
    other than a list of classes of its kind, a plugin registering nothing,
    a component failing its static contract); returns the report otherwise.
    """
    from asrkit.checks.plugin import inspect_plugin

    report = inspect_plugin(plugin)
    if report.problems:
        raise ContractError(f"plugin {report.name}: " + "; ".join(report.problems))
    return report


try:
    import pytest
except ImportError:  # the checks work without pytest; the fixtures need it
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def asrkit_plugin_manager() -> AsrkitPluginManager:
        """A plugin manager with asrkit's built-ins and no installed plugins."""
        from asrkit.plugins import make_plugin_manager

        return make_plugin_manager(autoload=False)

    @pytest.fixture
    def asrkit_register_plugin() -> Iterator[Callable[..., None]]:
        """``asrkit_register_plugin(obj, name="x")``: load ``obj`` as a plugin until the test ends."""
        from asrkit import plugins

        added: list[tuple[str, object, plugins.PluginSource]] = []

        def register(plugin: object, name: str = "test-plugin", package: str = "test-package") -> None:
            entry = (name, plugin, plugins.PluginSource(package, "0.0.0"))
            plugins.EXTRA_PLUGINS.append(entry)
            added.append(entry)

        yield register
        for entry in added:
            plugins.EXTRA_PLUGINS.remove(entry)

    @pytest.fixture
    def register_plugin(asrkit_register_plugin: Callable[..., None]) -> Callable[..., None]:
        """Deprecated name of ``asrkit_register_plugin``."""
        warnings.warn(
            "the fixture 'register_plugin' is renamed 'asrkit_register_plugin'", DeprecationWarning, stacklevel=2
        )
        return asrkit_register_plugin
