"""Broken audio: NaN/Inf samples, durations the manifest gets wrong, folders given as files."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
import torch
from click.testing import CliRunner
from test_transcribe import TINY, EchoDecoder, model  # noqa: F401 (the module-scoped model fixture)

from asrkit.audio import NonFiniteAudioError, audio_duration, load_audio
from asrkit.build import build, build_model
from asrkit.cli import main
from asrkit.data.batches import DURATION_MISMATCH, NON_FINITE_AUDIO, UtteranceDataset, collate_batch, skip_summary
from asrkit.data.check import CHECKS, NON_FINITE, CheckOptions, check_manifest
from asrkit.data.rates import below_rate, low_rate_warning
from asrkit.engine.checkpoint import model_payload, save_atomic
from asrkit.engine.scoring import warn_low_rate
from asrkit.engine.transcribe import transcribe
from asrkit.errors import AudioError
from asrkit.interfaces import Dataset, Utterance
from asrkit.recipe import load_recipe
from asrkit.registry import load_registry


class Files(Dataset):
    """Real files, read by the interface's own ``load_audio``."""

    label = "files"

    def utterances(self) -> list[Utterance]:
        return []


def speech(seconds: float = 1.0) -> np.ndarray:
    return np.random.default_rng(0).normal(0, 0.1, round(seconds * 16000)).astype(np.float32)


def nan_wav(path: Path, nans: int = 100) -> Path:
    samples = speech()
    samples[1000 : 1000 + nans] = np.nan
    samples[5000] = np.inf
    soundfile.write(path, samples, 16000, subtype="FLOAT")
    return path


def test_non_finite_samples_are_an_audio_error_at_load(tmp_path: Path) -> None:
    path = nan_wav(tmp_path / "nan.wav")
    with pytest.raises(NonFiniteAudioError, match=r"nan\.wav: 101 of 16000 samples are NaN or infinite"):
        load_audio(path, 16000)
    assert issubclass(NonFiniteAudioError, AudioError)


def test_transcribe_reports_a_non_finite_file_and_transcribes_the_rest(tmp_path: Path, model) -> None:  # noqa: F811
    good = tmp_path / "good.wav"
    soundfile.write(good, speech(), 16000)
    results = transcribe(
        model,
        EchoDecoder(),
        [str(good), str(nan_wav(tmp_path / "nan.wav"))],
        sample_rate=16000,
        device=torch.device("cpu"),
    )
    assert results[0].error is None and results[0].text
    assert results[1].error is not None and "NaN or infinite" in results[1].error and results[1].text == ""


def test_training_and_evaluation_skip_non_finite_and_wrong_duration_audio_with_the_path(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    soundfile.write(good, speech(), 16000)
    long = tmp_path / "long.wav"
    soundfile.write(long, speech(3.0), 16000)
    entries = [
        (Files(), Utterance("good", str(good), "a", 1.0)),
        (Files(), Utterance("nan", str(nan_wav(tmp_path / "nan.wav")), "a", 1.0)),
        (Files(), Utterance("long", str(long), "a", 1.0)),  # three times longer than stated
        (Files(), Utterance("short", str(good), "a", 4.0)),  # stated four times longer than it is
    ]
    batch = collate_batch([UtteranceDataset(entries, 16000)[i] for i in range(4)])
    assert batch.ids == ["good"]
    assert batch.skipped == [
        (str(tmp_path / "nan.wav"), NON_FINITE_AUDIO),
        (str(long), DURATION_MISMATCH),
        (str(good), DURATION_MISMATCH),
    ]
    assert skip_summary(batch.skipped).startswith(f"skipped 3 utterances: 1 {NON_FINITE_AUDIO}, 2 {DURATION_MISMATCH}")


def test_data_check_has_a_row_for_non_finite_samples(tmp_path: Path) -> None:
    path = nan_wav(tmp_path / "nan.wav")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": str(path), "duration": 1.0, "text": "hello"}) + "\n")
    report = check_manifest(manifest, CheckOptions())
    assert NON_FINITE in CHECKS
    assert report.count(NON_FINITE) == 1 and report.total == 1
    assert report.examples(NON_FINITE) == [f"{path} (101 of 16000 samples are NaN or infinite)"]


def test_a_folder_given_as_audio_says_it_is_a_folder(tmp_path: Path) -> None:
    for read in (load_audio, lambda path, rate: audio_duration(path)):
        with pytest.raises(AudioError, match="it is a folder, not an audio file"):
            read(tmp_path, 16000)


def test_audio_below_the_model_rate_is_warned_about_once_per_file_and_counted(tmp_path: Path) -> None:
    phone = tmp_path / "phone.wav"
    soundfile.write(phone, speech()[:8000], 8000)
    wide = tmp_path / "wide.wav"
    soundfile.write(wide, speech(), 16000)
    warning = low_rate_warning(phone, 16000)
    assert warning is not None and "recorded at 8000 Hz, below the model's 16000 Hz" in warning
    assert low_rate_warning(wide, 16000) is None and low_rate_warning(tmp_path / "gone.wav", 16000) is None
    assert below_rate([str(phone), str(wide), str(phone)], 16000) == (1, f"{phone} at 8000 Hz")


def test_transcribe_cli_warns_about_a_low_rate_and_names_nan_and_folder_inputs(tmp_path: Path) -> None:
    registry = load_registry()
    recipe = load_recipe(TINY, [], registry)
    tokenizer = build(registry, recipe.tokenizer)
    checkpoint = tmp_path / "model.pt"
    save_atomic(model_payload(recipe.resolved(), build_model(registry, recipe, tokenizer), tokenizer), checkpoint)
    phone = tmp_path / "phone.wav"
    soundfile.write(phone, speech()[:8000], 8000)
    nan = nan_wav(tmp_path / "nan.wav")
    folder = tmp_path / "folder"
    folder.mkdir()
    args = ["transcribe", str(checkpoint), str(phone), str(nan), str(folder), "--device", "cpu"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3, result.stderr
    assert errors[0].startswith(f"warning: {phone} is recorded at 8000 Hz")
    assert errors[1] == f"error: cannot read audio {nan}: 101 of 16000 samples are NaN or infinite"
    assert errors[2].startswith(f"error: cannot read audio {folder}: it is a folder")
    assert result.stdout.startswith(f"{phone}\t")


def test_evaluate_counts_the_files_of_a_set_below_the_model_rate(tmp_path: Path) -> None:
    phone = tmp_path / "phone.wav"
    soundfile.write(phone, speech()[:8000], 8000)
    wide = tmp_path / "wide.wav"
    soundfile.write(wide, speech(), 16000)
    warnings: list[str] = []
    progress = SimpleNamespace(warn=warnings.append)
    warn_low_rate(progress, "calls", [str(phone), str(wide), str(phone)], 16000)
    warn_low_rate(progress, "clean", [str(wide)], 16000)
    assert warnings == [
        f"calls: 1 of 2 audio files are recorded below the model's 16000 Hz (first: {phone} at 8000 Hz); "
        "upsampled audio usually scores worse"
    ]
