"""The batch pipeline the trainer reads: utterances → loaded waveforms → padded batches.

Bad data never stops a run. What can be known from the index (an empty
transcript, an utterance too long to train on, a transcript with more labels
than the model has output frames for it) is dropped before training by
:func:`select_utterances`; what is only found when the audio is read (an
unreadable or empty file) is dropped by :func:`collate_batch` and listed in
:attr:`Batch.skipped`. Both are counted in a :class:`SkipReport`, which the
trainer prints as one warning line.

Typical use::

    entries, report = select_utterances(entries, normalize=..., encode=..., output_frames=model.output_lengths,
                                        fits=model.objective.fits, sample_rate=16000, max_duration=20.0)
    loader = DataLoader(UtteranceDataset(entries, 16000), batch_sampler=DurationBatchSampler(...),
                        collate_fn=collate_batch, num_workers=2, pin_memory=True)
    for batch in loader:
        for path, reason in batch.skipped:
            report.add(reason, path)
        if len(batch) == 0:
            continue  # every utterance of the batch failed to load
        batch = batch.to(device, non_blocking=True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from asrkit.audio import NonFiniteAudioError
from asrkit.errors import AudioError
from asrkit.interfaces import Dataset, Utterance

__all__ = [
    "REASONS",
    "Batch",
    "LoadedItem",
    "SkipReport",
    "UtteranceDataset",
    "collate_batch",
    "select_utterances",
]

Entry = tuple[Dataset, Utterance]
"""An utterance and the dataset that can load its audio."""

UNREADABLE = "unreadable"
EMPTY_AUDIO = "empty audio"
EMPTY_TRANSCRIPT = "empty transcript"
TOO_FEW_FRAMES = "transcript too long for its frames"
TOO_LONG = "too long"
NON_FINITE_AUDIO = NonFiniteAudioError.skip_reason
DURATION_MISMATCH = "duration mismatch"
REASONS = (UNREADABLE, NON_FINITE_AUDIO, DURATION_MISMATCH, EMPTY_AUDIO, EMPTY_TRANSCRIPT, TOO_FEW_FRAMES, TOO_LONG)
"""Why an utterance is skipped, in the order reports list them."""


@dataclass
class Batch:
    """A padded batch of utterances, as the trainer consumes it.

    ``waveforms`` is ``(B, S)`` float32, zero past each row's ``lengths``
    (``(B,)`` int64 sample counts). ``B`` may be 0 when every utterance of the
    batch failed to load; ``skipped`` then says why.
    """

    waveforms: Tensor
    lengths: Tensor
    texts: list[str]
    ids: list[str]
    durations: list[float]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """The same batch with its tensors on ``device``."""
        return dataclasses.replace(
            self,
            waveforms=self.waveforms.to(device, non_blocking=non_blocking),
            lengths=self.lengths.to(device, non_blocking=non_blocking),
        )

    def pin_memory(self) -> Batch:
        """Page-locked copies of the tensors (called by ``DataLoader(pin_memory=True)``)."""
        return dataclasses.replace(self, waveforms=self.waveforms.pin_memory(), lengths=self.lengths.pin_memory())


@dataclass(frozen=True)
class LoadedItem:
    """What :class:`UtteranceDataset` returns: the waveform ``(S,)``, or ``None`` and why not."""

    utterance: Utterance
    waveform: Tensor | None
    reason: str | None = None


DURATION_TOLERANCE_SECONDS = 0.5
DURATION_TOLERANCE_FRACTION = 0.1
"""Loaded audio more than 0.5 s plus 10 % of the index's duration away from it is skipped.

