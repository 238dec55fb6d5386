"""Test kit for plugin authors, registered as a pytest plugin (``-p asrkit.testing`` is automatic).

Fixtures:

- ``asrkit_plugin_manager``: a fresh plugin manager with the built-ins only.
- ``register_plugin``: register a throwaway plugin for one test; every
  registry made during the test (also by CLI commands) sees it.

And :func:`check_component`, the contract check of one component class::

    from asrkit.testing import check_component

    def test_my_encoder():
        check_component("encoders", MyEncoder)
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from asrkit import plugins
from asrkit.config import build_config, describe, field_types, to_dict
from asrkit.interfaces import (
    INTERFACES,
    KINDS,
    EncoderOutput,
    Exportable,
    Hypothesis,
    IntermediateOutputs,
    RunInfo,
    Tokenizer,
    Utterance,
)
from asrkit.plugins import AsrkitPluginManager, PluginSource, make_plugin_manager
from asrkit.text import DEFAULT_ALPHABET, TextNormalizer

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]*$")


@pytest.fixture
def asrkit_plugin_manager() -> AsrkitPluginManager:
    """A plugin manager with asrkit's built-ins and no installed plugins."""
    return make_plugin_manager(autoload=False)


@pytest.fixture
def register_plugin() -> Iterator[Callable[..., None]]:
    """``register_plugin(obj, name="x")``: load ``obj`` as a plugin until the test ends."""
    added: list[tuple[str, object, PluginSource]] = []

    def register(plugin: object, name: str = "test-plugin", package: str = "test-package") -> None:
        entry = (name, plugin, PluginSource(package, "0.0.0"))
        plugins.EXTRA_PLUGINS.append(entry)
        added.append(entry)

    yield register
    for entry in added:
        plugins.EXTRA_PLUGINS.remove(entry)


def check_component(kind: str, cls: type, config: Any = None, **dependencies: Any) -> None:
    """Check that ``cls`` is a valid component of ``kind`` and behaves as its interface says.

    The static part (name, docstring, Config dataclass with typed, documented,
    recipe-compatible fields, the kind's base class) always runs. The behaviour
    part builds the component with ``config`` (default: ``cls.Config()``, when
    every field has a default) and ``dependencies`` (defaults chosen per kind)
    and runs it on small random inputs.
    """
    assert kind in KINDS, f"unknown kind {kind!r}; kinds: {KINDS}"
    _check_static(kind, cls)
    if config is None:
        try:
            config = cls.Config()
        except TypeError:
            return  # required parameters (a data root, say): only the static contract applies
    _BEHAVIOUR[kind](cls, config, dependencies)


def _check_static(kind: str, cls: type) -> None:
    name = getattr(cls, "name", None)
    assert isinstance(name, str) and NAME_PATTERN.match(name), (
        f"{cls.__qualname__}.name must match {NAME_PATTERN.pattern}"
    )
    assert inspect.getdoc(cls), f"{kind} '{name}' needs a docstring (its first line is shown by list-plugins)"
    assert issubclass(cls, INTERFACES[kind]), f"{kind} '{name}' must derive from {INTERFACES[kind].__name__}"
    config_cls = getattr(cls, "Config", None)
    assert dataclasses.is_dataclass(config_cls), f"{kind} '{name}' needs a Config dataclass"
    assert config_cls.__dataclass_params__.frozen, f"{kind} '{name}': Config must be frozen"
    field_types(config_cls)  # every annotation resolves
    for info in describe(config_cls):
        assert info.help, f"{kind} '{name}': parameter '{info.name}' needs a help text (asrkit.config.param)"
    abstract = getattr(cls, "__abstractmethods__", frozenset())
    assert not abstract, f"{kind} '{name}' leaves abstract methods unimplemented: {sorted(abstract)}"
    try:
        defaults = config_cls()
    except TypeError:
        return
    # What `asrkit show` prints must be accepted back as a recipe node.
    assert build_config(config_cls, to_dict(defaults), name) == defaults


