"""Is a dataset's index in seconds? A look at a few audio headers before training, naming the dataset if not.

Batches are planned from the index's durations, so a dataset giving them in
milliseconds (Common Voice's unit) or in samples would otherwise have every
utterance skipped as a duration mismatch, one file at a time, with nothing
saying which dataset is wrong or why.
"""

from __future__ import annotations

from collections.abc import Sequence

from asrkit.audio import audio_duration
from asrkit.data.batches import DURATION_TOLERANCE_FRACTION, DURATION_TOLERANCE_SECONDS
from asrkit.errors import AudioError, DataError
from asrkit.interfaces import Utterance

SAMPLED = 3
"""Utterances whose header is read: the first, the middle and the last (whole files only)."""


def check_stated_durations(name: str, path: str, utterances: Sequence[Utterance]) -> None:
    """Raise :class:`DataError` naming dataset ``name`` (recipe key ``path``) when every sampled duration is off.

    One wrong entry is left to the per-utterance skip; all of them wrong is
    the index's unit. Unreadable files are left to the loader's skip count.
    """
    whole = [u for u in utterances if not u.offset]
    picked = {id(u): u for u in (whole[:1] + whole[len(whole) // 2 : len(whole) // 2 + 1] + whole[-1:])}
    measured = []
    for utterance in list(picked.values())[:SAMPLED]:
        try:
            measured.append((utterance, audio_duration(utterance.audio_path)))
        except AudioError:
            continue
    off = [
        (u, seconds)
        for u, seconds in measured
        if abs(u.duration - seconds) > DURATION_TOLERANCE_SECONDS + DURATION_TOLERANCE_FRACTION * seconds
    ]
    if not measured or len(off) < len(measured):
        return
    utterance, seconds = off[0]
    ratio = utterance.duration / seconds if seconds > 0 else float("inf")
    unit = " (milliseconds?)" if 500 <= ratio <= 2000 else " (samples?)" if 4000 <= ratio <= 100_000 else ""
    raise DataError(
        f"{path}: dataset '{name}' states durations far from its audio in every file checked: "
        f"'{utterance.id}' is {utterance.duration:g} s in its index{unit} but {seconds:.2f} s in "
        f"{utterance.audio_path}; Utterance.duration must be in seconds"
    )
