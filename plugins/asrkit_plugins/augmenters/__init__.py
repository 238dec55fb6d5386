"""Built-in augmenters plugin: registers asrkit's own augmenters components."""

from __future__ import annotations

from asrkit import hookimpl
from asrkit_plugins.augmenters.add_noise import AddNoise
from asrkit_plugins.augmenters.reverb import Reverb
from asrkit_plugins.augmenters.specaugment import SpecAugment
from asrkit_plugins.augmenters.speed_perturb import SpeedPerturb

ASRKIT_PLUGIN_API = ">=2,<3"  # the plugin API versions this plugin is written for


@hookimpl
def asrkit_register_augmenters() -> list[type]:
    return [SpecAugment, SpeedPerturb, AddNoise, Reverb]
