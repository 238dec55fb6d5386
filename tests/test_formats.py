"""``transcribe --format txt|json|srt|vtt --output-dir``, confidences and ``--nbest`` on the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from asrkit.cli import main
from asrkit.engine.formats import output_paths, render, subtitle_cues
from asrkit.engine.transcribe import Segment, Transcript
from asrkit.errors import RecipeError
from asrkit.interfaces import Hypothesis, Word

DEMO_TEST = Path(__file__).resolve().parent.parent / "data" / "demo" / "LibriSpeech" / "test"


def transcript() -> Transcript:
    first = (Word("hello", 0.5, 0.9, 0.9), Word("there", 1.0, 1.4, 0.5), Word("again", 2.5, 2.9, 0.7))
    second = (Word("bye", 3661.25, 3661.5, 1.0),)
    result = Transcript(
        "a.wav",
        duration=3662.0,
        segments=[
            Segment(0.0, 3.0, "hello there again", -2.0, first, (Hypothesis("hello their again", score=-3.0),)),
            Segment(3661.0, 3662.0, "bye", -0.5, second),
        ],
    )
    result.words = [*first, *second]
    return result


def test_subtitles_cut_cues_at_pauses_and_segments() -> None:
    cues = [[w.word for w in cue] for cue in subtitle_cues(transcript())]
    assert cues == [["hello", "there"], ["again"], ["bye"]]  # 1.1 s pause before "again", then a new segment


def test_srt_and_vtt_layout() -> None:
    srt = render(transcript(), "srt")
    assert srt.startswith("1\n00:00:00,500 --> 00:00:01,400\nhello there\n\n2\n00:00:02,500 --> 00:00:02,900\nagain\n")
    assert "4\n" not in srt and "3\n01:01:01,250 --> 01:01:01,500\nbye\n" in srt
    vtt = render(transcript(), "vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:01.400\nhello there\n")
    assert "01:01:01.250 --> 01:01:01.500\nbye" in vtt


def test_json_has_scores_confidences_and_nbest() -> None:
    record = json.loads(render(transcript(), "json"))
    assert record["text"] == "hello there again bye" and record["score"] == -2.5
    assert record["confidence"] == pytest.approx((0.9 + 0.5 + 0.7 + 1.0) / 4, abs=1e-4)
    assert record["words"][1] == {"word": "there", "start": 1.0, "end": 1.4, "confidence": 0.5}
    assert record["segments"][0]["nbest"] == [
        {"text": "hello there again", "score": -2.0},
        {"text": "hello their again", "score": -3.0},
    ]
    assert "nbest" not in record["segments"][1]
    assert render(transcript(), "txt") == "hello there again bye\n"


def test_output_paths_refuse_two_inputs_with_one_name(tmp_path: Path) -> None:
    assert output_paths(["x/a.flac", "b.wav"], tmp_path, "srt") == [tmp_path / "a.srt", tmp_path / "b.srt"]
    with pytest.raises(RecipeError, match=r"x/a.flac and y/a.wav would both be written to"):
        output_paths(["x/a.flac", "y/a.wav"], tmp_path, "vtt")


def test_output_dir_writes_one_file_per_input(random_checkpoint: Path, tmp_path: Path) -> None:
    inputs = sorted(str(p) for p in DEMO_TEST.rglob("*.flac"))[:2]
    silent = tmp_path / "silence.wav"
    soundfile.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    inputs.append(str(silent))
    for fmt in ("txt", "json", "srt", "vtt"):
        args = [str(random_checkpoint), *inputs, "--format", fmt, "--output-dir", str(tmp_path / "out")]
        result = CliRunner().invoke(main, ["transcribe", *args])
        assert result.exit_code == 0, result.output
        assert result.stdout == ""
    for path in inputs:
        stem = Path(path).stem
        record = json.loads((tmp_path / "out" / f"{stem}.json").read_text())
        text = (tmp_path / "out" / f"{stem}.txt").read_text()
        assert text == record["text"] + "\n"
        assert all(0.0 <= w["confidence"] <= 1.0 for w in record["words"])
        vtt = (tmp_path / "out" / f"{stem}.vtt").read_text()
        assert vtt.startswith("WEBVTT\n")
        times = re.findall(r"(\d\d):(\d\d):(\d\d),(\d\d\d) --> ", (tmp_path / "out" / f"{stem}.srt").read_text())
        assert len(times) == len(list(subtitle_cues_of(record)))
    assert (tmp_path / "out" / "silence.txt").read_text() == "\n"  # digital silence says nothing


def subtitle_cues_of(record: dict) -> list[list[Word]]:
    words = tuple(Word(w["word"], w["start"], w["end"]) for w in record["words"])
    segments = [
        Segment(s["start"], s["end"], s["text"], words=tuple(w for w in words if s["start"] <= w.start < s["end"]))
        for s in record["segments"]
    ]
    return list(subtitle_cues(Transcript(record["path"], segments=segments)))


def test_nbest_needs_a_decoder_with_an_nbest_list(random_checkpoint: Path) -> None:
    audio = str(sorted(DEMO_TEST.rglob("*.flac"))[0])
    greedy = CliRunner().invoke(main, ["transcribe", str(random_checkpoint), audio, "--nbest", "2"])
    assert greedy.exit_code == 1 and "--nbest: this decoder gives one hypothesis" in greedy.stderr
    beam = CliRunner().invoke(
        main,
        ["transcribe", str(random_checkpoint), audio, "--json", "--decoder", "beam", "--nbest", "3"],
    )
    assert beam.exit_code == 0, beam.output
    nbest = json.loads(beam.stdout)["segments"][0]["nbest"]
    assert len(nbest) == 3 and len({h["text"] for h in nbest}) == 3
    assert [h["score"] for h in nbest] == sorted((h["score"] for h in nbest), reverse=True)


def test_several_files_of_subtitles_need_an_output_dir(random_checkpoint: Path) -> None:
    audio = [str(p) for p in sorted(DEMO_TEST.rglob("*.flac"))[:2]]
    result = CliRunner().invoke(main, ["transcribe", str(random_checkpoint), *audio, "--format", "srt"])
    assert result.exit_code == 1 and "needs --output-dir" in result.stderr


def test_beam_nbest_must_fit_in_the_beam() -> None:
    from asrkit.build import build
    from asrkit.recipe import component
    from asrkit.registry import load_registry

    registry = load_registry()
    tokenizer = build(registry, component(registry, "tokenizers", {"name": "char"}, "tokenizer"))
    spec = component(registry, "decoders", {"name": "beam", "beam_width": 2, "nbest": 3}, "decoder")
    with pytest.raises(RecipeError, match=r"nbest: must be between 1 and beam_width \(2\), got 3"):
        build(registry, spec, tokenizer=tokenizer)
