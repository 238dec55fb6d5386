"""The built-in decoders: greedy against a slow reference, beam search with LM, hotwords and a pool."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import torch

from asrkit.errors import PluginError, RecipeError
from asrkit.interfaces import Hypothesis, Tokenizer
from asrkit.testing import check_component
from asrkit_plugins.decoders.beam import BeamDecoder
from asrkit_plugins.decoders.greedy import GreedyDecoder
from asrkit_plugins.tokenizers.char_tokenizer import CharTokenizer
from asrkit_plugins.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

FRAME = 0.04

# A bigram LM, log10 probabilities and backoffs chosen by hand: after "i",
# "see" is likely (10^-0.1) and "sea" is not (10^-3); otherwise the two words
# are equally likely.
TINY_ARPA = """\
\\data\\
ngram 1=6
ngram 2=5

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.5
-1.0\t</s>\t0
-1.0\ti\t-0.5
-1.5\tsee\t-0.3
-1.5\tsea\t-0.3

\\2-grams:
-0.1\t<s> i
-0.1\ti see
-3.0\ti sea
-0.3\tsee </s>
-0.3\tsea </s>

\\end\\
"""

SENTENCES = [
    "she sells sea shells by the sea shore",
    "i see the sea from my window",
    "the cat sat on the mat",
    "every word here is spoken slowly",
]


@pytest.fixture(scope="module")
def sentencepiece(tmp_path_factory: pytest.TempPathFactory) -> SentencePieceTokenizer:
    tokenizer = SentencePieceTokenizer(SentencePieceTokenizer.Config(vocab_size=60))
    tokenizer.fit(SENTENCES * 5, tmp_path_factory.mktemp("sentencepiece"))
    return tokenizer


@pytest.fixture(params=["char", "sentencepiece"])
def tokenizer(request: pytest.FixtureRequest, sentencepiece: SentencePieceTokenizer) -> Tokenizer:
    return CharTokenizer(CharTokenizer.Config()) if request.param == "char" else sentencepiece


@pytest.fixture
def tiny_lm(tmp_path: Path) -> str:
    path = tmp_path / "tiny.arpa"
    path.write_text(TINY_ARPA)
    return str(path)


def frames_of(tokenizer: Tokenizer, text: str) -> list[int]:
    """A frame-level path for ``text``: every token for one frame, then a blank."""
    return [frame for token in tokenizer.encode(text) for frame in (token, tokenizer.blank_id)]


def mixture(tokenizer: Tokenizer, a: str, b: str, p_a: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(1, T', V)`` log-probabilities that say ``a`` with probability ``p_a`` and ``b`` otherwise, frame by frame."""
    path_a, path_b = frames_of(tokenizer, a), frames_of(tokenizer, b)
    n = max(len(path_a), len(path_b))
    path_a += [tokenizer.blank_id] * (n - len(path_a))
    path_b += [tokenizer.blank_id] * (n - len(path_b))
    probs = torch.full((n, tokenizer.num_classes), 1e-4)
    for t, (x, y) in enumerate(zip(path_a, path_b, strict=True)):
        probs[t, x] += p_a
        probs[t, y] += 1 - p_a
    return (probs / probs.sum(-1, keepdim=True)).log()[None], torch.tensor([n])


