"""Plugin loading: built-ins, entry points, environment switches, duplicates, broken plugins."""

from __future__ import annotations

import sys
import tomllib
import types

import pytest
from fake_components import FakePlugin, LinearEncoder

from asrkit import hookimpl, plugins
from asrkit.errors import PluginError, RecipeError
from asrkit.registry import Registry, load_registry


class FakeDist:
    def __init__(self, name: str, version: str = "1.2.3") -> None:
        self.name = name
        self.version = version


class FakeEntryPoint:
    """Stands in for importlib.metadata.EntryPoint: a name, a distribution and load()."""

    def __init__(self, name: str, target: object, dist: str = "fake-dist", group: str = "asrkit") -> None:
        self.name = name
        self.group = group
        self.dist = FakeDist(dist)
        self._target = target

    def load(self) -> object:
        if isinstance(self._target, BaseException):
            raise self._target
        return self._target


@pytest.fixture
def fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> list[FakeEntryPoint]:
    """The entry points asrkit sees: only those a test appends (no built-in ones, no installed ones)."""
    points: list[FakeEntryPoint] = []

    def entry_points(group: str) -> list[FakeEntryPoint]:
        return [p for p in points if p.group == group]

    monkeypatch.setattr(plugins.importlib.metadata, "entry_points", entry_points)
    return points


def plugin_module(name: str, **hooks: object) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, function)
    return module


def encoders_hook(*classes: type) -> object:
    @hookimpl
    def asrkit_register_encoders() -> list[type]:
        return list(classes)

    return asrkit_register_encoders


def renamed(cls: type, name: str) -> type:
    return type(f"{cls.__name__}_{name}", (cls,), {"name": name, "__doc__": cls.__doc__})


def test_builtins_are_the_entry_points_of_our_own_package(repo_root):
    declared = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["entry-points"]["asrkit"]
    assert declared == dict(plugins.BUILTIN_PLUGINS)


def test_builtins_load_with_autoload_off():
    pm = plugins.make_plugin_manager(autoload=False)
    for name, module in plugins.BUILTIN_PLUGINS:
        assert pm.has_plugin(name) or any(b.name == name for b in pm.broken), name
        assert module.startswith("asrkit_plugins.")


def test_entry_point_plugin_is_discovered_with_its_distribution(fake_entry_points):
    fake_entry_points.append(
        FakeEntryPoint(
            "third",
            plugin_module("third", asrkit_register_encoders=encoders_hook(renamed(LinearEncoder, "third_linear"))),
            dist="asrkit-third",
        )
    )
    info = load_registry().get("encoders", "third_linear")
    assert (info.plugin, info.package, info.version) == ("third", "asrkit-third", "1.2.3")
    assert info.description == LinearEncoder.__doc__.splitlines()[0]


