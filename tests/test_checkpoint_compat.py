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