def _padded_batch(
    lengths: list[int], *tail: int, padding: float | None = 0.0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random rows of ``lengths`` steps; padding is ``padding`` or, when None, noise."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), *tail, generator=generator)
    if padding is not None:
        for i, n in enumerate(lengths):
            x[i, n:] = padding
    return x, torch.tensor(lengths)


def _check_features(cls: type, config: Any, deps: dict[str, Any]) -> None:
    module = cls(config, **{"sample_rate": 16000, **deps}).eval()
    if module.needs_fit:
        module.fit([_padded_batch([16000, 9000], seed=1)])
    waves, lengths = _padded_batch([16000, 9000])
    noisy, _ = _padded_batch([16000, 9000], padding=None)
    with torch.no_grad():
        feats, frames = module(waves, lengths)
        noisy_feats, _ = module(noisy, lengths)
    assert feats.dim() == 3 and feats.shape[0] == 2 and feats.shape[2] == module.num_features
    assert frames.tolist() == module.output_lengths(lengths).tolist(), "frame lengths must equal output_lengths()"
    assert int(frames.max()) == feats.shape[1] and frames[1] < frames[0]
    assert module.frame_shift > 0
    n = int(frames[1])
    torch.testing.assert_close(
        noisy_feats[1, :n], feats[1, :n], atol=1e-4, rtol=1e-4, msg="samples past a row's length changed its features"
    )
    _check_export_form(module, (waves, lengths), feats, frames)


def _check_export_form(module: Any, inputs: tuple[torch.Tensor, torch.Tensor], want: Any, lengths: Any) -> None:
    """A component that claims :class:`Exportable` gives its outputs on every valid frame through its export form."""
    if not isinstance(module, Exportable):
        return
    with torch.no_grad():
        got, got_lengths = module.export_module().eval()(*inputs)
    assert torch.equal(got_lengths, lengths), "export_module() must give the same lengths"
    for row, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(got[row, :n], want[row, :n], atol=1e-4, rtol=1e-4, msg="export_module() differs")


def _check_augmenter(cls: type, config: Any, deps: dict[str, Any]) -> None:
    module = cls(config, **{"sample_rate": 16000, **deps})
    shape = (16000, 9000) if module.stage == "waveform" else (120, 70)
    tail = () if module.stage == "waveform" else (20,)
    x, lengths = _padded_batch(list(shape), *tail, padding=123.0)
    module.eval()
    same, same_lengths = module(x.clone(), lengths.clone())
    assert torch.equal(same, x) and torch.equal(same_lengths, lengths), "augmenters must do nothing in eval mode"
    module.train()
    torch.manual_seed(0)
    out, out_lengths = module(x.clone(), lengths.clone())
    assert out.shape[0] == 2 and out.shape[2:] == x.shape[2:] and out_lengths.shape == (2,)
    assert int(out_lengths.max()) <= out.shape[1]
    for i in range(2):
        if out_lengths[i] == lengths[i]:
            n = int(lengths[i])
            end = x.shape[1]  # another row may have widened the batch
            assert torch.equal(out[i, n:end], x[i, n:end]), "augmenters must leave padding untouched"


def _check_encoder(cls: type, config: Any, deps: dict[str, Any]) -> None:
    module = cls(config, **{"input_dim": 20, **deps}).eval()
    x, lengths = _padded_batch([64, 37], 20, padding=None)
    with torch.no_grad():
        hidden, out_lengths = module(x, lengths)
        alone, alone_lengths = module(x[1:, :37], lengths[1:])
    assert hidden.dim() == 3 and hidden.shape[0] == 2 and hidden.shape[2] == module.output_dim, (
        "forward must return (B, T', output_dim) hidden features"
    )
    assert out_lengths.tolist() == module.output_lengths(lengths).tolist(), "lengths must equal output_lengths()"
    assert int(out_lengths.max()) == hidden.shape[1]
    assert module.subsampling >= 1
    n = int(alone_lengths[0])
    torch.testing.assert_close(hidden[1, :n], alone[0, :n], atol=1e-4, rtol=1e-4, msg="padding changed the output")
    if isinstance(module, IntermediateOutputs):
        layers = list(range(1, module.num_layers + 1))
        with torch.no_grad():
            final, _, taken = module.forward_intermediate(x, lengths, layers)
        torch.testing.assert_close(final, hidden, msg="forward_intermediate's final output must be forward's")
        assert sorted(taken) == layers, "forward_intermediate must return every layer asked for"
        for layer, output in taken.items():
            assert output.shape[:2] == hidden.shape[:2] and output.shape[2] == module.layer_dim(layer)
    _check_export_form(module, (x, lengths), hidden, out_lengths)


def _check_objective(cls: type, config: Any, deps: dict[str, Any]) -> None:
    tokenizer = deps.get("tokenizer") or _letters_tokenizer()
    hidden_dim = 12
    deps = {"input_dim": hidden_dim, "tokenizer": tokenizer, **deps}
    if "encoder" in inspect.signature(cls).parameters and "encoder" not in deps:
        deps["encoder"] = _TwoLayerEncoder(hidden_dim)
    objective = cls(config, **deps).eval()
    lengths = torch.tensor([30, 18])
    hidden = torch.randn(2, 30, hidden_dim)
    hidden[1, 18:] = 0.0
    encoder = deps.get("encoder")
    layers = {n: torch.randn(2, 30, encoder.layer_dim(n)) for n in objective.intermediate_layers}
    encoded = EncoderOutput(hidden, lengths, layers)
    with torch.no_grad():
        log_probs = objective(hidden, lengths)
    assert log_probs.shape == (2, 30, tokenizer.num_classes) and log_probs.dtype == torch.float32
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(2, 30), msg="forward must give log-probabilities")
    targets = [tokenizer.encode("a cat"), tokenizer.encode("dog")]
    objective.train()
    loss = objective.loss(encoded, targets)
    assert loss.shape == (2,) and bool(torch.isfinite(loss).all()), "loss must be a finite (B,) tensor"
    loss.sum().backward()
    assert any(p.grad is not None for p in objective.parameters()), "the loss must train the objective's layers"
    fits = objective.fits(torch.tensor([30, 1]), targets)
    assert fits.dtype == torch.bool and fits.tolist() == [True, False], "30 frames fit 'a cat', 1 frame not 'dog'"


