"""The plugin author's kit: an outside author's package passes it, and each mistake planted in a copy fails by name.

``tests/outside_plugin`` is written as a third party writes a plugin, from
docs/plugins.md alone. Each test below plants one mistake the issue lists
(the ones a trial author made) and checks that the kit's message names it.
"""

from __future__ import annotations

import sys
import types
from dataclasses import replace
from pathlib import Path

import pytest
import soundfile
import torch

from asrkit import hookimpl
from asrkit.testing import ContractError, check_component, check_plugin

sys.path.insert(0, str(Path(__file__).resolve().parent / "outside_plugin" / "src"))
import asrkit_outside
from asrkit_outside import CsvLogger, DepthwiseSeparableEncoder, TsvDataset

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo" / "LibriSpeech" / "dev"


@pytest.fixture
def tsv(tmp_path: Path) -> Path:
    """A three-row TSV over demo recordings, durations in seconds from the audio headers."""
    flacs = sorted(DEMO.rglob("*.flac"))[:3]
    lines = ["path\tsentence\tduration"]
    for flac in flacs:
        lines.append(f"{flac}\thello world\t{soundfile.info(str(flac)).duration:.3f}")
    (tmp_path / "train.tsv").write_text("\n".join(lines) + "\n")
    return tmp_path / "train.tsv"


def test_the_outside_package_passes_the_kit(tsv: Path) -> None:
    check_component("encoders", DepthwiseSeparableEncoder, input_dim=80)
    check_component("datasets", TsvDataset, TsvDataset.Config(path=str(tsv)))
    check_component("loggers", CsvLogger)
    report = check_plugin(asrkit_outside)
    assert report.components == {"datasets": ["tsv"], "encoders": ["dwconv"], "loggers": ["csv"]}


def test_the_builtin_encoder_is_fed_the_input_dim_it_is_built_with() -> None:
    from asrkit.registry import load_registry

    encoder = load_registry(autoload=False).get("encoders", "rescnn_bigru").cls
    check_component(
        "encoders", encoder, encoder.Config(n_cnn_layers=1, n_rnn_layers=1, rnn_dim=16, cnn_channels=4), input_dim=80
    )


class OffByOne(DepthwiseSeparableEncoder):
    """Claims one frame fewer than it produces."""

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        return torch.div(input_lengths, 2, rounding_mode="floor")


def test_an_off_by_one_in_output_lengths_fails_with_the_values() -> None:
    with pytest.raises(ContractError, match=r"encoders 'dwconv': .*output_lengths\(\).*frames=\d+, output_lengths=\d+"):
        check_component("encoders", OffByOne)


class BreaksInTraining(DepthwiseSeparableEncoder):
    """Drops the last frame in train mode only."""

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, out_lengths = super().forward(features, lengths)
        return (hidden[:, :-1], out_lengths) if self.training else (hidden, out_lengths)


def test_an_encoder_wrong_only_in_train_mode_fails() -> None:
    with pytest.raises(ContractError, match=r"train mode"):
        check_component("encoders", BreaksInTraining)


def test_an_empty_dataset_fails(tmp_path: Path) -> None:
    (tmp_path / "empty.tsv").write_text("path\tsentence\tduration\n")
    with pytest.raises(ContractError, match=r"datasets 'tsv': utterances\(\) is empty"):
        check_component("datasets", TsvDataset, TsvDataset.Config(path=str(tmp_path / "empty.tsv")))


class Milliseconds(TsvDataset):
    """Common Voice gives clip durations in milliseconds; this copy forgot to divide."""

    @staticmethod
    def seconds(row: dict[str, str]) -> float:
        return float(row["duration"]) * 1000


def test_durations_in_milliseconds_fail_with_both_values(tsv: Path) -> None:
    with pytest.raises(ContractError, match=r"milliseconds.*stated_duration=\d+\.\d+, audio_seconds=\d+\.\d+"):
        check_component("datasets", Milliseconds, Milliseconds.Config(path=str(tsv)))


def test_repeated_ids_fail(tsv: Path) -> None:
    rows = tsv.read_text().splitlines()
    tsv.write_text("\n".join([*rows, rows[1]]) + "\n")
    with pytest.raises(ContractError, match=r"ids must be unique \(repeated=\["):
        check_component("datasets", TsvDataset, TsvDataset.Config(path=str(tsv)))


