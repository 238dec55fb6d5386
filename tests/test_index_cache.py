"""The utterance index cache: hits avoid reading audio, changes are noticed and re-read narrowly."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from asrkit import audio
from asrkit.data.index import Index, cache_root, cached_index, scan_files
from asrkit.data.synthetic import flac_bytes, write_librispeech
from asrkit.interfaces import Utterance
from asrkit_plugins.datasets.librispeech import LibriSpeech

HOUR_AGO = time.time() - 3600
TEXTS = {
    "1-10-0000": "ONE",
    "1-10-0001": "TWO",
    "1-11-0000": "THREE",
    "2-20-0000": "FOUR",
}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("ASRKIT_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files whose duration was read from the audio."""
    seen: list[str] = []
    real = audio.audio_duration

    def counting(path: str | os.PathLike[str]) -> float:
        seen.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(audio, "audio_duration", counting)
    return seen


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    write_librispeech(tmp_path, "train", TEXTS, seconds={k: 0.25 + 0.25 * i for i, k in enumerate(TEXTS)})
    return tmp_path


def index(root: Path) -> list[Utterance]:
    return list(LibriSpeech(LibriSpeech.Config(root=str(root), subset="train")).utterances())


def old_stamp(path: Path, seconds_ago: float = 1800) -> None:
    stamp = time.time() - seconds_ago
    os.utime(path, (stamp, stamp))


def test_a_cache_hit_reads_no_audio(corpus: Path, calls: list[str]) -> None:
    cold = index(corpus)
    assert sorted(calls) == sorted(f"{k}.flac" for k in TEXTS)
    calls.clear()
    warm = index(corpus)
    assert calls == []
    assert warm == cold
    assert [u.duration for u in warm] == [0.25, 0.5, 0.75, 1.0]


def test_a_changed_audio_file_is_the_only_one_read_again(corpus: Path, calls: list[str]) -> None:
    index(corpus)
    calls.clear()
    changed = corpus / "LibriSpeech" / "train" / "1" / "10" / "1-10-0001.flac"
    changed.write_bytes(flac_bytes(2.0))
    old_stamp(changed)
    utterances = {u.id: u for u in index(corpus)}
    assert calls == ["1-10-0001.flac"]
    assert utterances["1-10-0001"].duration == 2.0
    assert len(utterances) == 4


def test_an_added_utterance_is_the_only_one_read(corpus: Path, calls: list[str]) -> None:
    index(corpus)
    calls.clear()
    write_librispeech(corpus, "train", {"3-30-0000": "FIVE"}, seconds=0.5)
    utterances = {u.id: u for u in index(corpus)}
    assert calls == ["3-30-0000.flac"]
    assert utterances["3-30-0000"].text == "FIVE"


def test_a_removed_utterance_disappears_without_reading_audio(corpus: Path, calls: list[str]) -> None:
    index(corpus)
    calls.clear()
    chapter = corpus / "LibriSpeech" / "train" / "2" / "20"
    for path in chapter.iterdir():
        path.unlink()
    chapter.rmdir()
    assert [u.id for u in index(corpus)] == ["1-10-0000", "1-10-0001", "1-11-0000"]
    assert calls == []


def test_an_edited_transcript_is_seen_without_reading_audio(corpus: Path, calls: list[str]) -> None:
    index(corpus)
    calls.clear()
    transcript = corpus / "LibriSpeech" / "train" / "1" / "11" / "1-11.trans.txt"
    transcript.write_text("1-11-0000 THREE AND A HALF\n", encoding="utf-8")
    old_stamp(transcript)
    assert {u.id: u.text for u in index(corpus)}["1-11-0000"] == "THREE AND A HALF"
    assert calls == []


def test_a_file_written_just_now_is_not_trusted(corpus: Path, calls: list[str]) -> None:
    # Its mtime may not change on a second write within the same clock tick.
    write_librispeech(corpus, "train", {"1-10-0000": "ONE"}, seconds=0.25, mtime=time.time())
    index(corpus)
    calls.clear()
    index(corpus)
    assert calls == ["1-10-0000.flac"]
    old_stamp(corpus / "LibriSpeech" / "train" / "1" / "10" / "1-10-0000.flac")
    index(corpus)
    calls.clear()
    index(corpus)
    assert calls == []


def test_unreadable_audio_is_left_out_and_remembered(
    corpus: Path, calls: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    bad = corpus / "LibriSpeech" / "train" / "1" / "10" / "1-10-0001.flac"
    bad.write_bytes(b"not audio at all")
    old_stamp(bad)
    assert [u.id for u in index(corpus)] == ["1-10-0000", "1-11-0000", "2-20-0000"]
    assert "1 unreadable" in caplog.text and str(bad) in caplog.text
    calls.clear()
    caplog.clear()
    assert len(index(corpus)) == 3
    assert calls == []
    assert "1 unreadable" in caplog.text


def test_a_damaged_cache_file_is_rebuilt(corpus: Path, calls: list[str], cache_dir: Path) -> None:
    index(corpus)
    (cache_file,) = (cache_dir / "index").iterdir()
    cache_file.write_text("{not json", encoding="utf-8")
    calls.clear()
    assert len(index(corpus)) == 4
    assert len(calls) == 4
    assert json.loads(cache_file.read_text(encoding="utf-8"))["version"] == 1


def test_the_cache_is_keyed_by_folder_and_namespace(tmp_path: Path, calls: list[str]) -> None:
    write_librispeech(tmp_path / "a", "train", {"1-1-0": "A"})
    write_librispeech(tmp_path / "b", "train", {"1-1-0": "B"})
    assert [u.text for u in index(tmp_path / "a")] == ["A"]
    assert [u.text for u in index(tmp_path / "b")] == ["B"]
    calls.clear()

    def other_builder(folder: Path, files: object, duration_of: object) -> Index:
        return Index([], [("x", "other")])

    folder = tmp_path / "a" / "LibriSpeech" / "train"
    other = cached_index(folder, other_builder, namespace="other", suffixes=(".flac",))
    assert other.problems == [("x", "other")]
    assert [u.text for u in index(tmp_path / "a")] == ["A"]
    assert calls == []


def test_an_unwritable_cache_only_costs_a_rescan(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    monkeypatch.setenv("ASRKIT_CACHE_DIR", str(blocker))
    assert len(index(corpus)) == 4
    assert "cannot write the index cache" in caplog.text


def test_cache_root_defaults_to_the_home_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ASRKIT_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_root() == tmp_path / ".cache" / "asrkit"


def test_scan_skips_hidden_entries_and_other_suffixes(corpus: Path) -> None:
    folder = corpus / "LibriSpeech" / "train"
    (folder / ".asrkit-complete").write_text("done")
    (folder / "1" / "10" / "notes.md").write_text("x")
    files = scan_files(folder, (".flac", ".trans.txt"))
    assert sorted(files) == [
        "1/10/1-10-0000.flac",
        "1/10/1-10-0001.flac",
        "1/10/1-10.trans.txt",
        "1/11/1-11-0000.flac",
        "1/11/1-11.trans.txt",
        "2/20/2-20-0000.flac",
        "2/20/2-20.trans.txt",
    ]
    size, mtime_ns = files["1/10/1-10.trans.txt"]
    assert size == len("1-10-0000 ONE\n1-10-0001 TWO\n") and mtime_ns > 0
