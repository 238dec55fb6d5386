"""Recipe validation: every error names its key path; overrides; requirements; safety."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from asrkit.errors import RecipeError
from asrkit.recipe import apply_overrides, load_recipe, parse_override
from asrkit.registry import load_registry

MINIMAL = """
data:
  train: [{name: librispeech, root: data/demo, subset: train}]
encoder: {name: rescnn_bigru, n_rnn_layers: 2, rnn_dim: 64}
"""


@pytest.fixture(scope="module")
def registry():
    return load_registry(autoload=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str, registry, *overrides: str):
    return load_recipe(write(tmp_path, text), list(overrides), registry)


def test_minimal_recipe_is_filled_with_defaults(tmp_path, registry):
    resolved = load(tmp_path, MINIMAL, registry).resolved()
    assert resolved["encoder"]["rnn_dim"] == 64 and resolved["encoder"]["n_cnn_layers"] == 3
    assert resolved["features"]["name"] == "log_mel"
    assert resolved["tokenizer"]["name"] == "char" and resolved["decoder"]["name"] == "greedy"
    assert [lg["name"] for lg in resolved["loggers"]] == ["console"]  # the engine writes metrics.jsonl itself
    assert resolved["objective"] == {"name": "ctc"} and resolved["train"]["valid_decoder"] == {"name": "greedy"}
    assert resolved["train"]["optimizer"]["lr"] == 5e-4
    assert resolved["data"]["train"][0]["download"] is False


def test_resolved_recipe_validates_again_to_itself(tmp_path, registry):
    resolved = load(tmp_path, MINIMAL, registry).resolved()
    again = load(tmp_path, yaml.safe_dump(resolved), registry).resolved()
    assert again == resolved


def test_unknown_component_name_gives_choices_and_did_you_mean(tmp_path, registry):
    text = MINIMAL.replace("rescnn_bigru", "rescnn_bigr")
    with pytest.raises(
        RecipeError,
        match=r"^encoder\.name: unknown encoders component 'rescnn_bigr'; "
        r"choices: .*rescnn_bigru.*; did you mean 'rescnn_bigru'\?",
    ):
        load(tmp_path, text, registry)


def test_unknown_name_in_a_list_names_the_index(tmp_path, registry):
    text = MINIMAL + "augmenters: [{name: specaugment}, {name: specagument}]\n"
    with pytest.raises(RecipeError, match=r"^augmenters\[1\]\.name: .*did you mean 'specaugment'"):
        load(tmp_path, text, registry)


def test_unknown_parameter_lists_accepted_fields(tmp_path, registry):
    text = MINIMAL.replace("rnn_dim: 64", "rnn_dims: 64")
    with pytest.raises(
        RecipeError,
        match=r"^encoder\.rnn_dims: unknown parameter; accepted: .*rnn_dim.*"
        r"did you mean 'rnn_dim'\?",
    ):
        load(tmp_path, text, registry)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("encoder.rnn_dim=wide", r"^encoder\.rnn_dim: expected int, got 'wide' \(str\)"),
        ("train.epochs=2.5", r"^train\.epochs: expected int, got 2\.5 \(float\)"),
        ("train.precision=fp8", r"^train\.precision: 'fp8' \(str\) is not one of 'fp32', 'bf16', 'fp16'"),
        ("train.optimizer.lr=fast", r"^train\.optimizer\.lr: expected float, got 'fast'"),
        ("data.train.0.download=maybe", r"^data\.train\[0\]\.download: expected bool, got 'maybe'"),
        ("train.optimizer.betas=[0.9]", r"^train\.optimizer\.betas: expected 2 items, got 1"),
    ],
)
def test_mistyped_parameter_names_the_key_path(tmp_path, registry, override, message):
    with pytest.raises(RecipeError, match=message):
        load(tmp_path, MINIMAL, registry, override)


def test_scientific_notation_is_a_float_where_a_float_is_expected(tmp_path, registry):
    recipe = load(tmp_path, MINIMAL, registry, "train.optimizer.lr=1e-3", "train.checkpoint_every_minutes=5E+1")
    assert recipe.train.optimizer.lr == 1e-3 and recipe.train.checkpoint_every_minutes == 50.0
    with pytest.raises(RecipeError, match=r"^train\.epochs: expected int, got '1e3' \(str\)"):
        load(tmp_path, MINIMAL, registry, "train.epochs=1e3")


def test_unknown_section_and_data_key(tmp_path, registry):
    with pytest.raises(RecipeError, match=r"^trian: unknown recipe section; .*did you mean 'train'"):
        load(tmp_path, MINIMAL + "trian: {epochs: 1}\n", registry)
    with pytest.raises(RecipeError, match=r"^data\.vaild: unknown key; .*did you mean 'valid'"):
        load(tmp_path, MINIMAL, registry, "data.vaild=[]")


def test_malformed_yaml_names_file_and_line(tmp_path, registry):
    path = write(tmp_path, "encoder:\n  name: rescnn_bigru\n  rnn_dim: [64\ntrain: {}\n")
    with pytest.raises(RecipeError, match=rf"^{path}:4:\d+: invalid YAML"):
        load_recipe(path, [], registry)


def test_missing_recipe_file(tmp_path, registry):
    with pytest.raises(RecipeError, match=r"cannot read recipe .*nope\.yaml"):
        load_recipe(tmp_path / "nope.yaml", [], registry)


def test_overrides_set_nested_keys_lists_and_new_sections(tmp_path, registry):
    recipe = load(
        tmp_path,
        MINIMAL,
        registry,
        "train.epochs=3",
        "encoder.rnn_dim=256",
        "data.train[0].subset=dev",
        "augmenters=[{name: specaugment}]",
        "augmenters.0.time_masks=2",
        "train.batch.max_utterances=null",
    )
    assert recipe.train.epochs == 3 and recipe.encoder.config.rnn_dim == 256
    assert recipe.data.train[0].config.subset == "dev"
    assert recipe.augmenters[0].config.time_masks == 2 and recipe.train.batch.max_utterances is None


def test_bad_overrides(tmp_path, registry):
    with pytest.raises(RecipeError, match="expected KEY=VALUE"):
        load(tmp_path, MINIMAL, registry, "train.epochs")
    with pytest.raises(RecipeError, match="out of range"):
        load(tmp_path, MINIMAL, registry, "data.train.5=x")
    with pytest.raises(RecipeError, match="'augmenters' is not a list in this recipe"):
        load(tmp_path, MINIMAL, registry, "augmenters.0.time_masks=2")
    assert parse_override("a.b[2].c=[1, 2]") == (["a", "b", 2, "c"], [1, 2])
    assert apply_overrides({"a": {"b": 1}}, ["a.c=x"]) == {"a": {"b": 1, "c": "x"}}


def test_requires_missing_distribution_says_what_to_install(tmp_path, registry):
    with pytest.raises(
        RecipeError,
        match=r"^requires: this recipe needs the plugin distribution "
        r"'asrkit-plugin-nonexistent', which is not installed; "
        r"install it with: pip install 'asrkit-plugin-nonexistent'",
    ):
        load(tmp_path, "requires: [asrkit-plugin-nonexistent]\n" + MINIMAL, registry)


def test_requires_version_mismatch(tmp_path, registry):
    with pytest.raises(RecipeError, match=r"needs 'pyyaml<1' but pyyaml .* is installed"):
        load(tmp_path, "requires: ['pyyaml<1']\n" + MINIMAL, registry)
    load(tmp_path, "requires: ['pyyaml>=5']\n" + MINIMAL, registry)


@pytest.mark.parametrize(
    "payload",
    [
        "encoder: !!python/object/apply:os.system ['touch {marker}']",
        "encoder: !!python/object/new:subprocess.Popen [['touch', '{marker}']]",
        "encoder: {{name: !!python/name:os.system }}",
    ],
)
def test_a_recipe_cannot_execute_code_through_yaml_tags(tmp_path, registry, payload):
    marker = tmp_path / "pwned"
    with pytest.raises(RecipeError, match="invalid YAML: could not determine a constructor"):
        load(tmp_path, payload.format(marker=marker) + "\n", registry)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["os.system", "asrkit_plugins.encoders:RescnnBigru", "builtins.eval"])
def test_a_recipe_cannot_name_an_import_path(tmp_path, registry, name):
    with pytest.raises(RecipeError, match=r"^encoder\.name: unknown encoders component"):
        load(tmp_path, MINIMAL.replace("rescnn_bigru", f"'{name}'"), registry)


def test_every_shipped_recipe_validates(repo_root, registry):
    recipes = sorted((repo_root / "recipes").glob("*.yaml"))
    assert {p.name for p in recipes} >= {"mini.yaml", "librispeech100.yaml"}
    for path in recipes:
        load_recipe(path, [], registry)


def test_the_validation_decoder_is_a_recipe_node(tmp_path, registry):
    recipe = load(tmp_path, MINIMAL + "decoder: {name: beam, beam_width: 4}\n", registry)
    assert recipe.valid_decoder.name == "greedy" and recipe.decoder.name == "beam"
    chosen = load(tmp_path, MINIMAL, registry, "train.valid_decoder={name: beam, beam_width: 3}")
    assert chosen.valid_decoder.as_dict()["beam_width"] == 3
    assert chosen.resolved()["train"]["valid_decoder"]["name"] == "beam"
    with pytest.raises(RecipeError, match=r"^train\.valid_decoder\.name: unknown decoders component 'gredy'"):
        load(tmp_path, MINIMAL, registry, "train.valid_decoder={name: gredy}")