class FilePerMetric(CsvLogger):
    """Writes one file per metric name: breaks on the engine's ``train/loss``."""

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int | None = None) -> None:
        for key, value in metrics.items():
            (Path(self.file.name).parent / f"{key}.txt").write_text(str(value))


def test_a_logger_failing_on_the_engines_metric_names_fails() -> None:
    with pytest.raises(AssertionError, match=r"loggers 'csv': failed on the engine's calls \(FileNotFoundError"):
        check_component("loggers", FilePerMetric)


def copy_of_plugin(**hooks: object) -> types.ModuleType:
    module = types.ModuleType("asrkit_outside_copy")
    for name, hook in hooks.items():
        setattr(module, name, hook)
    return module


def test_a_forgotten_hookimpl_is_named() -> None:
    def asrkit_register_encoders() -> list[type]:
        return [DepthwiseSeparableEncoder]

    with pytest.raises(ContractError, match=r"'asrkit_register_encoders' is not marked @asrkit.hookimpl"):
        check_plugin(copy_of_plugin(asrkit_register_encoders=asrkit_register_encoders))


def test_a_misspelled_hook_gets_a_did_you_mean() -> None:
    @hookimpl
    def asrkit_register_encoder() -> list[type]:
        return [DepthwiseSeparableEncoder]

    with pytest.raises(
        ContractError, match=r"'asrkit_register_encoder' is not an asrkit hook.*asrkit_register_encoders"
    ):
        check_plugin(copy_of_plugin(asrkit_register_encoder=asrkit_register_encoder))


def test_a_hook_returning_a_class_instead_of_a_list_is_named() -> None:
    @hookimpl
    def asrkit_register_encoders() -> type:
        return DepthwiseSeparableEncoder

    with pytest.raises(
        ContractError,
        match=r"hook asrkit_register_encoders returned the class DepthwiseSeparableEncoder instead of a list",
    ):
        check_plugin(copy_of_plugin(asrkit_register_encoders=asrkit_register_encoders))


def test_a_class_of_the_wrong_kind_is_named() -> None:
    @hookimpl
    def asrkit_register_encoders() -> list[type]:
        return [CsvLogger]

    with pytest.raises(ContractError, match=r"must derive from asrkit.interfaces.Encoder"):
        check_plugin(copy_of_plugin(asrkit_register_encoders=asrkit_register_encoders))


def test_the_runtime_registry_names_the_hook_returning_a_class(asrkit_register_plugin) -> None:
    from asrkit.registry import load_registry

    @hookimpl
    def asrkit_register_encoders() -> type:
        return DepthwiseSeparableEncoder

    asrkit_register_plugin(copy_of_plugin(asrkit_register_encoders=asrkit_register_encoders), name="copy")
    broken = {b.name: b.error for b in load_registry(autoload=False).broken}
    assert "hook asrkit_register_encoders returned the class DepthwiseSeparableEncoder" in broken["copy"]


def test_check_component_messages_carry_the_values() -> None:
    bad = replace(DepthwiseSeparableEncoder.Config(), hidden=8)
    check_component("encoders", DepthwiseSeparableEncoder, bad, input_dim=13)  # other sizes work too
    with pytest.raises(ContractError, match=r"unknown kind \(kinds="):
        check_component("encoder", DepthwiseSeparableEncoder)


def test_asrkit_testing_imports_without_pytest_and_torch() -> None:
    import subprocess

    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "import asrkit.testing\n"
        "assert 'torch' not in sys.modules, 'asrkit.testing imported torch'\n"
        "assert callable(asrkit.testing.check_component)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_old_fixture_name_still_works_with_a_deprecation(request: pytest.FixtureRequest) -> None:
    with pytest.warns(DeprecationWarning, match="asrkit_register_plugin"):
        register = request.getfixturevalue("register_plugin")
    assert callable(register)


def test_the_docs_publish_every_check() -> None:
    from asrkit.checks.components import CHECKS

    guide = " ".join((Path(__file__).resolve().parent.parent / "docs" / "plugins.md").read_text().split())
    for kind, items in CHECKS.items():
        for item in items:
            assert " ".join(item.split()) in guide, f"docs/plugins.md does not list the {kind} check: {item}"


