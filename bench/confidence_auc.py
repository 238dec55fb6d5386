"""Is word confidence informative? AUC of telling right words from wrong ones; prints one JSON object.

Transcribes a LibriSpeech-layout test set with a checkpoint (as ``asrkit
transcribe --json`` does), aligns each hypothesis to its reference with jiwer,
and labels every hypothesis word right (aligned to an equal reference word)
or wrong (substituted or inserted). The AUC is the probability that a random
right word has a higher confidence than a random wrong one (ties count half):
0.5 is an uninformative confidence, 1.0 a perfect one. It also reports the
mean confidence of each group.

    .venv/bin/python bench/confidence_auc.py --checkpoint runs/mini-*/checkpoints/best.pt
    .venv/bin/python bench/confidence_auc.py --checkpoint best.pt --data data/demo:test --decoders greedy beam
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jiwer
import torch

from asrkit.build import build
from asrkit.engine.checkpoint import load_model
from asrkit.engine.inference import decoder_spec
from asrkit.engine.transcribe import transcribe
from asrkit.registry import load_registry


def references(root: Path, subset: str) -> dict[str, str]:
    """Audio path → transcript, from LibriSpeech's ``*.trans.txt`` files."""
    found = {}
    for listing in sorted((root / "LibriSpeech" / subset).rglob("*.trans.txt")):
        for line in listing.read_text().splitlines():
            utterance, _, text = line.partition(" ")
            audio = next(listing.parent.glob(f"{utterance}.*a*"), None)  # .flac or .wav
            if audio is not None and text:
                found[str(audio)] = text
    return found


def labelled_confidences(reference: str, words: list[dict]) -> list[tuple[float, bool]]:
    """Each hypothesis word's confidence and whether the alignment found it right."""
    hypothesis = " ".join(w["word"] for w in words)
    if not hypothesis:
        return []
    alignment = jiwer.process_words(reference, hypothesis).alignments[0]
    right = [False] * len(words)
    for chunk in alignment:
        if chunk.type == "equal":
            for index in range(chunk.hyp_start_idx, chunk.hyp_end_idx):
                right[index] = True
    return [(w["confidence"], ok) for w, ok in zip(words, right, strict=True)]


def auc(labelled: list[tuple[float, bool]]) -> float | None:
    """Mann-Whitney AUC of right over wrong words (``None`` without both kinds)."""
    right = [c for c, ok in labelled if ok]
    wrong = [c for c, ok in labelled if not ok]
    if not right or not wrong:
        return None
    wins = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
    return wins / (len(right) * len(wrong))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", default="data/demo:test", help="ROOT:SUBSET of a LibriSpeech-layout corpus")
    parser.add_argument("--decoders", nargs="+", default=["greedy", "beam"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    root, _, subset = args.data.rpartition(":")
    truth = references(Path(root), subset)
    registry = load_registry()
    loaded = load_model(args.checkpoint, registry, "cpu")
    normalize = loaded.tokenizer.normalize
    report: dict[str, object] = {"checkpoint": args.checkpoint, "data": args.data, "utterances": len(truth)}
    for name in args.decoders:
        decoder = build(registry, decoder_spec(registry, loaded.recipe.decoder, name, []), tokenizer=loaded.tokenizer)
        try:
            transcripts = transcribe(
                loaded.model,
                decoder,
                list(truth),
                sample_rate=loaded.recipe.data.sample_rate,
                device=torch.device("cpu"),
                timestamps=True,
            )
        finally:
            decoder.close()
        labelled = []
        for t in transcripts:
            labelled += labelled_confidences(normalize(truth[t.path]), t.as_json(timestamps=True)["words"])
        right = [c for c, ok in labelled if ok]
        wrong = [c for c, ok in labelled if not ok]
        report[name] = {
            "auc": None if auc(labelled) is None else round(auc(labelled), 4),
            "right_words": len(right),
            "wrong_words": len(wrong),
            "mean_confidence_right": round(sum(right) / max(1, len(right)), 4),
            "mean_confidence_wrong": round(sum(wrong) / max(1, len(wrong)), 4),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
