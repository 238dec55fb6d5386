"""The batch pipeline: loading, padding, and bad data counted instead of fatal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader
from torch.utils.data._utils.pin_memory import pin_memory as dataloader_pin_memory

from asrkit.ctc import ctc_fits
from asrkit.data.batches import (
    Batch,
    LoadedItem,
    SkipReport,
    UtteranceDataset,
    collate_batch,
    select_utterances,
)
from asrkit.data.sampler import DurationBatchSampler
from asrkit.errors import AudioError
from asrkit.interfaces import Dataset, Utterance
from asrkit_plugins.datasets.librispeech import LibriSpeech

FIXTURES = Path(__file__).parent / "fixtures" / "audio"
DEMO = Path(__file__).parent.parent / "data" / "demo"


class MemoryDataset(Dataset):
    """Waveforms held in memory; ``None`` stands for a file that cannot be read."""

    label = "memory"

    def __init__(self, waves: dict[str, torch.Tensor | None]) -> None:
        self.waves = waves

    def utterances(self) -> Sequence[Utterance]:
        # The stated duration is the wave's (at 16 kHz): a wrong one is skipped at load.
        return [Utterance(key, f"{key}.wav", key.upper(), _seconds(wave)) for key, wave in self.waves.items()]

    def load_audio(self, utterance: Utterance, sample_rate: int) -> torch.Tensor:
        wave = self.waves[utterance.id]
        if wave is None:
            raise AudioError(utterance.audio_path, "broken")
        return wave


def _seconds(wave: torch.Tensor | None) -> float:
    return 1.0 if wave is None else wave.numel() / 16000


def entries_of(dataset: Dataset) -> list[tuple[Dataset, Utterance]]:
    return [(dataset, u) for u in dataset.utterances()]


class FileDataset(MemoryDataset):
    """Reads the real files (the interface's default ``load_audio``)."""

    load_audio = Dataset.load_audio


def fixture_entry(name: str) -> tuple[Dataset, Utterance]:
    return (FileDataset({}), Utterance(name, str(FIXTURES / name), "some words", 0.432))


def test_collate_pads_with_zeros_and_keeps_the_metadata() -> None:
    memory = MemoryDataset({"a": torch.ones(3), "b": torch.full((5,), 2.0), "c": torch.ones(1)})
    items = [UtteranceDataset(entries_of(memory), 16000)[i] for i in range(3)]
    batch = collate_batch(items)
    assert batch.waveforms.dtype == torch.float32 and batch.lengths.dtype == torch.int64
    assert batch.waveforms.tolist() == [[1, 1, 1, 0, 0], [2, 2, 2, 2, 2], [1, 0, 0, 0, 0]]
    assert batch.lengths.tolist() == [3, 5, 1]
    assert (batch.ids, batch.texts, batch.durations, batch.skipped) == (
        ["a", "b", "c"],
        ["A", "B", "C"],
        [3 / 16000, 5 / 16000, 1 / 16000],
        [],
    )
    assert len(batch) == 3


def test_unreadable_and_empty_audio_are_skipped_not_raised() -> None:
    memory = MemoryDataset({"good": torch.ones(4), "broken": None, "empty": torch.zeros(0)})
    dataset = UtteranceDataset(entries_of(memory), 16000)
    assert dataset[1] == LoadedItem(memory.utterances()[1], None, "unreadable")
    batch = collate_batch([dataset[i] for i in range(3)])
    assert batch.ids == ["good"]
    assert batch.skipped == [("broken.wav", "unreadable"), ("empty.wav", "empty audio")]


def test_the_corrupt_and_empty_fixture_files_are_counted() -> None:
    names = ["speech_16k.flac", "corrupt.flac", "empty.wav", "no-such-file.flac"]
    entries = [fixture_entry(name) for name in names]
    batch = collate_batch([UtteranceDataset(entries, 16000)[i] for i in range(4)])
    assert batch.ids == ["speech_16k.flac"] and batch.lengths[0] > 1000
    reasons = {Path(path).name: reason for path, reason in batch.skipped}
    assert reasons == {"corrupt.flac": "unreadable", "empty.wav": "empty audio", "no-such-file.flac": "unreadable"}


def test_a_batch_where_everything_failed_is_empty_not_an_error() -> None:
    batch = collate_batch([LoadedItem(Utterance("x", "x.flac", "t", 1.0), None, "unreadable")])
    assert len(batch) == 0 and batch.waveforms.shape == (0, 0) and batch.lengths.shape == (0,)
    assert batch.skipped == [("x.flac", "unreadable")]


def test_batch_moves_and_pins_its_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = collate_batch([LoadedItem(Utterance("a", "a.flac", "hi", 1.0), torch.ones(4))])
    moved = batch.to("meta", non_blocking=True)
    assert moved.waveforms.device.type == "meta" and moved.lengths.device.type == "meta"
    assert moved.texts == ["hi"] and batch.waveforms.device.type == "cpu"
    # Pinning needs an accelerator; what matters here is that the DataLoader's
    # pin_memory step finds our method and that it pins both tensors.
    pinned: list[torch.Size] = []

    def fake_pin(self: torch.Tensor, device: object = None) -> torch.Tensor:
        pinned.append(self.shape)
        return self.clone()

    monkeypatch.setattr(torch.Tensor, "pin_memory", fake_pin)
    result = dataloader_pin_memory(batch)
    assert isinstance(result, Batch) and result.ids == ["a"]
    assert pinned == [torch.Size([1, 4]), torch.Size([1])]


def test_a_dataloader_with_workers_delivers_every_good_utterance_once() -> None:
    corpus = LibriSpeech(LibriSpeech.Config(root=str(DEMO), subset="dev"))
    good = entries_of(corpus)[:12]
    bad = [fixture_entry("corrupt.flac"), fixture_entry("empty.wav")]
    dataset = UtteranceDataset(good + bad, 16000)
    sampler = DurationBatchSampler(dataset.durations, max_seconds=12.0, shuffle=True, seed=3)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_batch, num_workers=2)
    report = SkipReport(considered=len(dataset))
    seen: list[str] = []
    for batch in loader:
        assert batch.waveforms.shape == (len(batch), int(batch.lengths.max()) if len(batch) else 0)
        seen += batch.ids
        for path, reason in batch.skipped:
            report.add(reason, path)
    assert sorted(seen) == sorted(u.id for _, u in good)
    assert report.counts == {"unreadable": 1, "empty audio": 1}
    assert report.summary().startswith("skipped 2 of 14 utterances: 1 unreadable, 1 empty audio (first: ")


