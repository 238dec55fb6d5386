"""``asrkit data prepare`` and ``asrkit data check``, through click's runner and one real process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from asrkit.cli import main
from asrkit.data.check import CHECKS
from asrkit.data.manifest import read_manifest
from asrkit.data.synthetic import write_librispeech

FIXTURES = Path(__file__).parent / "fixtures" / "audio"
SPEECH_SECONDS = 0.4319375  # tests/fixtures/audio/speech_16k.flac: 21 frames of 20 ms


def run(*args: str) -> Result:
    # Wide enough that rich wraps neither the table nor the error line.
    return CliRunner(env={"COLUMNS": "400"}).invoke(main, ["data", *args])


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    folder = tmp_path / "audio"
    folder.mkdir()
    for name in ("speech_16k.flac", "corrupt.flac", "empty.wav"):
        shutil.copy(FIXTURES / name, folder / name)
    return folder


def manifest(path: Path, *records: dict[str, object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def line(audio: str = "audio/speech_16k.flac", text: str = "hello", duration: float = SPEECH_SECONDS) -> dict:
    return {"audio_filepath": audio, "duration": duration, "text": text}


def test_prepare_writes_a_manifest_with_durations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = {"1-2-0000": "FIRST ONE", "1-2-0001": "SECOND", "3-4-0000": "THIRD"}
    write_librispeech(tmp_path / "corpus", "mini", texts, seconds={"1-2-0000": 1.0, "1-2-0001": 0.5, "3-4-0000": 2.0})
    monkeypatch.chdir(tmp_path)
    result = run("prepare", "corpus", "--subset", "mini")
    assert result.exit_code == 0, result.output
    assert "wrote 3 utterances (0.00 h) to mini.jsonl" in result.output
    utterances = list(read_manifest(tmp_path / "mini.jsonl"))
    assert [(u.id, u.text, u.duration) for u in utterances] == [
        ("1-2-0000", "FIRST ONE", 1.0),
        ("1-2-0001", "SECOND", 0.5),
        ("3-4-0000", "THIRD", 2.0),
    ]
    assert utterances[0].audio_path == str(tmp_path / "corpus" / "LibriSpeech" / "mini" / "1" / "2" / "1-2-0000.flac")
    out = tmp_path / "lists" / "mini.jsonl"
    assert run("prepare", "corpus", "--subset", "mini", "--out", str(out)).exit_code == 0
    assert out.read_text(encoding="utf-8") == (tmp_path / "mini.jsonl").read_text(encoding="utf-8")


def test_prepare_of_a_missing_subset_is_a_one_line_error(tmp_path: Path) -> None:
    result = run("prepare", str(tmp_path), "--subset", "dev-clean")
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: librispeech: no folder ")
    assert result.stderr.strip().count("\n") == 0 and "download: true" in result.stderr


def test_check_passes_a_clean_manifest(tmp_path: Path, audio: Path) -> None:
    path = manifest(tmp_path / "ok.jsonl", line(), line(text="it's here"))
    result = run("check", str(path))
    assert result.exit_code == 0, result.output
    assert "no problems found" in result.output
    for name in CHECKS:
        assert name in result.output


@pytest.mark.parametrize(
    ("record", "problem", "detail"),
    [
        (line(audio="audio/gone.flac"), "missing file", "gone.flac"),
        (line(audio="audio/corrupt.flac", duration=0.4319375), "unreadable audio", "corrupt.flac"),
        (line(audio="audio/empty.wav", duration=0.0), "empty audio", "empty.wav"),
        (line(text=" ?! "), "empty text", "speech_16k.flac"),
        (line(text="room 101"), "out-of-alphabet text", "'01'"),
        (line(duration=1.5), "duration mismatch", "manifest says 1.50 s, file has 0.43 s"),
        (line(text="a transcript far too long for it"), "too short for transcript", "21 frames for 32 labels"),
        (line(text="hello" + "o" * 12), "too short for transcript", "21 frames for 17 labels + 13 repeats"),
    ],
)
def test_check_reports_each_kind_of_problem_and_fails(
    tmp_path: Path, audio: Path, record: dict, problem: str, detail: str
) -> None:
    path = manifest(tmp_path / "bad.jsonl", line(), record)
    result = run("check", str(path))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {path}: 1 problem in 2 utterances: 1 {problem}"
    row = next(r for r in result.stdout.splitlines() if f" {problem} " in r)
    assert "│ 1 " in row and detail in row


def test_check_counts_every_problem_of_a_bad_manifest(tmp_path: Path, audio: Path) -> None:
    path = manifest(
        tmp_path / "bad.jsonl",
        line(audio="audio/gone.flac"),
        line(audio="audio/corrupt.flac"),
        line(audio="audio/empty.wav", duration=0.0, text=""),
        line(text="caf\u00e9 no 9", duration=0.2),
        line(),
    )
    result = run("check", str(path), "--frame-seconds", "0.04")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: {path}: 6 problems in 5 utterances: 1 missing file, 1 unreadable audio, 1 empty audio, "
        "1 empty text, 1 out-of-alphabet text, 1 duration mismatch"
    )
    # A header-only check is fast but cannot see that corrupt.flac's audio data is damaged.
    quick = run("check", str(path), "--frame-seconds", "0.04", "--no-decode")
    assert "unreadable audio" not in quick.stderr and "5 problems" in quick.stderr


def test_check_of_a_malformed_manifest_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(line()) + "\n{oops\n", encoding="utf-8")
    result = run("check", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}:2: invalid JSON")


@pytest.mark.slow
def test_check_exits_non_zero_from_a_real_process(tmp_path: Path, audio: Path) -> None:
    path = manifest(tmp_path / "bad.jsonl", line(audio="audio/gone.flac"))
    result = subprocess.run(
        [sys.executable, "-m", "asrkit", "data", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert "missing file" in result.stdout and "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("1 problem in 1 utterance: 1 missing file")
