"""The built-in tokenizers: normalization rules, ids and labels, SentencePiece fitting and its cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from asrkit.errors import AsrkitError, CheckpointError, RecipeError
from asrkit.testing import check_component
from asrkit_plugins.tokenizers.char_tokenizer import CharTokenizer
from asrkit_plugins.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

SENTENCES = [
    "the cat sat on the mat",
    "a dog's day out in the park",
    "speech recognition is fun to build",
    "she sells sea shells by the sea shore",
    "i see the sea from my window",
    "every word here is spoken slowly",
]


def char(**config: object) -> CharTokenizer:
    return CharTokenizer(CharTokenizer.Config(**config))


def fitted_sentencepiece(tmp_path: Path, **config: object) -> SentencePieceTokenizer:
    tokenizer = SentencePieceTokenizer(SentencePieceTokenizer.Config(**{"vocab_size": 60, **config}))
    tokenizer.fit(SENTENCES * 5, tmp_path)
    return tokenizer


@pytest.mark.parametrize(
    "config",
    [
        CharTokenizer.Config(),
        CharTokenizer.Config(blank="first"),
        CharTokenizer.Config(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 "),
    ],
)
def test_char_passes_the_contract(config: CharTokenizer.Config) -> None:
    check_component("tokenizers", CharTokenizer, config)


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_passes_the_contract(model_type: str) -> None:
    check_component("tokenizers", SentencePieceTokenizer, SentencePieceTokenizer.Config(model_type=model_type))


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("Hello, World!", "hello world"),
        ("Héllo Wörld, ça va?", "hello world ca va"),
        ("well-known co–operation — yes", "well known co operation yes"),
        ("don’t ‘quote’ me", "don't 'quote' me"),
        ("Straße ÆSOP Łódź", "strasse aesop lodz"),
        ("room 101, 3.5 kg", "room kg"),
        ("  spaced\tout\n\u00a0text  ", "spaced out text"),
        ("' the students' ' 'tis '", "the students' 'tis"),
        ("ﬁne ＦＵＬＬＷＩＤＴＨ", "fine fullwidth"),
        ("and/or snake_case", "and or snake case"),
        ("!?.,;:", ""),
    ],
)
def test_normalization_rules(text: str, normal: str) -> None:
    assert char().normalize(text) == normal


def test_digits_are_kept_when_the_alphabet_has_them() -> None:
    assert char(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 ").normalize("Room 101!") == "room 101"


def test_accented_letters_of_the_alphabet_are_kept() -> None:
    tokenizer = char(alphabet="abcdefghijklmnopqrstuvwxyzé ")
    assert tokenizer.normalize("Été à Noël") == "été a noel"


@given(st.text(max_size=60))
def test_normalized_text_is_in_the_alphabet_and_stable(text: str) -> None:
    tokenizer = char()
    normal = tokenizer.normalize(text)
    assert set(normal) <= set(tokenizer.config.alphabet)
    assert normal == " ".join(normal.split())
    assert tokenizer.normalize(normal) == normal
    assert tokenizer.decode(tokenizer.encode(text)) == normal


def test_char_ids_and_labels_with_blank_last() -> None:
    tokenizer = char()
    assert (tokenizer.num_classes, tokenizer.blank_id) == (29, 28)
    assert tokenizer.labels[28] == "" and tokenizer.labels[26:28] == ["'", " "]
    assert tokenizer.encode("Ab c") == [0, 1, 27, 2]


def test_char_ids_and_labels_with_blank_first() -> None:
    tokenizer = char(blank="first")
    assert (tokenizer.num_classes, tokenizer.blank_id) == (29, 0)
    assert tokenizer.labels[0] == "" and tokenizer.labels[1] == "a"
    assert tokenizer.encode("Ab c") == [1, 2, 28, 3]
    assert tokenizer.decode([1, 2, 28, 3]) == "ab c"


@pytest.mark.parametrize("alphabet", ["abc", "abca ", "Abc ", "ﬁ "])
def test_bad_alphabets_are_refused(alphabet: str) -> None:
    with pytest.raises(RecipeError, match="alphabet"):
        char(alphabet=alphabet)


def test_sentencepiece_normalizes_like_char(tmp_path: Path) -> None:
    tokenizer = fitted_sentencepiece(tmp_path)
    for text in ["Héllo, well-known Straße!", "don’t 101"]:
        assert tokenizer.normalize(text) == char().normalize(text)
        assert tokenizer.decode(tokenizer.encode(text)) == char().normalize(text)


def test_sentencepiece_labels_are_bpe_style_with_blank_last(tmp_path: Path) -> None:
    from pyctcdecode.alphabet import Alphabet

    tokenizer = fitted_sentencepiece(tmp_path)
    labels = tokenizer.labels
    assert len(labels) == tokenizer.num_classes and tokenizer.blank_id == tokenizer.num_classes - 1
    assert labels[-1] == "" and labels[0] == "▁⁇▁" and labels.count("") == 1
    assert any(label.startswith("▁") and len(label) > 1 for label in labels)
    assert not any(" " in label for label in labels)
    assert Alphabet.build_alphabet(labels).is_bpe


def test_sentencepiece_knows_every_alphabet_character_even_unseen_ones(tmp_path: Path) -> None:
    tokenizer = fitted_sentencepiece(tmp_path)
    ids = tokenizer.encode("quiz jazz vex")  # q, z, j, x, v never occur in SENTENCES
    assert 0 not in ids  # <unk>
    assert tokenizer.decode(ids) == "quiz jazz vex"


def test_sentencepiece_vocab_size_is_an_upper_bound(tmp_path: Path) -> None:
    big = fitted_sentencepiece(tmp_path, vocab_size=5000)
    small = fitted_sentencepiece(tmp_path, vocab_size=40)
    assert small.num_classes == 41
    assert 41 < big.num_classes < 5000


def test_sentencepiece_fit_is_cached_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = fitted_sentencepiece(tmp_path)
    [cached] = tmp_path.glob("sentencepiece-*.model")
    stamp = cached.stat().st_mtime_ns

    def no_training(self: SentencePieceTokenizer, texts: list[str]) -> bytes:
        raise AssertionError("trained again although the cache holds this model")

    with monkeypatch.context() as patch:
        patch.setattr(SentencePieceTokenizer, "_train", no_training)
        # Same normalized transcripts, written differently: still a cache hit.
        second = SentencePieceTokenizer(SentencePieceTokenizer.Config(vocab_size=60))
        second.fit([s.upper() + "!" for s in SENTENCES * 5], tmp_path)
    assert cached.stat().st_mtime_ns == stamp
    assert second.labels == first.labels
    fitted_sentencepiece(tmp_path, model_type="bpe")  # another config
    third = SentencePieceTokenizer(SentencePieceTokenizer.Config(vocab_size=60))
    third.fit(SENTENCES * 4, tmp_path)  # other transcripts
    assert len(list(tmp_path.glob("sentencepiece-*.model"))) == 3
    assert not list(tmp_path.glob("*.tmp"))


def test_sentencepiece_state_survives_a_weights_only_checkpoint(tmp_path: Path) -> None:
    tokenizer = fitted_sentencepiece(tmp_path / "cache")
    torch.save({"tokenizer": tokenizer.state_dict()}, tmp_path / "ckpt.pt")
    for model in (tmp_path / "cache").iterdir():
        model.unlink()  # inference must not need the cache
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)["tokenizer"]
    restored = SentencePieceTokenizer(SentencePieceTokenizer.Config(vocab_size=60))
    restored.load_state_dict(state)
    assert restored.labels == tokenizer.labels
    assert restored.encode(SENTENCES[0]) == tokenizer.encode(SENTENCES[0])


def test_unfitted_sentencepiece_says_so(tmp_path: Path) -> None:
    tokenizer = SentencePieceTokenizer(SentencePieceTokenizer.Config())
    with pytest.raises(AsrkitError, match="not fitted"):
        tokenizer.encode("hello")
    with pytest.raises(CheckpointError, match="no model"):
        tokenizer.load_state_dict({})
    with pytest.raises(CheckpointError, match="corrupt"):
        tokenizer.load_state_dict({"model": torch.tensor([1, 2, 3], dtype=torch.uint8)})
    with pytest.raises(AsrkitError, match="no non-empty"):
        tokenizer.fit(["!!!", ""], tmp_path)