def test_autoload_off_ignores_entry_points(fake_entry_points, monkeypatch):
    fake_entry_points.append(
        FakeEntryPoint(
            "third",
            plugin_module("third", asrkit_register_encoders=encoders_hook(renamed(LinearEncoder, "third_linear"))),
        )
    )
    monkeypatch.setenv("ASRKIT_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "third_linear" not in load_registry().names("encoders")


def test_allowlist_loads_only_named_plugins(fake_entry_points, monkeypatch):
    for name in ("one", "two", "three"):
        fake_entry_points.append(
            FakeEntryPoint(
                name,
                plugin_module(name, asrkit_register_encoders=encoders_hook(renamed(LinearEncoder, f"enc_{name}"))),
                dist=f"dist-{name}",
            )
        )
    monkeypatch.setenv("ASRKIT_LOAD_PLUGINS", "one,dist-three")
    names = load_registry().names("encoders")
    assert "enc_one" in names and "enc_three" in names and "enc_two" not in names


def test_duplicate_names_are_refused_naming_both_providers(fake_entry_points):
    for name in ("alpha", "beta"):
        fake_entry_points.append(
            FakeEntryPoint(
                name,
                plugin_module(name, asrkit_register_encoders=encoders_hook(renamed(LinearEncoder, "twin"))),
                dist=f"dist-{name}",
            )
        )
    registry = load_registry()
    with pytest.raises(
        PluginError,
        match=r"'twin' is registered twice: by plugin 'alpha' \(dist-alpha\) "
        r"and by plugin 'beta' \(dist-beta\)",
    ):
        registry.get("encoders", "twin")
    assert "twin" not in registry.names("encoders")
    assert any("registered twice" in b.error for b in registry.broken)


def test_the_user_chooses_which_of_two_same_named_components_wins(fake_entry_points, monkeypatch):
    # A plugin registering a built-in's name: refused, and the message says how to choose.
    fake_entry_points.append(
        FakeEntryPoint(
            "shadow",
            plugin_module("shadow", asrkit_register_encoders=encoders_hook(renamed(LinearEncoder, "rescnn_bigru"))),
        )
    )
    with pytest.raises(PluginError, match=r"choose one with ASRKIT_PREFER_PLUGINS=shadow \(or =asrkit_encoders\)"):
        load_registry().get("encoders", "rescnn_bigru")
    monkeypatch.setenv("ASRKIT_PREFER_PLUGINS", "shadow")
    assert load_registry().get("encoders", "rescnn_bigru").plugin == "shadow"
    monkeypatch.setenv("ASRKIT_PREFER_PLUGINS", "asrkit")  # the built-ins' distribution
    chosen = load_registry()
    assert chosen.get("encoders", "rescnn_bigru").package == "asrkit"
    assert not any("registered twice" in b.error for b in chosen.broken)


def test_plugin_that_fails_to_import_is_recorded_and_others_work(fake_entry_points):
    fake_entry_points.append(FakeEntryPoint("broken", ImportError("No module named 'missing_dep'"), dist="dist-broken"))
    fake_entry_points.append(
        FakeEntryPoint(
            "fine", plugin_module("fine", asrkit_register_encoders=encoders_hook(renamed(LinearEncoder, "fine_enc")))
        )
    )
    registry = load_registry()
    (broken,) = [b for b in registry.broken if b.name == "broken"]
    assert broken.package == "dist-broken" and "missing_dep" in broken.error
    assert "fine_enc" in registry.names("encoders")


@pytest.mark.parametrize("error", [SystemExit(3), KeyboardInterrupt(), GeneratorExit()])
def test_plugin_exiting_or_interrupting_at_import_is_broken_and_others_work(fake_entry_points, error):
    fake_entry_points.append(FakeEntryPoint("quitter", error, dist="dist-quitter"))
    fake_entry_points.append(
        FakeEntryPoint(
            "fine", plugin_module("fine", asrkit_register_encoders=encoders_hook(renamed(LinearEncoder, "fine_enc")))
        )
    )
    registry = load_registry()
    (broken,) = [b for b in registry.broken if b.name == "quitter"]
    assert broken.package == "dist-quitter" and type(error).__name__ in broken.error + repr(error)
    assert "fine_enc" in registry.names("encoders")


def test_a_real_ctrl_c_during_plugin_import_still_stops(fake_entry_points):
    import os
    import signal

    class PressesCtrlC:
        name = "slow"
        group = "asrkit"
        dist = FakeDist("dist-slow")

        def load(self) -> object:
            os.kill(os.getpid(), signal.SIGINT)
            return types.ModuleType("never")

    fake_entry_points.append(PressesCtrlC())
    with pytest.raises(KeyboardInterrupt):
        load_registry()


def test_list_plugins_and_doctor_warn_about_a_hook_without_hookimpl(fake_entry_points):
    from click.testing import CliRunner

    from asrkit.cli import main

    def asrkit_register_decoders() -> list[type]:
        return []

    module = plugin_module(
        "half",
        asrkit_register_encoders=encoders_hook(renamed(LinearEncoder, "half_enc")),
        asrkit_register_decoders=asrkit_register_decoders,
    )
    fake_entry_points.append(FakeEntryPoint("half", module, dist="dist-half"))
    listed = CliRunner().invoke(main, ["list-plugins"], env={"COLUMNS": "200"})
    assert "warning: plugin 'half' (dist-half): 'asrkit_register_decoders' is not marked @asrkit.hookimpl" in " ".join(
        listed.output.split()
    )
    doctor = CliRunner().invoke(main, ["doctor", "--json"])
    assert any("'asrkit_register_decoders' is not marked @asrkit.hookimpl" in p for p in doctor.output.splitlines())


def test_hook_that_raises_is_recorded(fake_entry_points):
    @hookimpl
    def asrkit_register_encoders() -> list[type]:
        raise RuntimeError("boom")

    fake_entry_points.append(
        FakeEntryPoint("raiser", plugin_module("raiser", asrkit_register_encoders=asrkit_register_encoders))
    )
    registry = load_registry()
    assert any(b.name == "raiser" and "boom" in b.error for b in registry.broken)


def test_misspelled_hook_is_reported_not_ignored(fake_entry_points):
    @hookimpl
    def asrkit_register_encoder() -> list[type]:  # missing "s"
        return [LinearEncoder]

    fake_entry_points.append(
        FakeEntryPoint("typo", plugin_module("typo", asrkit_register_encoder=asrkit_register_encoder))
    )
    registry = load_registry()
    assert any(b.name == "typo" and "asrkit_register_encoder" in b.error for b in registry.broken)


def test_registered_class_without_config_is_refused(fake_entry_points):
    class NoConfig(LinearEncoder):
        name = "no_config"
        Config = None

    fake_entry_points.append(
        FakeEntryPoint("bad", plugin_module("bad", asrkit_register_encoders=encoders_hook(NoConfig)))
    )
    registry = load_registry()
    assert any(b.name == "bad" and "Config" in b.error for b in registry.broken)


def test_asrkit_register_plugin_fixture_adds_a_throwaway_plugin(asrkit_register_plugin):
    asrkit_register_plugin(FakePlugin(), name="fake")
    assert "linear" in load_registry().names("encoders")


def test_asrkit_register_plugin_fixture_cleans_up():
    assert "linear" not in load_registry().names("encoders")


def test_unknown_name_lists_choices_and_suggests(asrkit_register_plugin):
    asrkit_register_plugin(FakePlugin(), name="fake")
    with pytest.raises(
        RecipeError,
        match=r"encoder.name: unknown encoders component 'linaer'; choices: .*linear.*"
        r"did you mean 'linear'\?",
    ):
        load_registry().get("encoders", "linaer", "encoder")


def test_plugin_manager_fixture_has_builtins_only(asrkit_plugin_manager, fake_entry_points):
    names = {name for name, _ in asrkit_plugin_manager.list_name_plugin()}
    assert names <= {name for name, _ in plugins.BUILTIN_PLUGINS}
    assert Registry(asrkit_plugin_manager).pm is asrkit_plugin_manager


def test_a_broken_builtin_does_not_break_the_registry(monkeypatch, fake_entry_points):
    monkeypatch.setattr(plugins, "BUILTIN_PLUGINS", (("asrkit_missing", "asrkit_plugins.does_not_exist"),))
    monkeypatch.delitem(sys.modules, "asrkit_plugins.does_not_exist", raising=False)
    registry = load_registry()
    assert [b.name for b in registry.broken] == ["asrkit_missing"]