def peaked(tokenizer: Tokenizer, texts: list[str], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Confident ``(B, T', V)`` log-probabilities for ``texts``: random durations, noisy but clear winners."""
    generator = torch.Generator().manual_seed(seed)
    paths = []
    for text in texts:
        path = [tokenizer.blank_id] * int(torch.randint(0, 3, (1,), generator=generator))
        for frame in frames_of(tokenizer, text):
            path += [frame] * int(torch.randint(1, 4, (1,), generator=generator))
        paths.append(path)
    lengths = torch.tensor([len(p) for p in paths])
    logits = torch.randn(len(texts), int(lengths.max()) + 5, tokenizer.num_classes, generator=generator)
    for row, path in enumerate(paths):
        logits[row, torch.arange(len(path)), torch.tensor(path)] += 12.0
    return logits.log_softmax(-1), lengths


def beam(tokenizer: Tokenizer, **config: object) -> BeamDecoder:
    return BeamDecoder(BeamDecoder.Config(**config), tokenizer)


def texts(hypotheses: list[Hypothesis]) -> list[str]:
    return [h.text for h in hypotheses]


def test_greedy_passes_the_contract(tokenizer: Tokenizer) -> None:
    check_component("decoders", GreedyDecoder, tokenizer=tokenizer)


def test_beam_passes_the_contract() -> None:
    check_component("decoders", BeamDecoder)  # default config, char tokenizer


# The check feeds flat random scores, where every token of a frame survives
# pruning: a narrow beam keeps the runs below to about a second.
def test_beam_passes_the_contract_with_sentencepiece(sentencepiece: SentencePieceTokenizer) -> None:
    check_component("decoders", BeamDecoder, BeamDecoder.Config(beam_width=10), tokenizer=sentencepiece)


def test_beam_with_a_pool_and_an_lm_passes_the_contract(tiny_lm: str) -> None:
    check_component("decoders", BeamDecoder, BeamDecoder.Config(beam_width=10, lm_path=tiny_lm, num_processes=2))


# --- greedy ---------------------------------------------------------------


def reference_greedy(labels: list[str], blank: int, scores: torch.Tensor, n: int) -> tuple[str, list[tuple]]:
    """Best path one frame at a time: text, and words as (word, first frame, end frame)."""
    chars: list[tuple[str, int, int]] = []  # (label, first frame, end frame)
    previous = None
    for t, row in enumerate(scores[:n].tolist()):
        best = max(range(len(row)), key=row.__getitem__)
        if best != blank and best == previous:
            label, first, _ = chars[-1]
            chars[-1] = (label, first, t + 1)
        elif best != blank:
            chars.append((labels[best], t, t + 1))
        previous = best
    words: list[tuple] = []
    for label, first, end in chars:
        if label == " ":
            words.append(None)
        elif words and words[-1] is not None:
            word, start, _ = words[-1]
            words[-1] = (word + label, start, end)
        else:
            words.append((label, first, end))
    words = [w for w in words if w is not None]
    return " ".join(w for w, _, _ in words), words


@pytest.mark.parametrize("seed", range(25))
def test_greedy_matches_a_frame_by_frame_reference(seed: int) -> None:
    # A three-letter alphabet makes repeats, blanks between repeats and spaces common.
    tokenizer = CharTokenizer(CharTokenizer.Config(alphabet="ab ", blank="first" if seed % 2 else "last"))
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, 40, (5,), generator=generator)
    log_probs = torch.randn(5, int(lengths.max()) + 3, tokenizer.num_classes, generator=generator).log_softmax(-1)
    hypotheses = GreedyDecoder(GreedyDecoder.Config(), tokenizer).decode(log_probs, lengths, frame_seconds=FRAME)
    for row, hypothesis in enumerate(hypotheses):
        text, words = reference_greedy(tokenizer.labels, tokenizer.blank_id, log_probs[row], int(lengths[row]))
        assert hypothesis.text == text
        assert [(w.word, w.start, w.end) for w in hypothesis.words] == [(w, s * FRAME, e * FRAME) for w, s, e in words]
        best = log_probs[row, : lengths[row]].max(-1).values.sum()
        assert hypothesis.score == pytest.approx(float(best), abs=1e-4)


def test_greedy_ignores_padding(tokenizer: Tokenizer) -> None:
    log_probs, lengths = peaked(tokenizer, ["the cat sat", "i see"])
    noisy = log_probs.clone()
    for row, n in enumerate(lengths.tolist()):
        noisy[row, n:] = torch.randn(noisy.shape[1] - n, noisy.shape[2]).log_softmax(-1)
    decoder = GreedyDecoder(GreedyDecoder.Config(), tokenizer)
    assert decoder.decode(noisy, lengths, FRAME) == decoder.decode(log_probs, lengths, FRAME)
    assert texts(decoder.decode(log_probs, lengths)) == ["the cat sat", "i see"]


def test_greedy_words_are_timed_from_token_frames(tokenizer: Tokenizer) -> None:
    log_probs, lengths = peaked(tokenizer, ["she sells sea shells", "the mat"], seed=3)
    hypotheses = GreedyDecoder(GreedyDecoder.Config(), tokenizer).decode(log_probs, lengths, FRAME)
    for hypothesis, n in zip(hypotheses, lengths.tolist(), strict=True):
        assert " ".join(w.word for w in hypothesis.words) == hypothesis.text
        ends = [0.0] + [w.end for w in hypothesis.words]
        for word, previous_end in zip(hypothesis.words, ends[:-1], strict=True):
            assert previous_end <= word.start < word.end <= n * FRAME


def test_greedy_handles_empty_rows_and_half_precision() -> None:
    tokenizer = CharTokenizer(CharTokenizer.Config())
    log_probs, _ = peaked(tokenizer, ["hello", "a"])
    hypotheses = GreedyDecoder(GreedyDecoder.Config(), tokenizer).decode(log_probs.half(), torch.tensor([0, 2]), FRAME)
    assert hypotheses[0] == Hypothesis(text="", words=(), score=0.0)
    assert hypotheses[1].text in ("", "a")


# --- beam -----------------------------------------------------------------


def test_beam_without_lm_agrees_with_greedy_on_confident_input(tokenizer: Tokenizer) -> None:
    log_probs, lengths = peaked(tokenizer, ["she sells sea shells", "i see the sea", "the cat sat on the mat"])
    greedy = GreedyDecoder(GreedyDecoder.Config(), tokenizer).decode(log_probs, lengths, FRAME)
    decoder = beam(tokenizer, beam_width=16)
    try:
        beamed = decoder.decode(log_probs, lengths, FRAME)
    finally:
        decoder.close()
    assert texts(beamed) == texts(greedy) == ["she sells sea shells", "i see the sea", "the cat sat on the mat"]
    assert [h.words for h in beamed] == [h.words for h in greedy]


def test_the_lm_flips_an_unlikely_word_sequence_only_when_weighted(tokenizer: Tokenizer, tiny_lm: str) -> None:
    # The acoustics slightly prefer "i sea"; the LM finds "i see" 800 times likelier.
    log_probs, lengths = mixture(tokenizer, "i sea", "i see", p_a=0.6)
    for alpha, expected in [(0.0, "i sea"), (0.5, "i see")]:
        decoder = beam(tokenizer, lm_path=tiny_lm, alpha=alpha, beta=0.0)
        try:
            assert texts(decoder.decode(log_probs, lengths)) == [expected], f"alpha={alpha}"
        finally:
            decoder.close()
    assert texts(beam(tokenizer).decode(log_probs, lengths)) == ["i sea"]


def test_hotwords_flip_a_close_decision(tokenizer: Tokenizer) -> None:
    log_probs, lengths = mixture(tokenizer, "i sea", "i see", p_a=0.6)
    assert texts(beam(tokenizer).decode(log_probs, lengths)) == ["i sea"]
    assert texts(beam(tokenizer, hotwords=("SEE!",)).decode(log_probs, lengths)) == ["i see"]
    assert texts(beam(tokenizer, hotwords=("see",), hotword_weight=0.0).decode(log_probs, lengths)) == ["i sea"]


def test_beam_timestamps_are_monotonic_and_inside_the_audio(tokenizer: Tokenizer, tiny_lm: str) -> None:
    generator = torch.Generator().manual_seed(1)
    log_probs = (3 * torch.randn(3, 60, tokenizer.num_classes, generator=generator)).log_softmax(-1)
    lengths = torch.tensor([60, 41, 7])
    decoder = beam(tokenizer, lm_path=tiny_lm, beam_width=8)
    try:
        hypotheses = decoder.decode(log_probs, lengths, FRAME)
    finally:
        decoder.close()
    assert sum(len(h.words) for h in hypotheses) > 3
    for hypothesis, n in zip(hypotheses, lengths.tolist(), strict=True):
        assert [w.word for w in hypothesis.words] == hypothesis.text.split()
        ends = [0.0] + [w.end for w in hypothesis.words]
        for word, previous_end in zip(hypothesis.words, ends[:-1], strict=True):
            assert previous_end <= word.start < word.end <= n * FRAME


def test_the_pool_is_started_once_and_reused(tiny_lm: str) -> None:
    tokenizer = CharTokenizer(CharTokenizer.Config())
    log_probs, lengths = peaked(tokenizer, ["i see", "the sea", "i see the sea", "sea"])
    serial = beam(tokenizer, lm_path=tiny_lm).decode(log_probs, lengths, FRAME)
    decoder = beam(tokenizer, lm_path=tiny_lm, num_processes=2)
    try:
        assert decoder.decode(log_probs[:1], lengths[:1]) and decoder._pool is None  # one row: no pool needed
        first = decoder.decode(log_probs, lengths, FRAME)
        pool = decoder._pool
        workers = sorted(p.pid for p in pool._pool)
        second = decoder.decode(log_probs, lengths, FRAME)
        assert decoder._pool is pool and sorted(p.pid for p in pool._pool) == workers
        assert first == second == serial
    finally:
        decoder.close()
    assert decoder._pool is None and all(not p.is_alive() for p in pool._pool)


def test_spawned_workers_do_not_rerun_the_main_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A script main (the asrkit CLI, a user's script) imports torch; workers must not pay for that again.
    marker = tmp_path / "main-was-run"
    script = tmp_path / "fake_main.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    tokenizer = CharTokenizer(CharTokenizer.Config())
    log_probs, lengths = peaked(tokenizer, ["i see", "the sea"])
    decoder = beam(tokenizer, num_processes=2, beam_width=4)
    try:
        assert texts(decoder.decode(log_probs, lengths)) == ["i see", "the sea"]
        assert decoder._pool.apply(eval, ("'torch' in __import__('sys').modules",)) is False
    finally:
        decoder.close()
    assert not marker.exists()
    assert fake_main.__file__ == str(script)


def test_lm_without_kenlm_says_what_to_install(tiny_lm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kenlm", None)  # makes `import kenlm` fail
    with pytest.raises(PluginError, match=r"install asrkit\[lm\]"):
        beam(CharTokenizer(CharTokenizer.Config()), lm_path=tiny_lm)
    beam(CharTokenizer(CharTokenizer.Config())).close()  # no LM: kenlm is not needed


def test_bad_lm_files_are_reported(tmp_path: Path) -> None:
    tokenizer = CharTokenizer(CharTokenizer.Config())
    with pytest.raises(RecipeError, match="lm_path: file not found"):
        beam(tokenizer, lm_path=str(tmp_path / "missing.arpa"))
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"not a language model\n" * 10)
    with pytest.raises(RecipeError, match="lm_path: cannot load"):
        beam(tokenizer, lm_path=str(garbage))


def test_unigrams_file_limits_the_known_words(tiny_lm: str, tmp_path: Path) -> None:
    # The LM prefers "i see", but "see" is not a known word here, so it pays the unknown-word penalty.
    unigrams = tmp_path / "words.txt"
    unigrams.write_text("i\nsea\n")
    tokenizer = CharTokenizer(CharTokenizer.Config())
    log_probs, lengths = mixture(tokenizer, "i sea", "i see", p_a=0.4)
    assert texts(beam(tokenizer, lm_path=tiny_lm, beta=0.0).decode(log_probs, lengths)) == ["i see"]
    decoder = beam(tokenizer, lm_path=tiny_lm, unigrams_path=str(unigrams), beta=0.0)
    assert texts(decoder.decode(log_probs, lengths)) == ["i sea"]
    decoder.close()
