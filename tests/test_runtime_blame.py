"""At run time, a component breaking its contract is named in one line instead of failing deep in the loss."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from fake_components import LinearEncoder

from asrkit import hookimpl
from asrkit.cli import main
from asrkit.errors import PluginError
from asrkit.model import check_encoder_output

ROOT = Path(__file__).resolve().parent.parent


class Overstates(LinearEncoder):
    """Claims two frames more than it returns."""

    name = "overstates"

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        return input_lengths + 2

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, _ = super().forward(features, lengths)
        return hidden, self.output_lengths(lengths)


class OverstatesPlugin:
    @hookimpl
    def asrkit_register_encoders(self) -> list[type]:
        return [Overstates]


def test_lengths_beyond_the_output_name_the_encoder() -> None:
    encoder = Overstates(Overstates.Config(), input_dim=4)
    hidden = torch.zeros(2, 10, encoder.output_dim)
    with pytest.raises(
        PluginError, match=r"encoder 'overstates' returned lengths \[12, 9\] for an output of 10 frames"
    ):
        check_encoder_output(encoder, hidden, torch.tensor([12, 9]), torch.tensor([10, 7]))
    check_encoder_output(encoder, hidden, torch.tensor([10, 7]), torch.tensor([10, 7]))


@pytest.mark.slow
def test_training_with_such_an_encoder_stops_in_one_line_naming_it(
    asrkit_register_plugin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    asrkit_register_plugin(OverstatesPlugin(), name="overstates-plugin")
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(
        main,
        [
            "run",
            "tests/fixtures/tiny_recipe.yaml",
            "encoder={name: overstates}",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ],
    )
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "ctc_loss" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "encoder 'overstates' returned lengths" in errors[0], result.output


def test_a_dataset_indexed_in_milliseconds_is_named_before_training(tmp_path: Path) -> None:
    import soundfile

    from asrkit.data.plausibility import check_stated_durations
    from asrkit.errors import DataError
    from asrkit.interfaces import Utterance

    flacs = sorted((ROOT / "tests" / "fixtures" / "librispeech").rglob("*.flac"))[:4]
    seconds = [soundfile.info(str(f)).duration for f in flacs]
    right = [Utterance(f.stem, str(f), "a", s) for f, s in zip(flacs, seconds, strict=True)]
    check_stated_durations("tsv", "data.train[0]", right)
    one_wrong = [*right[:-1], Utterance("x", str(flacs[-1]), "a", seconds[-1] * 1000)]
    check_stated_durations("tsv", "data.train[0]", one_wrong)  # one bad entry is the loader's skip to count
    milliseconds = [Utterance(u.id, u.audio_path, u.text, u.duration * 1000) for u in right]
    with pytest.raises(DataError, match=r"^data.train\[0\]: dataset 'tsv' states durations far from its audio.*"
                       r"\(milliseconds\?\) but \d+\.\d\d s in .*must be in seconds"):  # fmt: skip
        check_stated_durations("tsv", "data.train[0]", milliseconds)
