"""Read audio files into mono float tensors at the model's sample rate.

This is the only place asrkit decodes audio. Datasets call :func:`load_audio`
for each utterance and :func:`audio_duration` when indexing a corpus (the
header is enough, no decoding). Decoding is done by ``soundfile``
(libsndfile), which reads WAV, FLAC, OGG/Vorbis and, with libsndfile >= 1.1,
MP3; resampling by torchaudio. Every failure becomes an
:class:`~asrkit.errors.AudioError` naming the file, so a bad utterance is
reported in one line instead of a traceback from deep inside a DataLoader
worker.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import soundfile
import torch
import torchaudio

from asrkit.errors import AudioError

__all__ = ["NonFiniteAudioError", "audio_duration", "load_audio"]


class NonFiniteAudioError(AudioError):
    """The file decodes, but holds NaN or infinite samples (possible in float WAV/FLAC files).

    Such samples turn every feature frame they touch into NaN, and so the
    whole utterance's output: a model transcribes them as garbage and training
    drops the batch. They are refused at load, as a counted skip in training.
    """

    skip_reason = "non-finite audio"


# What soundfile raises for unreadable files: LibsndfileError is a
# RuntimeError, the OS ones (permission, directory) are OSError, and bad
# arguments such as a negative frame count are ValueError.
_READ_ERRORS = (RuntimeError, OSError, ValueError)


def load_audio(
    path: str | os.PathLike[str],
    sample_rate: int,
    offset: float = 0.0,
    duration: float | None = None,
) -> torch.Tensor:
    """Read a segment of an audio file as a mono waveform.

    Args:
        path: a WAV, FLAC, OGG/Vorbis or MP3 file.
        sample_rate: rate of the returned waveform, in Hz; the file is
            resampled when its own rate differs.
        offset: start of the segment, in seconds from the start of the file.
        duration: length of the segment in seconds; ``None`` reads to the end.
            A segment running past the end of the file is cut at the end.
            Only the segment is decoded, except in MP3 files, which are
            decoded from their start (libsndfile cannot seek in MP3).

    Returns:
        float32 tensor of shape ``(S,)`` with ``S`` samples at
        ``sample_rate``; channels are averaged. An empty file gives ``S == 0``.

    Raises:
        AudioError: the file is missing, not audio, corrupt, or the offset
            lies past its end; :class:`NonFiniteAudioError` when it holds
            NaN or infinite samples.
    """
    if offset < 0 or (duration is not None and duration < 0):
        raise ValueError(f"offset and duration must be >= 0, got {offset}, {duration}")
    frames, file_rate = _read_frames(path, offset, duration)
    bad = frames.size - int(np.isfinite(frames).sum())
    if bad:
        raise NonFiniteAudioError(path, f"{bad} of {frames.size} samples are NaN or infinite")
    waveform = torch.from_numpy(frames.mean(axis=1))
    return _resample(waveform, file_rate, sample_rate)


def audio_duration(path: str | os.PathLike[str]) -> float:
    """Duration of an audio file in seconds, from its header (nothing is decoded).

    Raises:
        AudioError: the file is missing or its header cannot be read.
    """
    _check_exists(path)
    try:
        info = soundfile.info(os.fspath(path))
    except _READ_ERRORS as error:
        raise AudioError(path, _reason(error)) from error
    return info.frames / info.samplerate


def _read_frames(path: str | os.PathLike[str], offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    """Decode the requested frames as a float32 array of shape ``(frames, channels)``.

    Seeking first means a 2 s segment from the end of an hour-long recording
    costs 2 s of decoding, not an hour (MP3 excepted, see :func:`_read_segment`).
    """
    _check_exists(path)
    try:
        with soundfile.SoundFile(os.fspath(path)) as audio:
            start = round(offset * audio.samplerate)
            if start > audio.frames:
                length = audio.frames / audio.samplerate
                raise AudioError(path, f"offset {offset:g}s is past the end ({length:g}s)")
            count = -1 if duration is None else round(duration * audio.samplerate)
            return _read_segment(audio, start, count), audio.samplerate
    except _READ_ERRORS as error:
        raise AudioError(path, _reason(error)) from error


def _read_segment(audio: soundfile.SoundFile, start: int, count: int) -> np.ndarray:
    """Frames ``[start, start + count)`` (to the end when ``count < 0``), shape ``(frames, channels)``."""
    if audio.format != "MP3":
        audio.seek(start)
        return audio.read(frames=count, dtype="float32", always_2d=True)
    # MP3 is read in a single call from frame 0, then sliced. libsndfile's MP3
    # seek (1.2.2) restarts the decoder without its bit reservoir and returns
    # wrong samples, and soundfile seeks after *every* read to resync its
    # position, so any seek or second read of an MP3 handle is corrupt. The
    # cost is decoding (and holding) the audio before the segment.
    stop = -1 if count < 0 else start + count
    return audio.read(frames=stop, dtype="float32", always_2d=True)[start:]


def _check_exists(path: str | os.PathLike[str]) -> None:
    # libsndfile reports a missing file as "System error" and a folder as
    # "Format not recognised", which hide the cause.
    if not os.path.exists(path):
        raise AudioError(path, "file not found")
    if os.path.isdir(path):
        raise AudioError(path, "it is a folder, not an audio file; give the audio files in it (e.g. folder/*.flac)")


def _reason(error: BaseException) -> str:
    """libsndfile's own message, on one line, without soundfile's path prefix."""
    message = getattr(error, "error_string", None) or str(error) or type(error).__name__
    return message.strip().splitlines()[0]


def _resample(waveform: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Resample a ``(S,)`` waveform; returns ``(S * new_rate / orig_rate,)`` rounded up."""
    if orig_rate == new_rate or waveform.numel() == 0:
        return waveform
    return _resampler(orig_rate, new_rate)(waveform)


@functools.lru_cache(maxsize=16)
def _resampler(orig_rate: int, new_rate: int) -> torchaudio.transforms.Resample:
    # The transform precomputes its sinc kernel; a corpus has one or two
    # source rates, so caching per rate pair saves rebuilding it per utterance.
    return torchaudio.transforms.Resample(orig_rate, new_rate)
