"""The librispeech dataset: layout, index, errors for missing data, and the component contract."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from asrkit.data.synthetic import write_librispeech
from asrkit.errors import DataError
from asrkit.recipe import component
from asrkit.registry import load_registry
from asrkit.testing import check_component
from asrkit_plugins.datasets.librispeech import LibriSpeech

TEXTS = {
    "103-1240-0000": "CHAPTER ONE MISSUS RACHEL LYNDE IS SURPRISED",
    "103-1240-0001": "THAT HAD ITS SOURCE AWAY BACK IN THE WOODS",
    "1034-121119-0000": "WELL I DON'T THINK SO",
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpora"
    write_librispeech(
        root, "dev-clean", TEXTS, seconds={"103-1240-0000": 1.0, "103-1240-0001": 0.5, "1034-121119-0000": 0.75}
    )
    return root


def dataset(root: Path | str, subset: str = "dev-clean", **options: object) -> LibriSpeech:
    return LibriSpeech(LibriSpeech.Config(root=str(root), subset=subset, **options))


def test_passes_the_component_contract(corpus: Path) -> None:
    check_component("datasets", LibriSpeech, LibriSpeech.Config(root=str(corpus), subset="dev-clean"))


def test_is_registered_and_configured_from_a_recipe_node(corpus: Path) -> None:
    registry = load_registry(autoload=False)
    node = {"name": "librispeech", "root": str(corpus), "subset": "dev-clean", "download": False}
    spec = component(registry, "datasets", node, "data.train[0]")
    assert registry.get("datasets", "librispeech").cls is LibriSpeech
    assert spec.config == LibriSpeech.Config(root=str(corpus), subset="dev-clean")
    assert spec.config.url_base == "https://www.openslr.org/resources/12" and spec.config.verify


def test_indexes_every_transcript_line_with_its_duration(corpus: Path) -> None:
    data = dataset(corpus)
    data.prepare()
    assert data.label == "dev-clean"
    utterances = data.utterances()
    assert [(u.id, u.text, u.duration) for u in utterances] == [
        ("103-1240-0000", TEXTS["103-1240-0000"], 1.0),
        ("103-1240-0001", TEXTS["103-1240-0001"], 0.5),
        ("1034-121119-0000", TEXTS["1034-121119-0000"], 0.75),
    ]
    first = utterances[0]
    assert first.audio_path == str(corpus / "LibriSpeech" / "dev-clean" / "103" / "1240" / "103-1240-0000.flac")
    assert first.offset == 0.0
    wave = data.load_audio(first, 8000)
    assert wave.shape == (8000,) and wave.dtype == torch.float32


def test_a_relative_root_starts_at_the_current_directory(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(corpus.parent)
    data = dataset("corpora")
    monkeypatch.chdir("/")  # later directory changes (DataLoader workers, say) do not matter
    assert len(data.utterances()) == 3
    assert Path(data.utterances()[0].audio_path).is_absolute()


def test_a_missing_subset_says_where_it_looked_and_suggests_download(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        dataset(tmp_path, "train-clean-100").prepare()
    message = str(error.value)
    assert str(tmp_path / "LibriSpeech" / "train-clean-100") in message
    assert "download: true" in message
    assert "\n" not in message


def test_a_missing_unknown_subset_lists_what_is_there(corpus: Path) -> None:
    with pytest.raises(DataError, match="subsets there: dev-clean"):
        dataset(corpus, "dev-clen").utterances()


def test_download_of_an_unknown_subset_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"known subsets are dev-clean, dev-other, test-clean, .*train-other-500"):
        dataset(tmp_path, "train", download=True).prepare()


def test_utterances_without_audio_are_left_out_with_a_warning(corpus: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = corpus / "LibriSpeech" / "dev-clean" / "103" / "1240" / "103-1240-0001.flac"
    missing.unlink()
    assert [u.id for u in dataset(corpus).utterances()] == ["103-1240-0000", "1034-121119-0000"]
    assert "1 missing audio" in caplog.text and str(missing) in caplog.text


def test_pickles_without_its_index(corpus: Path) -> None:
    data = dataset(corpus)
    data.utterances()
    copy = pickle.loads(pickle.dumps(data))
    assert copy._index is None
    assert copy.utterances() == data.utterances()