class _TwoLayerEncoder(torch.nn.Module):
    """Stands in for an encoder with intermediate outputs when an objective is checked alone."""

    name = "two_layers"

    def __init__(self, hidden_dim: int) -> None:
        super().__init__()
        self.output_dim = hidden_dim
        self.num_layers = 2

    def layer_dim(self, layer: int) -> int:
        return 10

    def forward_intermediate(
        self, features: torch.Tensor, lengths: torch.Tensor, layers: Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor, dict[int, torch.Tensor]]:
        raise NotImplementedError("the objective check gives the layer outputs directly")


class _AlphabetTokenizer(Tokenizer):
    """Characters of :data:`asrkit.text.DEFAULT_ALPHABET` plus a last blank: what objectives and decoders are
    checked with when no tokenizer is given (the core's own, so the checks need no tokenizer plugin)."""

    name = "alphabet"

    @dataclasses.dataclass(frozen=True)
    class Config:
        pass

    def __init__(self, config: Any = None) -> None:
        self._normalize = TextNormalizer(DEFAULT_ALPHABET)

    @property
    def num_classes(self) -> int:
        return len(DEFAULT_ALPHABET) + 1

    @property
    def blank_id(self) -> int:
        return len(DEFAULT_ALPHABET)

    @property
    def labels(self) -> list[str]:
        return [*DEFAULT_ALPHABET, ""]

    def normalize(self, text: str) -> str:
        return self._normalize(text)

    def encode(self, text: str) -> list[int]:
        return [DEFAULT_ALPHABET.index(c) for c in self._normalize(text)]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(DEFAULT_ALPHABET[i] for i in ids)