def test_the_logger_check_uses_the_metric_names_the_trainer_emits() -> None:
    import re

    from asrkit.checks.components import ENGINE_EPOCH_METRICS, ENGINE_STEP_METRICS

    trainer = (Path(__file__).resolve().parent.parent / "asrkit" / "engine" / "trainer.py").read_text()
    emitted = set(re.findall(r'"((?:train|epoch)/[a-z_]+)"', trainer))
    emitted |= {f"valid/dev-clean/{m}" for m in re.findall(r'f"valid/\{result\.set\}/([a-z_]+)"', trainer)}
    assert emitted == set(ENGINE_STEP_METRICS) | set(ENGINE_EPOCH_METRICS)


def test_feature_and_augmenter_hooks_of_a_plugin_reach_recipes(asrkit_register_plugin, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from asrkit.cli import main
    from asrkit.registry import load_registry

    builtins = load_registry(autoload=False)
    log_mel = builtins.get("features", "log_mel").cls
    specaugment = builtins.get("augmenters", "specaugment").cls

    class LouderMel(log_mel):
        """Log-mel features under another name."""

        name = "louder_mel"

    class MoreMasks(specaugment):
        """SpecAugment under another name."""

        name = "more_masks"

    @hookimpl
    def asrkit_register_features() -> list[type]:
        return [LouderMel]

    @hookimpl
    def asrkit_register_augmenters() -> list[type]:
        return [MoreMasks]

    plugin = copy_of_plugin(asrkit_register_features=asrkit_register_features)
    plugin.asrkit_register_augmenters = asrkit_register_augmenters
    assert check_plugin(plugin).components == {"features": ["louder_mel"], "augmenters": ["more_masks"]}
    asrkit_register_plugin(plugin, name="copy")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("encoder: {name: rescnn_bigru}\nfeatures: {name: louder_mel}\naugmenters: [{name: more_masks}]\n")
    result = CliRunner().invoke(main, ["recipe", "validate", str(recipe)])
    assert result.exit_code == 0, result.output
    assert "louder_mel" in result.output and "more_masks" in result.output


def test_a_plugins_dataset_shortcut_opens_its_dataset(asrkit_register_plugin, tsv: Path) -> None:
    from asrkit.registry import load_registry

    @hookimpl
    def asrkit_open_dataset(spec: str) -> dict | None:
        return {"name": "tsv", "path": spec} if spec.endswith(".tsv") else None

    plugin = copy_of_plugin(asrkit_open_dataset=asrkit_open_dataset)
    for name in ("asrkit_register_encoders", "asrkit_register_datasets", "asrkit_register_loggers"):
        setattr(plugin, name, getattr(asrkit_outside, name))
    asrkit_register_plugin(plugin, name="copy")
    registry = load_registry(autoload=False)
    assert registry.open_dataset(str(tsv)) == {"name": "tsv", "path": str(tsv)}


def test_a_plugins_recipe_defaults_fill_keys_asrkit_leaves_open_and_never_override_asrkits(
    asrkit_register_plugin,
) -> None:
    from asrkit.recipe import parse_recipe
    from asrkit.registry import load_registry

    @hookimpl
    def asrkit_recipe_defaults() -> dict:
        return {"encoder": {"name": "dwconv", "hidden": 16}, "decoder": {"name": "not_this_one"}}

    plugin = copy_of_plugin(asrkit_recipe_defaults=asrkit_recipe_defaults)
    plugin.asrkit_register_encoders = asrkit_outside.asrkit_register_encoders
    asrkit_register_plugin(plugin, name="copy")
    registry = load_registry(autoload=False)
    assert registry.recipe_defaults["encoder"] == {"name": "dwconv", "hidden": 16}
    assert registry.recipe_defaults["decoder"] == {"name": "greedy"}
    assert check_plugin(plugin).components == {"encoders": ["dwconv"]}
    resolved = parse_recipe({"encoder": {"name": "dwconv"}}, registry).resolved()
    assert resolved["decoder"]["name"] == "greedy"
