"""A source checkout on PYTHONPATH, with nothing installed, imports every built-in by its installed name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter: drop the editable install's finder, so that only PYTHONPATH can provide
# asrkit and asrkit_plugins, as in a checkout that was never installed.
PROBE = """
import importlib, importlib.util, json, sys
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path[:] = [p for p in sys.path if "__editable__" not in p]
before = importlib.util.find_spec("asrkit_plugins") is not None
import asrkit
from asrkit.plugins import BUILTIN_PLUGINS
from asrkit.registry import load_registry
modules = [importlib.import_module(module).__file__ for _, module in BUILTIN_PLUGINS]
encoder = importlib.import_module("asrkit_plugins.encoders.rescnn_bigru").__file__
registry = load_registry(autoload=False)
print(json.dumps({
    "before": before, "asrkit": asrkit.__file__, "modules": modules, "encoder": encoder,
    "broken": [b.error for b in registry.broken], "objectives": registry.names("objectives"),
}))
"""


def test_a_checkout_on_pythonpath_imports_every_builtin_by_its_installed_name(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ASRKIT_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["before"] is False, "the probe must not see an installed asrkit_plugins"
    assert Path(found["asrkit"]).is_relative_to(ROOT)
    plugins = ROOT / "plugins" / "asrkit_plugins"
    assert all(Path(module).is_relative_to(plugins) for module in found["modules"])
    assert Path(found["encoder"]) == plugins / "encoders" / "rescnn_bigru.py"
    assert found["broken"] == [] and "ctc" in found["objectives"]


def test_an_installed_asrkit_plugins_is_not_shadowed() -> None:
    import asrkit_plugins
    from asrkit.source_tree import add_builtin_plugins_path

    path = list(sys.path)
    assert add_builtin_plugins_path() is None and sys.path == path
    assert Path(asrkit_plugins.__file__).is_relative_to(ROOT / "plugins")