def _letters_tokenizer() -> Tokenizer:
    return _AlphabetTokenizer()


def _check_tokenizer(cls: type, config: Any, deps: dict[str, Any]) -> None:
    texts = ["the cat sat on the mat", "a dog's day out", "speech recognition is fun"] * 20
    tokenizer = cls(config, **deps)
    with tempfile.TemporaryDirectory() as tmp:
        if tokenizer.needs_fit:
            tokenizer.fit(texts, Path(tmp))
        assert 0 <= tokenizer.blank_id < tokenizer.num_classes
        assert len(tokenizer.labels) == tokenizer.num_classes
        restored = cls(config, **deps)
        restored.load_state_dict(tokenizer.state_dict())
        for text in texts[:3]:
            normal = tokenizer.normalize(text)
            ids = tokenizer.encode(normal)
            assert ids and tokenizer.blank_id not in ids and all(0 <= i < tokenizer.num_classes for i in ids)
            assert tokenizer.decode(ids) == normal, "decode(encode(text)) must give the normalized text"
            assert restored.encode(normal) == ids, "state_dict() must restore the same vocabulary"
        torch.save(tokenizer.state_dict(), Path(tmp) / "state.pt")
        torch.load(Path(tmp) / "state.pt", weights_only=True)


def _check_decoder(cls: type, config: Any, deps: dict[str, Any]) -> None:
    if "tokenizer" not in deps:
        deps = {**deps, "tokenizer": _letters_tokenizer()}
    tokenizer = deps["tokenizer"]
    decoder = cls(config, **deps)
    try:
        log_probs = torch.randn(2, 30, tokenizer.num_classes).log_softmax(-1)
        lengths = torch.tensor([30, 18])
        hyps = decoder.decode(log_probs, lengths)
        assert len(hyps) == 2 and all(isinstance(h, Hypothesis) and isinstance(h.text, str) for h in hyps)
        timed = decoder.decode(log_probs, lengths, frame_seconds=0.04)
        for hyp, n in zip(timed, lengths.tolist(), strict=True):
            assert hyp.words is not None, "with frame_seconds, hypotheses carry word timestamps"
            previous = 0.0
            for word in hyp.words:
                assert previous <= word.start <= word.end <= n * 0.04 + 1e-6
                previous = word.start
    finally:
        decoder.close()


def _check_logger(cls: type, config: Any, deps: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = RunInfo(run_dir=Path(tmp), recipe={"train": {"epochs": 1}})
        logger = cls(config, **{"run": run, **deps})
        artifact = Path(tmp) / "artifact.txt"
        artifact.write_text("hello\n")
        try:
            logger.log_hyperparams({"train": {"epochs": 1}})
            logger.log_metrics({"train/loss": 1.0}, step=1, epoch=1)
            logger.log_artifact(artifact)
        finally:
            logger.close()


def _check_dataset(cls: type, config: Any, deps: dict[str, Any]) -> None:
    dataset = cls(config, **deps)
    dataset.prepare()
    assert isinstance(dataset.label, str) and dataset.label
    utterances = dataset.utterances()
    assert all(isinstance(u, Utterance) and u.duration > 0 for u in utterances)
    if utterances:
        wave = dataset.load_audio(utterances[0], 16000)
        assert wave.dim() == 1 and wave.dtype == torch.float32


_BEHAVIOUR: dict[str, Callable[[type, Any, dict[str, Any]], None]] = {
    "datasets": _check_dataset,
    "features": _check_features,
    "augmenters": _check_augmenter,
    "encoders": _check_encoder,
    "objectives": _check_objective,
    "tokenizers": _check_tokenizer,
    "decoders": _check_decoder,
    "loggers": _check_logger,
}
