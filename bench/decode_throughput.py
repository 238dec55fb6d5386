"""Decoding throughput of the built-in decoders on synthetic CTC output; prints JSON.

The input imitates a character CTC model (29 classes: a-z, apostrophe, space,
blank) on utterances of ``--seconds`` seconds, with 20 ms output frames (10 ms
feature hop × 2 subsampling): every frame has a clear winner (the path of a
random sentence), with 10% of the frames less sure. The sentences come from
a random bigram "language" of pronounceable made-up words; the LM for
``beam+lm`` is a bigram ARPA model estimated on other sentences of the same
language (absolute discounting with backoff), loaded by KenLM.

Measured per decoder and setting: frames per second, the real-time factor
(decoding time / audio time; below 1 is faster than real time), the word
error rate against the sentences, the construction time (``build_s``: the
LM load) and the warm-up on a 5-frame batch (``warmup_s``: for pools, the
one-off worker start-up). Neither counts in the throughput: decoders and
their pools live for a whole run. Each setting's throughput is the fastest of
``--repeats`` runs, since other work on the machine only slows runs down.
``machine.two_process_speedup_of_pure_python`` says how much a second process
could help at all while the benchmark ran (about 1 on a saturated machine).

    .venv/bin/python bench/decode_throughput.py            # 32 × 10 s, beams 10/50/100, 1 and 2 processes
    .venv/bin/python bench/decode_throughput.py --quick    # CI-sized
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import multiprocessing
import os
import platform
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import jiwer
import torch

from asrkit.interfaces import Decoder
from asrkit_plugins.decoders.beam import BeamDecoder
from asrkit_plugins.decoders.greedy import GreedyDecoder
from asrkit_plugins.tokenizers.char_tokenizer import CharTokenizer

FRAME_SECONDS = 0.02
DISCOUNT = 0.5


class BigramLanguage:
    """A random language: made-up words, each followed by a few favourite successors."""

    def __init__(self, vocabulary: int, rng: random.Random) -> None:
        consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
        words: set[str] = set()
        while len(words) < vocabulary:
            syllables = rng.choice((1, 1, 2, 2, 2, 3, 3, 4))
            words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables)))
        self.words = sorted(words)
        self.successors = {w: rng.sample(self.words, 8) for w in ["<s>", *self.words]}
        self.rng = rng

    def sentence(self, max_chars: int) -> str:
        words, previous = [], "<s>"
        while True:
            pool = self.successors[previous] if self.rng.random() < 0.8 else self.words
            word = self.rng.choice(pool)
            if len(" ".join([*words, word])) > max_chars:
                return " ".join(words)
            words.append(word)
            previous = word


def write_arpa(sentences: list[str], path: Path) -> dict[str, object]:
    """Estimate a bigram backoff model (absolute discounting) and write it as ARPA."""
    unigrams: Counter[str] = Counter()
    bigrams: Counter[tuple[str, str]] = Counter()
    for sentence in sentences:
        tokens = ["<s>", *sentence.split(), "</s>"]
        unigrams.update(tokens[1:])
        bigrams.update(itertools.pairwise(tokens))
    total = sum(unigrams.values()) + 1  # one count's worth of mass for <unk>
    p1 = {w: c / total for w, c in unigrams.items()} | {"<unk>": 1 / total}
    context_counts: Counter[str] = Counter()
    seen: dict[str, list[str]] = {}
    for (h, w), c in bigrams.items():
        context_counts[h] += c
        seen.setdefault(h, []).append(w)
    p2 = {(h, w): (c - DISCOUNT) / context_counts[h] for (h, w), c in bigrams.items()}
    backoff = {}
    for h, followers in seen.items():
        left = 1 - sum(p2[h, w] for w in followers)
        backoff[h] = left / (1 - sum(p1[w] for w in followers))
    lines = [
        "\\data\\",
        f"ngram 1={len(p1) + 1}",
        f"ngram 2={len(p2)}",
        "",
        "\\1-grams:",
        f"-99\t<s>\t{math.log10(backoff['<s>']):.5f}",
    ]
    for w, p in sorted(p1.items()):
        weight = f"\t{math.log10(backoff[w]):.5f}" if w in backoff else ""
        lines.append(f"{math.log10(p):.5f}\t{w}{weight}")
    lines += ["", "\\2-grams:"]
    lines += [f"{math.log10(p):.5f}\t{h} {w}" for (h, w), p in sorted(p2.items())]
    lines += ["", "\\end\\", ""]
    path.write_text("\n".join(lines))
    return {"order": 2, "words": len(unigrams) - 1, "bigrams": len(p2), "training_sentences": len(sentences)}


def synthetic_log_probs(
    tokenizer: CharTokenizer, sentences: list[str], frames: int, rng: random.Random
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, frames, V)`` peaked log-probabilities whose best paths spell ``sentences``."""
    generator = torch.Generator().manual_seed(rng.randrange(2**31))
    logits = torch.randn(len(sentences), frames, tokenizer.num_classes, generator=generator)
    for row, sentence in enumerate(sentences):
        tokens = tokenizer.encode(sentence)
        # One frame per token, a blank between repeats, the remaining blanks scattered.
        gaps = [1 if a == b else 0 for a, b in itertools.pairwise(tokens)] + [0]
        spare = frames - len(tokens) - sum(gaps)
        for _ in range(spare):
            gaps[rng.randrange(len(gaps))] += 1
        path = []
        for token, gap in zip(tokens, gaps, strict=True):
            path += [token] + [tokenizer.blank_id] * gap
        sure = torch.where(torch.rand(frames, generator=generator) < 0.1, 4.0, 8.0)
        logits[row, torch.arange(frames), torch.tensor(path)] += sure
    return logits.log_softmax(-1), torch.full((len(sentences),), frames)


