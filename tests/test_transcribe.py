"""Transcription: chunks of long files, batches of many files, timestamps, unreadable files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from asrkit.build import build, build_model
from asrkit.engine.transcribe import Chunk, plan_chunks, transcribe
from asrkit.interfaces import Decoder, Hypothesis, Word
from asrkit.recipe import load_recipe
from asrkit.registry import load_registry

TINY = Path(__file__).parent / "fixtures" / "tiny_recipe.yaml"


def write_wav(path: Path, seconds: float) -> str:
    samples = np.random.default_rng(0).normal(0, 0.1, round(seconds * 16000)).astype(np.float32)
    soundfile.write(path, samples, 16000)
    return str(path)


class EchoDecoder(Decoder):
    """Says how many frames each row had, as one word spanning them."""

    name = "echo"

    @dataclass(frozen=True)
    class Config:
        pass

    def __init__(self, config: Config | None = None, tokenizer: object = None) -> None:
        self.calls: list[int] = []

    def decode(
        self, log_probs: torch.Tensor, lengths: torch.Tensor, frame_seconds: float | None = None
    ) -> list[Hypothesis]:
        self.calls.append(len(lengths))
        hyps = []
        for n in lengths.tolist():
            words = (Word(f"f{n}", 0.0, n * frame_seconds),) if frame_seconds is not None else None
            hyps.append(Hypothesis(text=f"f{n}", words=words))
        return hyps


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    registry = load_registry()
    recipe = load_recipe(TINY, [], registry)
    return build_model(registry, recipe, build(registry, recipe.tokenizer))


def test_long_files_are_cut_into_equal_chunks(tmp_path: Path) -> None:
    paths = [write_wav(tmp_path / "long.wav", 2.5), write_wav(tmp_path / "short.wav", 0.4), str(tmp_path / "no.wav")]
    transcripts, chunks = plan_chunks(paths, chunk_seconds=1.0)
    assert [c.file for c in chunks] == [0, 0, 0, 1]
    assert [round(c.offset, 4) for c in chunks[:3]] == [0.0, 0.8333, 1.6667]
    assert chunks[3] == Chunk(1, 0.0, 0.4)
    assert transcripts[2].error is not None and "no.wav" in transcripts[2].error


def test_chunks_are_joined_and_timestamps_shifted(tmp_path: Path, model: torch.nn.Module) -> None:
    paths = [write_wav(tmp_path / "long.wav", 2.5), write_wav(tmp_path / "short.wav", 0.4)]
    decoder = EchoDecoder()
    results = transcribe(
        model, decoder, paths, sample_rate=16000, device=torch.device("cpu"), chunk_seconds=1.0, timestamps=True
    )
    long, short = results
    frames_per_chunk = int(model.output_lengths(torch.tensor([round(2.5 / 3 * 16000)])))
    assert long.text == " ".join([f"f{frames_per_chunk}"] * 3)
    assert [round(w.start, 3) for w in long.words] == [0.0, 0.833, 1.667]
    assert long.words[-1].end == pytest.approx(2 * 2.5 / 3 + frames_per_chunk * model.frame_seconds)
    assert short.words and short.error is None
    end = round(2.5 / 3 + frames_per_chunk * model.frame_seconds, 3)
    assert long.as_json(timestamps=True)["words"][1] == {"word": long.words[1].word, "start": 0.833, "end": end}


def test_files_are_batched_by_duration(tmp_path: Path, model: torch.nn.Module) -> None:
    paths = [write_wav(tmp_path / f"{i}.wav", 0.5) for i in range(6)]
    decoder = EchoDecoder()
    transcribe(model, decoder, paths, sample_rate=16000, device=torch.device("cpu"), batch_seconds=1.5)
    assert decoder.calls == [3, 3]


def test_a_bad_file_does_not_lose_the_others(tmp_path: Path, model: torch.nn.Module) -> None:
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"fLaC" + bytes(100))
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, dtype=np.float32), 16000)
    paths = [write_wav(tmp_path / "good.wav", 0.5), str(corrupt), str(empty)]
    good, bad, silent = transcribe(model, EchoDecoder(), paths, sample_rate=16000, device=torch.device("cpu"))
    assert good.error is None and good.text
    assert (
        bad.error is not None
        and "corrupt.flac" in bad.error
        and bad.as_json(False)
        == {
            "path": str(corrupt),
            "error": bad.error,
        }
    )
    assert silent.error is None and silent.text == ""
