"""Broken audio: NaN/Inf samples, durations the manifest gets wrong, folders given as files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from test_transcribe import EchoDecoder, model  # noqa: F401 (the module-scoped model fixture)

from asrkit.audio import NonFiniteAudioError, load_audio
from asrkit.data.batches import DURATION_MISMATCH, NON_FINITE_AUDIO, UtteranceDataset, collate_batch, skip_summary
from asrkit.data.check import CHECKS, NON_FINITE, CheckOptions, check_manifest
from asrkit.engine.transcribe import transcribe
from asrkit.errors import AudioError
from asrkit.interfaces import Dataset, Utterance


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
