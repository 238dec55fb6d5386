"""Hostile recipes: alias bombs, absurd train values, and any text at all, as a one-line RecipeError."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_recipe import MINIMAL

from asrkit.engine.checkpoint import load_checkpoint
from asrkit.errors import AsrkitError, CheckpointError, RecipeError
from asrkit.limits import MAX_VALUES, load_yaml
from asrkit.recipe import apply_overrides, load_recipe, parse_override, parse_recipe
from asrkit.registry import load_registry


@pytest.fixture(scope="module")
def plugins():
    return load_registry(autoload=False)


def bounded(call, seconds: float = 5.0, megabytes: float = 50.0) -> str:
    """Run ``call``, expecting a one-line AsrkitError within a time and memory bound; return its message."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(AsrkitError) as caught:
            call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.perf_counter() - start < seconds
    assert peak < megabytes * 2**20
    message = str(caught.value)
    assert "\n" not in message and len(message) < 600, message[:1000]
    return message


def test_an_alias_bomb_in_a_recipe_is_refused_in_one_short_line(tmp_path: Path, plugins) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(MINIMAL + "train:\n  epochs: " + _flow_bomb(9) + "\n")
    assert len(path.read_bytes()) < 700
    message = bounded(lambda: load_recipe(path, [], plugins))
    assert message.startswith(f"{path}: it expands to more than {MAX_VALUES:,} values")


def test_an_alias_bomb_in_an_override_is_refused(tmp_path: Path, plugins) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(MINIMAL)
    message = bounded(lambda: load_recipe(path, [f"train.epochs={_flow_bomb(9)}"], plugins))
    assert "override 'train.epochs'" in message


def test_a_few_aliases_are_still_fine(tmp_path: Path, plugins) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(MINIMAL + "train:\n  optimizer: &opt {lr: 0.001}\n")
    assert load_recipe(path, [], plugins).train.optimizer.lr == 0.001


def test_a_recipe_bomb_stored_in_a_checkpoint_is_refused(tmp_path: Path) -> None:
    # Pickle shares objects the way YAML aliases do: 9 levels of 9 references to one list.
    shared: list = ["lol"] * 9
    for _ in range(8):
        shared = [shared] * 9
    path = tmp_path / "bomb.pt"
    torch.save({"format": 1, "model": {}, "recipe": {"train": {"epochs": shared}}}, path)
    message = bounded(lambda: load_checkpoint(path))
    assert "the recipe in the checkpoint: it expands to more than" in message
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_a_long_bad_value_is_cut_short_in_the_error(tmp_path: Path, plugins) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(MINIMAL + "train:\n  epochs: [" + ", ".join(["123456789"] * 500) + "]\n")
    message = bounded(lambda: load_recipe(path, [], plugins))
    assert message.startswith("train.epochs: expected int, got [123456789, 123456789")
    assert len(message) < 200


def test_deep_nesting_is_refused(tmp_path: Path, plugins) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(MINIMAL + "train:\n  epochs: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested more than" in bounded(lambda: load_recipe(path, [], plugins))


def _flow_bomb(levels: int) -> str:
    """One YAML flow value of ``9 ** levels`` strings written in a few hundred bytes."""
    text = '&a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'
    for level in range(1, levels):
        text = f"&a{level} [{text}, " + ", ".join([f"*a{level - 1}"] * 8) + "]"
    return text


ABSURD = [
    ("train.optimizer.lr=-1", "train.optimizer.lr: must be > 0, got -1"),
    ("train.optimizer.lr=.nan", "train.optimizer.lr: must be > 0, got nan"),
    ("train.optimizer.lr=.inf", "train.optimizer.lr: must be > 0, got inf"),
    ("train.batch.max_seconds=0", "train.batch.max_seconds: must be > 0, got 0"),
    ("train.batch.max_utterances=0", "train.batch.max_utterances: must be >= 1, got 0"),
    ("train.epochs=0", "train.epochs: must be >= 1, got 0"),
    ("train.epochs=-1", "train.epochs: must be >= 1, got -1"),
    ("train.optimizer.betas=[0.9, 1.5]", "train.optimizer.betas: must be >= 0 and < 1, got 1.5"),
    ("train.optimizer.weight_decay=-0.1", "train.optimizer.weight_decay: must be >= 0, got -0.1"),
    ("train.schedule.pct_start=1.0", "train.schedule.pct_start: must be > 0 and < 1, got 1.0"),
    ("train.accumulate_grad=0", "train.accumulate_grad: must be >= 1, got 0"),
    ("train.grad_clip=0", "train.grad_clip: must be > 0, got 0"),
    ("train.num_workers=-2", "train.num_workers: must be >= 0, got -2"),
    ("train.seed=-1", "train.seed: must be >= 0 and <= 4294967295, got -1"),
    ("train.max_nonfinite=0", "train.max_nonfinite: must be >= 1, got 0"),
    ("train.log_every_steps=0", "train.log_every_steps: must be >= 1, got 0"),
    ("train.checkpoint_every_minutes=-5", "train.checkpoint_every_minutes: must be > 0, got -5"),
    (
        "train.optimizer.lr=10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000",
        "is too large for a float",
    ),
]


@pytest.mark.parametrize(("override", "message"), ABSURD)
def test_absurd_train_values_fail_validation_with_the_key_path(tmp_path: Path, plugins, override, message) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(MINIMAL)
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, [override], plugins)
    assert message in str(caught.value)


def test_null_optional_values_and_the_defaults_pass(tmp_path: Path, plugins) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(MINIMAL)
    recipe = load_recipe(path, ["train.grad_clip=null", "train.batch.max_utterances=null"], plugins)
    assert recipe.train.grad_clip is None


# Property tests: whatever the text, a result or a one-line AsrkitError, quickly and in bounded memory.

YAMLISH = st.lists(
    st.sampled_from([*"ab:-[]{}&*!,'\"#|>.= \n\t01", "train", "epochs", "lr", "encoder", "&x ", "*x", "<<"]),
    max_size=30,
).map("".join)
FAST = settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(text=st.one_of(YAMLISH, st.text(max_size=80)))
def test_any_recipe_text_gives_a_recipe_or_a_one_line_error(tmp_path: Path, plugins, text: str) -> None:
    path = tmp_path / "any.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_recipe(path, [], plugins)
    except AsrkitError as exc:
        assert "\n" not in str(exc)


@FAST
@given(
    data=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=20,
    )
)
def test_any_recipe_data_gives_a_recipe_or_a_one_line_error(plugins, data) -> None:
    for candidate in (data, {"encoder": data}, {"train": data}, {"encoder": "rescnn_bigru", "train": {"epochs": data}}):
        if not isinstance(candidate, dict):
            continue
        try:
            parse_recipe(candidate, plugins)
        except AsrkitError as exc:
            assert "\n" not in str(exc)


@FAST
@given(overrides=st.lists(st.one_of(YAMLISH, st.text(max_size=40)), max_size=4))
def test_any_override_gives_data_or_a_one_line_error(overrides: list[str]) -> None:
    data = {"train": {"epochs": 1, "optimizer": {"lr": 0.1}}, "augmenters": [{"name": "specaugment"}]}
    try:
        for override in overrides:
            parse_override(override)
        apply_overrides(data, overrides)
    except AsrkitError as exc:
        assert "\n" not in str(exc)


def test_load_yaml_is_safe_load_within_limits() -> None:
    assert load_yaml("a: &x [1, 2]\nb: *x\n", "t") == {"a": [1, 2], "b": [1, 2]}
    assert load_yaml("", "t") is None
