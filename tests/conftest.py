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
