"""``asrkit new-plugin NAME``: a plugin package that passes its own tests and builds a publishable wheel.

The package follows docs/plugins.md: a ``src/`` layout, one entry point in the
``asrkit`` group, the ``asrkit-plugin`` keyword (there is no asrkit trove
classifier: PyPI refuses unregistered ones), a README as the long description
``twine check`` wants, and tests running asrkit's contract checks. Its one
component, a waveform augmenter, is a working starting point to rename.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from asrkit.errors import RecipeError
from asrkit.plugins import API_ATTRIBUTE, ENTRY_POINT_GROUP, PLUGIN_API_VERSION

NAME = re.compile(r"^[a-z][a-z0-9_]*$")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "asrkit-{dash}"
version = "0.1.0"
description = "An asrkit plugin: {name}"
readme = "README.md"
requires-python = ">=3.11"
license = {{ text = "MIT" }}
# How people find asrkit plugins on PyPI (declare no 'Framework :: asrkit' classifier: it does not exist).
keywords = ["asrkit-plugin"]
dependencies = ["asrkit"]

[project.optional-dependencies]
test = ["asrkit[testing]"]

[project.entry-points.{group}]
{name} = "asrkit_{name}"

[tool.setuptools.packages.find]
where = ["src"]
"""

README = """\
# asrkit-{dash}

An [asrkit](https://pypi.org/project/asrkit/) plugin. Install it next to asrkit and its components appear in
`asrkit list-plugins`:

```bash
pip install asrkit-{dash}
asrkit show augmenter {name}_gain
```

Use it in a recipe:

```yaml
requires: [asrkit-{dash}]
augmenters: [{{name: {name}_gain, max_db: 3.0}}]
```

Test it with `pip install -e ".[test]" && pytest`.
"""

MODULE = '''\
"""The asrkit plugin ``{name}``: its components and the hooks that register them."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from asrkit import hookimpl
from asrkit.config import param
from asrkit.interfaces import Augmenter

{api} = ">={version},<{next_version}"
"""The asrkit plugin API versions this plugin is written for."""


class Gain(Augmenter):
    """Scale each training utterance by a random gain in decibels."""

    name = "{name}_gain"
    stage = "waveform"

    @dataclass(frozen=True)
    class Config:
        min_db: float = param(-6.0, help="lowest gain in dB")
        max_db: float = param(6.0, help="highest gain in dB")

    def __init__(self, config: Config, sample_rate: int) -> None:
        super().__init__()
        self.config = config

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, S)`` waveforms, ``(B,)`` lengths → the same, louder or quieter in train mode."""
        if not self.training:
            return x, lengths
        low, high = self.config.min_db, self.config.max_db
        db = torch.rand(x.shape[0], 1, device=x.device) * (high - low) + low
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
        return torch.where(valid, x * 10 ** (db / 20), x), lengths


@hookimpl
def asrkit_register_augmenters() -> list[type]:
    return [Gain]
'''

TESTS = '''\
"""The plugin passes asrkit's contract checks."""

from __future__ import annotations

import asrkit_{name}

from asrkit.testing import check_component, check_plugin


def test_the_plugin_registers_its_components() -> None:
    assert check_plugin(asrkit_{name}).components == {{"augmenters": ["{name}_gain"]}}


def test_gain_passes_the_contract() -> None:
    check_component("augmenters", asrkit_{name}.Gain)
'''


def new_plugin(name: str, parent: Path) -> Path:
    """Write the package ``asrkit-<name>`` under ``parent``; returns its folder."""
    if not NAME.match(name) or keyword.iskeyword(name):
        raise RecipeError(f"new-plugin: '{name}' is not a plugin name (lowercase letters, digits, underscores)")
    root = parent / f"asrkit-{name.replace('_', '-')}"
    if root.exists():
        raise RecipeError(f"new-plugin: {root} already exists")
    values = {
        "name": name,
        "dash": name.replace("_", "-"),
        "group": ENTRY_POINT_GROUP,
        "api": API_ATTRIBUTE,
        "version": PLUGIN_API_VERSION,
        "next_version": PLUGIN_API_VERSION + 1,
    }
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"src/asrkit_{name}/__init__.py": MODULE,
        "tests/test_plugin.py": TESTS,
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return root
