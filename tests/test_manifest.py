"""The manifest dataset and the NeMo JSON-lines format."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from asrkit.data.manifest import read_manifest, write_manifest
from asrkit.data.synthetic import flac_bytes
from asrkit.errors import DataError
from asrkit.interfaces import Utterance
from asrkit.testing import check_component
from asrkit_plugins.datasets.manifest import Manifest


def write_lines(path: Path, *records: object) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "a.flac").write_bytes(flac_bytes(1.0))
    (tmp_path / "audio" / "b.flac").write_bytes(flac_bytes(2.0))
    return tmp_path


def test_passes_the_component_contract(folder: Path) -> None:
    manifest = write_lines(folder / "train.jsonl", {"audio_filepath": "audio/a.flac", "duration": 1.0, "text": "hi"})
    check_component("datasets", Manifest, Manifest.Config(path=str(manifest)))


def test_reads_nemo_keys_and_resolves_paths_against_the_manifest_folder(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absolute = str(folder / "audio" / "b.flac")
    write_lines(
        folder / "dev-set.jsonl",
        {"audio_filepath": "audio/a.flac", "duration": 1.0, "text": "first one", "speaker": "ignored"},
        "",
        {"audio_filepath": absolute, "duration": 0.5, "offset": 1.25, "text": "a segment"},
        {"audio_filepath": "audio/b.flac", "duration": 2, "text": "named", "id": "utt-7"},
    )
    monkeypatch.chdir(folder.parent)
    dataset = Manifest(Manifest.Config(path=f"{folder.name}/dev-set.jsonl"))
    monkeypatch.chdir("/")
    assert dataset.label == "dev-set"
    assert list(dataset.utterances()) == [
        Utterance("a", str(folder / "audio" / "a.flac"), "first one", 1.0),
        Utterance("b@1.25", absolute, "a segment", 0.5, 1.25),
        Utterance("utt-7", absolute, "named", 2.0),
    ]
    segment = dataset.load_audio(dataset.utterances()[1], 16000)
    assert segment.shape == (8000,)
    assert Manifest(Manifest.Config(path=str(folder / "dev-set.jsonl"), label="dev")).label == "dev"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ({"duration": 1.0, "text": "x"}, "missing key 'audio_filepath'"),
        ({"audio_filepath": "a.flac", "text": "x"}, "missing key 'duration'"),
        ({"audio_filepath": "a.flac", "duration": 1.0}, "missing key 'text'"),
        ({"audio_filepath": 3, "duration": 1.0, "text": "x"}, "'audio_filepath' must be a str"),
        ({"audio_filepath": "a.flac", "duration": "1.0", "text": "x"}, "'duration' must be a number"),
        ({"audio_filepath": "a.flac", "duration": -1, "text": "x"}, "'duration' must be a number of seconds >= 0"),
        ({"audio_filepath": "a.flac", "duration": 1, "offset": True, "text": "x"}, "'offset' must be a number"),
        ({"audio_filepath": "a.flac", "duration": 1.0, "text": None}, "'text' must be a str"),
    ],
)
def test_a_malformed_line_is_reported_with_file_and_line(tmp_path: Path, line: object, message: str) -> None:
    good = {"audio_filepath": "a.flac", "duration": 1.0, "text": "fine"}
    manifest = write_lines(tmp_path / "bad.jsonl", good, good, line)
    with pytest.raises(DataError) as error:
        Manifest(Manifest.Config(path=str(manifest))).utterances()
    assert str(error.value).startswith(f"{manifest}:3: ")
    assert message in str(error.value)


def test_a_missing_manifest_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"manifest: no file .*nowhere\.jsonl"):
        Manifest(Manifest.Config(path=str(tmp_path / "nowhere.jsonl"))).prepare()


def test_write_then_read_gives_the_same_utterances(folder: Path) -> None:
    utterances = [
        Utterance("x-1", str(folder / "audio" / "a.flac"), "caf\u00e9 \u201cquoted\u201d", 1.0),
        Utterance("x-2", str(folder / "audio" / "b.flac"), "part", 0.75, 0.5),
    ]
    path = folder / "out.jsonl"
    assert write_manifest(path, utterances) == 2
    assert list(read_manifest(path)) == utterances
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"audio_filepath", "duration", "text", "id"}


def test_pickles_without_its_index(folder: Path) -> None:
    manifest = write_lines(folder / "m.jsonl", {"audio_filepath": "audio/a.flac", "duration": 1.0, "text": "hi"})
    dataset = Manifest(Manifest.Config(path=str(manifest)))
    dataset.utterances()
    copy = pickle.loads(pickle.dumps(dataset))
    assert copy._utterances is None and copy.utterances() == dataset.utterances()
