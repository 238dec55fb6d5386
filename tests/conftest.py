"""Shared fixtures: the repository root and a clean plugin environment per test."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _plugin_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests see the same plugins whatever the developer's shell exports, and never touch ~/.cache."""
    monkeypatch.delenv("ASRKIT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("ASRKIT_LOAD_PLUGINS", raising=False)
    monkeypatch.setenv("ASRKIT_CACHE_DIR", str(tmp_path_factory.mktemp("asrkit-cache")))


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of the tiny recipe's model with random weights: nonsense text, real plumbing."""
    import torch

    from asrkit.build import build, build_model
    from asrkit.engine.checkpoint import model_payload, save_atomic
    from asrkit.recipe import load_recipe
    from asrkit.registry import load_registry

    registry = load_registry()
    recipe = load_recipe(ROOT / "tests" / "fixtures" / "tiny_recipe.yaml", [], registry)
    tokenizer = build(registry, recipe.tokenizer)
    torch.manual_seed(0)
    model = build_model(registry, recipe, tokenizer)
    path = tmp_path_factory.mktemp("random-checkpoint") / "tiny.pt"
    save_atomic(model_payload(recipe.resolved(), model, tokenizer), path)
    return path