Loose on purpose: manifests round durations, and the point is to catch a
file several times longer or shorter than stated, which misplans batches.
"""


class UtteranceDataset(torch.utils.data.Dataset):
    """Map-style dataset over ``(dataset, utterance)`` entries, loading audio at ``sample_rate``.

    Never raises for bad audio: an unreadable, non-finite or empty file, or
    one whose length is far from its stated duration (see
    :data:`DURATION_TOLERANCE_FRACTION`), gives a :class:`LoadedItem` without waveform, which
    :func:`collate_batch` drops.
    """

    def __init__(self, entries: Sequence[Entry], sample_rate: int) -> None:
        self.entries = list(entries)
        self.sample_rate = sample_rate

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def durations(self) -> list[float]:
        """Index durations in seconds, one per entry (for the batch sampler)."""
        return [utterance.duration for _, utterance in self.entries]

    def __getitem__(self, index: int) -> LoadedItem:
        dataset, utterance = self.entries[index]
        try:
            waveform = dataset.load_audio(utterance, self.sample_rate)
        except AudioError as exc:
            return LoadedItem(utterance, None, getattr(exc, "skip_reason", UNREADABLE))
        if waveform.numel() == 0:
            return LoadedItem(utterance, None, EMPTY_AUDIO)
        # Batches are planned from the index's durations: a file much longer than stated
        # would blow the batch budget, a much shorter one pads the batch with nothing.
        tolerance = DURATION_TOLERANCE_SECONDS + DURATION_TOLERANCE_FRACTION * utterance.duration
        if abs(waveform.numel() / self.sample_rate - utterance.duration) > tolerance:
            return LoadedItem(utterance, None, DURATION_MISMATCH)
        return LoadedItem(utterance, waveform)


def collate_batch(items: Sequence[LoadedItem]) -> Batch:
    """Pad the loaded items into a :class:`Batch`; failed ones go to ``skipped``."""
    loaded = [item for item in items if item.waveform is not None]
    skipped = [(item.utterance.audio_path, item.reason or UNREADABLE) for item in items if item.waveform is None]
    lengths = torch.tensor([item.waveform.shape[0] for item in loaded], dtype=torch.int64)
    waveforms = torch.zeros(len(loaded), int(lengths.max()) if loaded else 0, dtype=torch.float32)
    for row, item in enumerate(loaded):
        waveforms[row, : item.waveform.shape[0]] = item.waveform
    return Batch(
        waveforms=waveforms,
        lengths=lengths,
        texts=[item.utterance.text for item in loaded],
        ids=[item.utterance.id for item in loaded],
        durations=[item.utterance.duration for item in loaded],
        skipped=skipped,
    )


class SkipReport:
    """Counts of skipped utterances by reason, with the first few paths of each.

    A path is counted once per reason, so a file that fails to load in every
    epoch is one skipped utterance, not one per epoch. ``considered`` is how
    many utterances the report is about (the "of N" of :meth:`summary`).
    """

    def __init__(self, considered: int = 0, keep: int = 3) -> None:
        self.considered = considered
        self.keep = keep
        self._paths: dict[str, set[str]] = {}
        self._first: dict[str, list[str]] = {}

    def add(self, reason: str, path: str) -> None:
        paths = self._paths.setdefault(reason, set())
        if path in paths:
            return
        paths.add(path)
        first = self._first.setdefault(reason, [])
        if len(first) < self.keep:
            first.append(path)

    def merge(self, other: SkipReport) -> None:
        """Add ``other``'s skips (and its ``considered`` count) to this report."""
        self.considered += other.considered
        for reason, paths in other._paths.items():
            for path in other._first[reason] + sorted(paths.difference(other._first[reason])):
                self.add(reason, path)

    def count(self, reason: str) -> int:
        return len(self._paths.get(reason, ()))

    @property
    def counts(self) -> dict[str, int]:
        """Non-zero counts by reason, known reasons first."""
        order = [r for r in REASONS if r in self._paths] + [r for r in self._paths if r not in REASONS]
        return {reason: len(self._paths[reason]) for reason in order}

    @property
    def total(self) -> int:
        return sum(len(paths) for paths in self._paths.values())

    def paths(self, reason: str) -> list[str]:
        """Every path skipped for ``reason``, sorted."""
        return sorted(self._paths.get(reason, ()))

    def examples(self, reason: str) -> list[str]:
        """The first paths skipped for ``reason``, in the order they were added."""
        return list(self._first.get(reason, ()))

    def summary(self, per_reason: bool = False) -> str:
        """One line, e.g. ``skipped 3 of 1200 utterances: 2 unreadable, 1 empty transcript (first: a, b, c)``.

        ``per_reason``: the first path of each reason instead,
        ``... 2 unreadable (first: a), 1 empty transcript (first: c)``.
        """
        counts = self.counts
        of = f" of {self.considered}" if self.considered else ""
        if not counts:
            return f"skipped 0{of} utterances"
        if per_reason:
            parts = ", ".join(f"{n} {reason} (first: {self._first[reason][0]})" for reason, n in counts.items())
            return f"skipped {self.total}{of} utterances: {parts}"
        parts = ", ".join(f"{n} {reason}" for reason, n in counts.items())
        first = [path for reason in counts for path in self._first[reason]][: self.keep]
        return f"skipped {self.total}{of} utterances: {parts} (first: {', '.join(first)})"


def skip_summary(skipped: Sequence[tuple[str, str]]) -> str:
    """:meth:`SkipReport.summary` of ``(path, reason)`` pairs."""
    report = SkipReport()
    for path, reason in skipped:
        report.add(reason, path)
    return report.summary()


def select_utterances(
    entries: Sequence[Entry],
    *,
    normalize: Callable[[str], str],
    encode: Callable[[str], list[int]],
    output_frames: Callable[[Tensor], Tensor],
    fits: Callable[[Tensor, list[list[int]]], Tensor],
    sample_rate: int,
    max_duration: float | None,
) -> tuple[list[Entry], SkipReport]:
    """Drop what cannot be trained on, before training, from the index alone.

    Dropped: transcripts empty after ``normalize``/``encode``; audio of zero
    duration; utterances longer than ``max_duration`` seconds; and those whose
    labels the objective cannot learn from the ``T'`` output frames the model
    gives them (``fits``, the objective's check: for CTC, ``L`` labels with
    ``R`` adjacent repeats need ``T' ≥ L + R``). ``output_frames`` maps ``(B,)``
    int64 sample counts to ``(B,)`` output frame counts
    (``AcousticModel.output_lengths``); both are called once, on every
    candidate together.

    Returns the kept entries in their original order and the report.
    """
    report = SkipReport(considered=len(entries))
    candidates: list[Entry] = []
    targets: list[list[int]] = []
    for entry in entries:
        utterance = entry[1]
        ids = encode(normalize(utterance.text))
        if not ids:
            report.add(EMPTY_TRANSCRIPT, utterance.audio_path)
        elif utterance.duration <= 0:
            report.add(EMPTY_AUDIO, utterance.audio_path)
        elif max_duration is not None and utterance.duration > max_duration:
            report.add(TOO_LONG, utterance.audio_path)
        else:
            candidates.append(entry)
            targets.append(list(ids))
    if not candidates:
        return [], report
    samples = torch.tensor([round(u.duration * sample_rate) for _, u in candidates], dtype=torch.int64)
    with torch.no_grad():
        frames = output_frames(samples)
        feasible = fits(frames, targets).tolist()
    kept = []
    for entry, ok in zip(candidates, feasible, strict=True):
        if ok:
            kept.append(entry)
        else:
            report.add(TOO_FEW_FRAMES, entry[1].audio_path)
    return kept, report
