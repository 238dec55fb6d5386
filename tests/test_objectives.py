"""Objectives: the ``ctc`` built-in, and how the core refuses plugins written for asrkit 0.1."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from click.testing import CliRunner

from asrkit import hookimpl
from asrkit.cli import main
from asrkit.config import param
from asrkit.errors import PluginError
from asrkit.interfaces import Encoder, EncoderOutput
from asrkit.registry import load_registry
from asrkit.testing import check_component
from asrkit_plugins.objectives.ctc import CTC
from asrkit_plugins.tokenizers.char_tokenizer import CharTokenizer


def test_ctc_passes_the_contract() -> None:
    check_component("objectives", CTC)


def test_ctc_loss_is_per_label_and_its_log_probs_ignore_padding() -> None:
    torch.manual_seed(0)
    tokenizer = CharTokenizer(CharTokenizer.Config())
    ctc = CTC(CTC.Config(), input_dim=6, tokenizer=tokenizer)
    hidden, lengths = torch.randn(2, 20, 6), torch.tensor([20, 9])
    targets = [tokenizer.encode("abc"), tokenizer.encode("ab")]
    loss = ctc.loss(EncoderOutput(hidden, lengths), targets)
    expected = torch.nn.functional.ctc_loss(
        ctc.head(hidden).log_softmax(-1).transpose(0, 1),
        torch.tensor([*targets[0], *targets[1]]),
        lengths,
        torch.tensor([3, 2]),
        blank=tokenizer.blank_id,
        reduction="none",
    )
    torch.testing.assert_close(loss, expected / torch.tensor([3.0, 2.0]))
    noisy = hidden.clone()
    noisy[1, 9:] = 100.0
    torch.testing.assert_close(ctc(noisy, lengths), ctc(hidden, lengths))
    assert ctc.fits(torch.tensor([3, 2, 3]), [[1, 2, 3], [1, 1], [1, 1]]).tolist() == [True, False, True]


def test_list_plugins_lists_the_objectives() -> None:
    result = CliRunner().invoke(main, ["list-plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {"ctc"} <= {row["name"] for row in rows if row["kind"] == "objectives"}


class OldEncoder(Encoder):
    """An encoder written for asrkit 0.1: it is built with num_classes and returns logits."""

    name = "old_encoder"

    @dataclass(frozen=True)
    class Config:
        size: int = param(4, help="unused")

    def __init__(self, config: Config, input_dim: int, num_classes: int) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(input_dim, num_classes)

    @property
    def output_dim(self) -> int:
        return 0

    @property
    def subsampling(self) -> int:
        return 1

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        return input_lengths

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.proj(features), lengths


class OldPlugin:
    @hookimpl
    def asrkit_register_encoders(self) -> list[type]:
        return [OldEncoder]


def test_an_encoder_written_for_0_1_is_refused_in_one_line_naming_its_plugin(asrkit_register_plugin) -> None:
    asrkit_register_plugin(OldPlugin(), name="old-plugin", package="old-package")
    registry = load_registry(autoload=False)
    with pytest.raises(PluginError) as caught:
        registry.get("encoders", "old_encoder", "encoder")
    message = str(caught.value)
    assert "\n" not in message and "old-plugin" in message and "asrkit 0.1" in message
    assert "docs/plugins.md#migrating-from-asrkit-01" in message
    assert any(b.name == "old-plugin" and "num_classes" in b.error for b in registry.broken)
    assert "rescnn_bigru" in registry.names("encoders")  # the other encoders are unaffected


class DeclaresOldApi:
    ASRKIT_PLUGIN_API = "<2"

    @hookimpl
    def asrkit_register_objectives(self) -> list[type]:
        return [CTC]


def test_a_plugin_declaring_other_api_versions_is_listed_as_broken(asrkit_register_plugin) -> None:
    asrkit_register_plugin(DeclaresOldApi(), name="old-api", package="old-api-package")
    registry = load_registry(autoload=False)
    (broken,) = [b for b in registry.broken if b.name == "old-api"]
    assert "supports asrkit plugin API <2" in broken.error and "this asrkit has plugin API 2" in broken.error
    assert registry.get("objectives", "ctc").plugin == "asrkit_objectives"
