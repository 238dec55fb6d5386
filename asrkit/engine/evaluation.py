"""Scoring a model on a dataset: decode, count errors with jiwer, add the counts up over ranks.

WER and CER are corpus-level: the word (character) edit operations of every
utterance summed, divided by the summed reference length, exactly
``jiwer.wer(all_refs, all_hyps)`` over the whole set, never a mean of
per-utterance rates. Under DDP each rank scores its share and the raw counts
are summed across ranks before dividing. References are the tokenizer's
normalized transcripts: what the model is trained to output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jiwer
import torch
from torch.utils.data import DataLoader

from asrkit.data.batches import skip_summary
from asrkit.engine.distributed import all_gather_objects, all_reduce_sum
from asrkit.engine.precision import Precision
from asrkit.engine.progress import Progress
from asrkit.interfaces import Decoder, Tokenizer
from asrkit.model import AcousticModel


@dataclass
class Counts:
    """Edit operations and reference sizes, summed over utterances."""

    word_errors: int = 0
    words: int = 0
    char_errors: int = 0
    chars: int = 0
    utterances: int = 0
    audio_seconds: float = 0.0

    def add(self, references: list[str], hypotheses: list[str]) -> list[tuple[int, int]]:
        """Count a batch; returns each utterance's ``(word errors, reference words)``."""
        if not references:
            return []
        words = jiwer.process_words(references, hypotheses)
        chars = jiwer.process_characters(references, hypotheses)
        self.word_errors += words.substitutions + words.deletions + words.insertions
        self.words += words.hits + words.substitutions + words.deletions
        self.char_errors += chars.substitutions + chars.deletions + chars.insertions
        self.chars += chars.hits + chars.substitutions + chars.deletions
        self.utterances += len(references)
        return [
            _errors(alignment, len(ref.split())) for alignment, ref in zip(words.alignments, references, strict=True)
        ]

    @property
    def wer(self) -> float:
        """NaN when there is no reference word at all (nothing was scored)."""
        return self.word_errors / self.words if self.words else math.nan

    @property
    def cer(self) -> float:
        return self.char_errors / self.chars if self.chars else math.nan

    def summed_over_ranks(self) -> Counts:
        values = torch.tensor(
            [self.word_errors, self.words, self.char_errors, self.chars, self.utterances, self.audio_seconds],
            dtype=torch.float64,
        )
        total = all_reduce_sum(values).tolist()
        return Counts(*(int(v) for v in total[:5]), audio_seconds=total[5])


def _errors(alignment: list[Any], reference_words: int) -> tuple[int, int]:
    errors = 0
    for chunk in alignment:
        if chunk.type in ("substitute", "delete"):
            errors += chunk.ref_end_idx - chunk.ref_start_idx
        elif chunk.type == "insert":
            errors += chunk.hyp_end_idx - chunk.hyp_start_idx
    return errors, reference_words


@dataclass(frozen=True)
class SetResult:
    """The score of one decoder on one dataset."""

    set: str
    decoder: str
    wer: float
    cer: float
    utterances: int
    audio_seconds: float
    loss: float | None = None

    def as_json(self) -> dict[str, Any]:
        record = {
            "set": self.set,
            "decoder": self.decoder,
            "wer": _finite(self.wer),
            "cer": _finite(self.cer),
            "utterances": self.utterances,
            "audio_seconds": round(self.audio_seconds, 3),
        }
        if self.loss is not None:
            record["loss"] = _finite(self.loss)
        return record


def _finite(value: float | None) -> float | None:
    """``value``, or None (JSON null) when it is missing or not finite."""
    return value if value is not None and math.isfinite(value) else None


@dataclass
class Evaluation:
    """Results of one dataset by decoder label; per-utterance records and skips on the main process."""

    results: dict[str, SetResult]
    hypotheses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def evaluate(
    model: AcousticModel,
    loader: DataLoader,
    decoders: Mapping[str, Decoder],
    tokenizer: Tokenizer,
    *,
    label: str,
    device: torch.device,
    precision: Precision,
    progress: Progress,
    keep_hypotheses: bool = False,
) -> Evaluation:
    """Score ``model`` on the batches of ``loader`` with each decoder (called on every rank)."""
    model.eval()
    counts = {name: Counts() for name in decoders}
    records: dict[str, list[dict[str, Any]]] = {name: [] for name in decoders}
    skipped: list[tuple[str, str]] = []
    loss_sum = 0.0
    progress.start(f"eval {label}", total=len(loader))
    with torch.inference_mode():
        for batch in loader:
            skipped += batch.skipped
            if len(batch) == 0:
                progress.advance()
                continue
            batch = batch.to(device, non_blocking=True)
            targets = [tokenizer.encode(text) for text in batch.texts]
            with precision.autocast():
                encoded = model.encode(batch.waveforms, batch.lengths)
                loss = model.objective.loss(encoded, targets)
                log_probs = model.objective(encoded.hidden, encoded.lengths)
            loss_sum += float(loss.float().sum())
            log_probs = log_probs.float().cpu()
            frames = encoded.lengths.cpu()
            references = [tokenizer.normalize(text) for text in batch.texts]
            for name, decoder in decoders.items():
                texts = [hyp.text for hyp in decoder.decode(log_probs, frames)]
                errors = counts[name].add(references, texts)
                counts[name].audio_seconds += sum(batch.durations)
                if keep_hypotheses:
                    records[name] += [
                        {"id": i, "ref": ref, "hyp": hyp, "word_errors": e, "ref_words": n}
                        for i, ref, hyp, (e, n) in zip(batch.ids, references, texts, errors, strict=True)
                    ]
            progress.advance(sum(batch.durations))
    progress.finish()
    total_loss = all_reduce_sum(torch.tensor([loss_sum], dtype=torch.float64)).item()
    results = {}
    for name in decoders:
        summed = counts[name].summed_over_ranks()
        mean_loss = total_loss / summed.utterances if summed.utterances else None
        results[name] = SetResult(
            label, name, summed.wer, summed.cer, summed.utterances, summed.audio_seconds, mean_loss
        )
    gathered_skips = [item for part in all_gather_objects(skipped) for item in part]
    if gathered_skips:
        progress.warn(f"{label}: not scored, {skip_summary(gathered_skips)}")
    hypotheses = {}
    if keep_hypotheses:
        for name in decoders:
            merged = [record for part in all_gather_objects(records[name]) for record in part]
            hypotheses[name] = sorted(merged, key=lambda record: record["id"])
    return Evaluation(results, hypotheses, gathered_skips)
