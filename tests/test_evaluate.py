"""Scoring: corpus-level error counts, and the --data / --decoder forms of ``asrkit evaluate``."""

from __future__ import annotations

import jiwer
import pytest

from asrkit.engine.evaluation import Counts
from asrkit.engine.inference import decoder_spec
from asrkit.engine.results import unique_labels
from asrkit.engine.scoring import dataset_spec
from asrkit.errors import RecipeError
from asrkit.recipe import component
from asrkit.registry import load_registry

REFERENCES = ["the cat sat on the mat", "hello", "a b c d e f g h", ""]
HYPOTHESES = ["the cat sat on a mat", "yellow", "a b c d e f g h", "extra"]


def test_counts_added_batch_by_batch_are_corpus_level() -> None:
    counts = Counts()
    per_utterance = counts.add(REFERENCES[:2], HYPOTHESES[:2]) + counts.add(REFERENCES[2:], HYPOTHESES[2:])
    assert counts.wer == pytest.approx(jiwer.wer(REFERENCES, HYPOTHESES))
    assert counts.cer == pytest.approx(jiwer.cer(REFERENCES, HYPOTHESES))
    mean_of_rates = sum(e / n for e, n in per_utterance if n) / 3
    assert counts.wer != pytest.approx(mean_of_rates)  # not a mean of per-utterance scores
    assert per_utterance == [(1, 6), (1, 1), (0, 8), (1, 0)]
    assert counts.utterances == 4 and counts.words == 15


def test_counts_summed_over_one_rank_are_unchanged() -> None:
    counts = Counts()
    counts.add(REFERENCES, HYPOTHESES)
    counts.audio_seconds = 12.5
    assert counts.summed_over_ranks() == counts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data/manifests/dev.jsonl", {"name": "manifest", "path": "data/manifests/dev.jsonl", "label": None}),
        ("data/LibriSpeech-root:test-other", {"name": "librispeech", "root": "data/LibriSpeech-root"}),
        ("{name: librispeech, root: /d, subset: dev-clean, download: true}", {"download": True, "subset": "dev-clean"}),
    ],
)
def test_data_forms(text: str, expected: dict[str, object]) -> None:
    spec = dataset_spec(load_registry(), text)
    assert spec.kind == "datasets"
    assert expected.items() <= spec.as_dict().items()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("just-a-name", "no loaded dataset plugin reads this shortcut"),
        ("{name: librispeech, root: x}", r"--data\.subset: required parameter"),
        ("{name: librispeeh, root: x}", "did you mean 'librispeech'"),
    ],
)
def test_bad_data_forms(text: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        dataset_spec(load_registry(), text)


def test_decoder_options_are_validated_like_overrides() -> None:
    registry = load_registry()
    greedy = component(registry, "decoders", {"name": "greedy"}, "decoder")
    assert decoder_spec(registry, greedy, None, []) == greedy
    beam = decoder_spec(registry, greedy, "beam", ["beam_width=50", "hotwords=[up, down]"])
    assert beam.name == "beam" and beam.config.beam_width == 50 and beam.config.hotwords == ("up", "down")
    recipe_beam = component(registry, "decoders", {"name": "beam", "beam_width": 7, "alpha": 0.9}, "decoder")
    kept = decoder_spec(registry, recipe_beam, "beam", ["beam_width=3"])
    assert (kept.config.beam_width, kept.config.alpha) == (3, 0.9)  # the recipe's other settings stay
    with pytest.raises(RecipeError, match=r"decoder\.beam_widht: unknown parameter.*did you mean 'beam_width'"):
        decoder_spec(registry, greedy, "beam", ["beam_widht=3"])
    with pytest.raises(RecipeError, match=r"decoder\.beam_width: expected int, got 'wide'"):
        decoder_spec(registry, greedy, "beam", ["beam_width=wide"])
    with pytest.raises(RecipeError, match="expected PARAMETER=VALUE"):
        decoder_spec(registry, greedy, "beam", ["name=greedy"])
    with pytest.raises(RecipeError, match="unknown decoders component 'bean'"):
        decoder_spec(registry, greedy, "bean", [])


def test_labels_are_file_safe_and_unique() -> None:
    assert unique_labels(["dev-clean", "test", "test", "a/b c"]) == ["dev-clean", "test", "test-2", "a_b_c"]
