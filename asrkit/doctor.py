"""What ``asrkit doctor`` reports: the environment a bug report needs, as plain data.

Everything is collected defensively: a broken torch/torchaudio pair, a missing
CUDA driver or a broken plugin is a finding to report, never a reason to fail.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from typing import Any

from asrkit import __version__
from asrkit.compat import check_torch_pair, installed_version

OPTIONAL_MODULES = {
    "kenlm": "kenlm",
    "comet_ml": "comet_ml",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
}
"""Optional extras asrkit uses when present: ``{distribution: import name}``."""


def _torch_details() -> dict[str, Any]:
    """CUDA, cuDNN, devices and threads as torch sees them (torch is known to import)."""
    import torch

    cuda_available = torch.cuda.is_available()
    cudnn_number = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    # torch gives cuDNN's version as one number: 91900 is 9.19.0.
    cudnn = (
        None if cudnn_number is None else f"{cudnn_number // 10000}.{cudnn_number % 10000 // 100}.{cudnn_number % 100}"
    )
    devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda_available else []
    return {
        "cuda_build": torch.version.cuda,
        "cuda_available": cuda_available,
        "cudnn": cudnn,
        "devices": ["cpu", *devices],
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "cpu_count": os.cpu_count(),
    }


def _extras() -> dict[str, str | None]:
    """``{distribution: version or None}`` for each optional extra (None: not installed)."""
    found = {}
    for distribution, module in OPTIONAL_MODULES.items():
        found[distribution] = installed_version(distribution) if importlib.util.find_spec(module) else None
    return found


def _plugins() -> dict[str, Any]:
    """Components per plugin, broken plugins, and plugins that register nothing."""
    from asrkit.registry import load_registry

    registry = load_registry()
    counts = {name: 0 for name in registry.pm.sources}
    for component in registry.components():
        counts[component.plugin] = counts.get(component.plugin, 0) + 1
    return {
        "loaded": [
            {"plugin": name, "package": registry.pm.sources[name].package, "components": counts[name]}
            for name in registry.pm.sources
        ],
        "broken": [
            {"plugin": b.name, "package": b.package, "version": b.version, "error": b.error} for b in registry.broken
        ],
        "empty": [name for name, count in counts.items() if count == 0],
        "warnings": [{"plugin": w.name, "package": w.package, "warning": w.error} for w in registry.hook_warnings()],
    }


def collect() -> dict[str, Any]:
    """The whole report. ``problems`` lists, one line each, what needs fixing."""
    pair = check_torch_pair()
    report: dict[str, Any] = {
        "asrkit": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "torch": pair.torch_version,
        "torchaudio": pair.torchaudio_version,
        "torch_pair_ok": pair.problem is None,
        "extras": _extras(),
        "problems": [],
    }
    if pair.problem is not None:
        report["problems"].append(pair.problem)
        return report  # nothing below can be known without a working torch
    report.update(_torch_details())
    report["plugins"] = _plugins()
    for broken in report["plugins"]["broken"]:
        report["problems"].append(f"plugin '{broken['plugin']}' ({broken['package']}) is broken: {broken['error']}")
    for name in report["plugins"]["empty"]:
        report["problems"].append(f"plugin '{name}' registers no component")
    for warning in report["plugins"]["warnings"]:
        report["problems"].append(f"plugin '{warning['plugin']}' ({warning['package']}): {warning['warning']}")
    return report