def test_skip_report_counts_each_path_once_and_summarizes_in_one_line() -> None:
    report = SkipReport(considered=1200)
    report.add("empty transcript", "c.flac")
    report.add("unreadable", "a.flac")
    report.add("unreadable", "b.flac")
    report.add("unreadable", "a.flac")  # the same file failing again next epoch
    assert report.total == 3
    assert report.counts == {"unreadable": 2, "empty transcript": 1}
    assert (
        report.summary()
        == "skipped 3 of 1200 utterances: 2 unreadable, 1 empty transcript (first: a.flac, b.flac, c.flac)"
    )
    assert "\n" not in report.summary()


def test_skip_report_merge_and_its_limits() -> None:
    first, second = SkipReport(considered=10, keep=2), SkipReport(considered=5)
    for name in ("a", "b", "c"):
        first.add("too long", name)
    second.add("too long", "c")
    second.add("too long", "d")
    second.add("my own reason", "e")
    first.merge(second)
    assert first.considered == 15
    assert first.counts == {"too long": 4, "my own reason": 1}
    assert first.examples("too long") == ["a", "b"]
    assert first.summary() == "skipped 5 of 15 utterances: 4 too long, 1 my own reason (first: a, b)"
    assert SkipReport().summary() == "skipped 0 utterances"


def test_select_drops_what_cannot_be_trained_on_with_one_frame_count_call() -> None:
    memory = MemoryDataset({})

    def entry(name: str, text: str, seconds: float) -> tuple[Dataset, Utterance]:
        return (memory, Utterance(name, f"{name}.flac", text, seconds))

    entries = [
        entry("ok", "Hello", 0.5),  # 25 frames for 5 labels + 1 repeat
        entry("blank", "  ", 1.0),
        entry("silent", "words", 0.0),
        entry("long", "fine", 30.0),
        entry("tight", "abcd", 0.08),  # exactly 4 frames for 4 labels
        entry("short", "abcd", 0.06),  # 3 frames
        entry("repeats", "aaaa", 0.12),  # 6 frames, needs 4 + 3
        entry("last", "ok", 1.0),
    ]
    calls: list[torch.Tensor] = []

    def frames(samples: torch.Tensor) -> torch.Tensor:
        calls.append(samples)
        return samples // 320  # 20 ms frames at 16 kHz

    kept, report = select_utterances(
        entries,
        normalize=lambda text: text.strip().lower(),
        encode=lambda text: [ord(c) for c in text],
        output_frames=frames,
        fits=ctc_fits,
        sample_rate=16000,
        max_duration=20.0,
    )
    assert [u.id for _, u in kept] == ["ok", "tight", "last"]
    assert len(calls) == 1 and calls[0].dtype == torch.int64 and calls[0].shape == (5,)
    assert report.counts == {
        "empty audio": 1,
        "empty transcript": 1,
        "transcript too long for its frames": 2,
        "too long": 1,
    }
    assert report.examples("transcript too long for its frames") == ["short.flac", "repeats.flac"]
    assert report.considered == 8
    without_limit, _ = select_utterances(
        entries[3:4],
        normalize=str.lower,
        encode=lambda text: [1],
        output_frames=frames,
        fits=ctc_fits,
        sample_rate=16000,
        max_duration=None,
    )
    assert len(without_limit) == 1
