"""Objectives: the ``ctc`` built-in, and how the core refuses plugins written for asrkit 0.1."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from click.testing import CliRunner
from fake_components import LinearEncoder

from asrkit import hookimpl
from asrkit.build import build_model
from asrkit.cli import main
from asrkit.config import param
from asrkit.ctc import ctc_log_probs, ctc_loss
from asrkit.errors import PluginError, RecipeError
from asrkit.interfaces import Encoder, EncoderOutput
from asrkit.model import AcousticModel
from asrkit.recipe import parse_recipe
from asrkit.registry import load_registry
from asrkit.testing import check_component
from asrkit_plugins.encoders.rescnn_bigru import ResCNNBiGRU
from asrkit_plugins.features.log_mel import LogMel
from asrkit_plugins.objectives.ctc import CTC
from asrkit_plugins.objectives.inter_ctc import InterCTC
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
    assert {"ctc", "inter_ctc"} <= {row["name"] for row in rows if row["kind"] == "objectives"}


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


def test_inter_ctc_passes_the_contract() -> None:
    check_component("objectives", InterCTC)
    check_component("objectives", InterCTC, InterCTC.Config(layers=(1, 2), weight=0.5))


def small_encoder() -> ResCNNBiGRU:
    torch.manual_seed(0)
    config = ResCNNBiGRU.Config(n_cnn_layers=0, n_rnn_layers=3, rnn_dim=8, cnn_channels=2, dropout=0.0)
    return ResCNNBiGRU(config, input_dim=12)


def test_inter_ctc_adds_the_weighted_loss_of_the_chosen_layers() -> None:
    encoder, tokenizer = small_encoder(), CharTokenizer(CharTokenizer.Config())
    objective = InterCTC(InterCTC.Config(layers=(1, 2), weight=0.25), encoder.output_dim, tokenizer, encoder)
    assert objective.intermediate_layers == (1, 2)
    assert InterCTC(InterCTC.Config(), encoder.output_dim, tokenizer, encoder).intermediate_layers == (1,)
    features, lengths = torch.randn(2, 40, 12), torch.tensor([40, 25])
    hidden, out_lengths, taken = encoder.forward_intermediate(features, lengths, (1, 2))
    targets = [tokenizer.encode("up"), tokenizer.encode("go")]
    loss = objective.loss(EncoderOutput(hidden, out_lengths, taken), targets)

    def ctc_of(head: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return ctc_loss(head(x), out_lengths, targets, blank=tokenizer.blank_id).per_label

    final = ctc_of(objective.head, hidden)
    layers = (ctc_of(objective.layer_heads["1"], taken[1]) + ctc_of(objective.layer_heads["2"], taken[2])) / 2
    torch.testing.assert_close(loss, 0.75 * final + 0.25 * layers)
    loss.sum().backward()
    assert all(p.grad is not None for p in objective.layer_heads.parameters())
    with torch.no_grad():  # decoding reads the final layer alone, as ctc does
        torch.testing.assert_close(objective(hidden, out_lengths), ctc_log_probs(objective.head(hidden), out_lengths))


def test_inter_ctc_trains_inside_the_model_and_says_which_layers_exist() -> None:
    encoder, tokenizer = small_encoder(), CharTokenizer(CharTokenizer.Config())
    features = LogMel(LogMel.Config(n_mels=12))
    model = AcousticModel(features, [], encoder, InterCTC(InterCTC.Config(), 8, tokenizer, encoder)).train()
    waves, samples = torch.randn(2, 8000), torch.tensor([8000, 6000])
    loss = model(waves, samples, [tokenizer.encode("yes"), tokenizer.encode("no")])
    assert loss.shape == (2,) and bool(torch.isfinite(loss).all())
    loss.sum().backward()
    assert objective_grads(model) and encoder.rnns[0].gru.weight_ih_l0.grad is not None
    with pytest.raises(RecipeError, match=r"the encoder has layers 1 to 3, not 4"):
        InterCTC(InterCTC.Config(layers=(4,)), 8, tokenizer, encoder)


def objective_grads(model: AcousticModel) -> bool:
    return all(p.grad is not None for p in model.objective.parameters())


def test_inter_ctc_refuses_an_encoder_without_intermediate_outputs() -> None:
    registry = load_registry(autoload=False)
    recipe = parse_recipe(
        {
            "encoder": {"name": "rescnn_bigru", "n_rnn_layers": 1, "rnn_dim": 8, "n_cnn_layers": 0},
            "objective": {"name": "inter_ctc"},
        },
        registry,
    )
    model = build_model(registry, recipe, CharTokenizer(CharTokenizer.Config()))
    assert model.objective.intermediate_layers == (1,)
    encoder = LinearEncoder(LinearEncoder.Config(), input_dim=4)
    with pytest.raises(RecipeError, match=r"inter_ctc needs an encoder that offers its layers' outputs"):
        InterCTC(InterCTC.Config(), 8, CharTokenizer(CharTokenizer.Config()), encoder)


def test_inter_ctc_weight_is_strictly_between_0_and_1() -> None:
    for weight in (0.0, 1.0):
        with pytest.raises(ValueError, match=r"weight must be in \(0, 1\)"):
            InterCTC.Config(weight=weight)