def measure(
    build: Callable[[], Decoder], log_probs: torch.Tensor, lengths: torch.Tensor, references: list[str], repeats: int
) -> dict:
    """Build the decoder, warm it up on two 5-frame rows (which starts a pool), then time the best of ``repeats``."""
    start = time.perf_counter()
    decoder = build()
    built = time.perf_counter()
    try:
        decoder.decode(log_probs[:2, :5], torch.tensor([5, 5]), FRAME_SECONDS)
        warm = time.perf_counter()
        timings = []
        for _ in range(repeats):
            start_run = time.perf_counter()
            hypotheses = decoder.decode(log_probs, lengths, FRAME_SECONDS)
            timings.append(time.perf_counter() - start_run)
    finally:
        decoder.close()
    elapsed = min(timings)
    frames = int(lengths.sum())
    return {
        "frames_per_s": round(frames / elapsed, 1),
        "rtf": round(elapsed / (frames * FRAME_SECONDS), 5),
        "seconds": round(elapsed, 3),
        "wer": round(jiwer.wer(references, [h.text for h in hypotheses]), 4),
        "build_s": round(built - start, 3),
        "warmup_s": round(warm - built, 3),
    }


def _spin(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i
    return total


def parallel_headroom(iterations: int = 5_000_000) -> float:
    """Speed-up of two processes over one on the same pure-Python work: about 2 on an idle
    2-core machine, about 1 when other jobs keep the cores busy (then no pool can help)."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_spin, [1, 1])
        start = time.perf_counter()
        _spin(iterations)
        _spin(iterations)
        serial = time.perf_counter() - start
        start = time.perf_counter()
        pool.map(_spin, [iterations, iterations], chunksize=1)
        parallel = time.perf_counter() - start
    return round(serial / parallel, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 utterances of 3 s, beams 10 and 50")
    parser.add_argument("--utterances", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per setting; the fastest counts")
    args = parser.parse_args()
    utterances, seconds, beams = (4, 3.0, (10, 50)) if args.quick else (args.utterances, args.seconds, (10, 50, 100))
    repeats = 1 if args.quick else args.repeats
    rng = random.Random(args.seed)
    tokenizer = CharTokenizer(CharTokenizer.Config())
    language = BigramLanguage(vocabulary=1000, rng=rng)
    frames = round(seconds / FRAME_SECONDS)
    # About 12 characters per second of speech, as in read English.
    references = [language.sentence(max_chars=int(12 * seconds)) for _ in range(utterances)]
    log_probs, lengths = synthetic_log_probs(tokenizer, references, frames, rng)
    results: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "two_process_speedup_of_pure_python": parallel_headroom(),
            "platform": platform.platform(),
        },
        "input": {"utterances": utterances, "seconds_each": seconds, "frames_each": frames, "classes": 29},
        "frame_seconds": FRAME_SECONDS,
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        arpa = Path(tmp) / "bigram.arpa"
        results["lm"] = write_arpa([language.sentence(max_chars=120) for _ in range(20000)], arpa)
        runs: list[dict] = []
        greedy = functools.partial(GreedyDecoder, GreedyDecoder.Config(), tokenizer)
        runs.append({"decoder": "greedy", **measure(greedy, log_probs, lengths, references, repeats)})
        for lm in (None, str(arpa)):
            for width in beams:
                for processes in (1, 2):
                    config = BeamDecoder.Config(beam_width=width, lm_path=lm, num_processes=processes)
                    timing = measure(
                        functools.partial(BeamDecoder, config, tokenizer), log_probs, lengths, references, repeats
                    )
                    name = "beam+lm" if lm else "beam"
                    runs.append({"decoder": name, "beam_width": width, "processes": processes, **timing})
        results["runs"] = runs
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
