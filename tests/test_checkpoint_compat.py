"""Checkpoints written by asrkit 0.1 load and give the transcripts they gave then."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from asrkit.build import build
from asrkit.engine.checkpoint import load_model
from asrkit.engine.transcribe import transcribe
from asrkit.registry import load_registry

FIXTURE = Path(__file__).parent / "fixtures" / "checkpoint_0_1"


def test_a_0_1_checkpoint_gives_its_0_1_transcripts(repo_root: Path, monkeypatch) -> None:
    monkeypatch.chdir(repo_root)  # the transcripts are keyed by paths relative to the repository
    registry = load_registry()
    loaded = load_model(FIXTURE / "best.pt", registry)
    decoder = build(registry, loaded.recipe.decoder, tokenizer=loaded.tokenizer)
    expected = json.loads((FIXTURE / "transcripts.json").read_text())
    got = transcribe(loaded.model, decoder, list(expected), sample_rate=16000, device=torch.device("cpu"))
    assert {t.path: t.text for t in got} == expected
    assert all(expected.values()), "the fixture's model must say something for the check to mean anything"


def test_a_0_1_checkpoint_gives_its_0_1_log_probabilities(repo_root: Path) -> None:
    from asrkit.audio import load_audio

    loaded = load_model(FIXTURE / "best.pt", load_registry())
    expected = torch.load(FIXTURE / "log_probs.pt", weights_only=True)
    paths = sorted((repo_root / "tests" / "fixtures" / "librispeech").rglob("*.flac"))
    checked = 0
    for path in paths:
        if path.stem not in expected:
            continue
        wave = load_audio(str(path), 16000)
        with torch.inference_mode():
            log_probs, _ = loaded.model.log_probs(wave[None], torch.tensor([wave.shape[0]]))
        torch.testing.assert_close(log_probs[0], expected[path.stem], atol=1e-5, rtol=1e-5)
        checked += 1
    assert checked == len(expected) == 6
