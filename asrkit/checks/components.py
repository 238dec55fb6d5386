"""Behaviour checks of one component class, one function per kind (see ``docs/plugins.md#what-the-kit-checks``).

Each function builds the component with the sizes it is given (the builder's
keyword arguments: ``input_dim``, ``sample_rate``, ``tokenizer``...) and runs
it on small random inputs, in eval mode and in train mode. Every failure is a
:class:`asrkit.checks.ContractError` naming the component, the check and the
values seen.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from asrkit.checks import expect
from asrkit.interfaces import (
    EncoderOutput,
    Exportable,
    Hypothesis,
    IntermediateOutputs,
    RunInfo,
    Tokenizer,
    Utterance,
)
from asrkit.text import DEFAULT_ALPHABET, TextNormalizer

CHECKS: dict[str, tuple[str, ...]] = {
    "all kinds": (
        "`name` is a lowercase string (`[a-z][a-z0-9_.-]*`), the class has a docstring and derives from the kind's "
        "base class in `asrkit.interfaces`, no abstract method is left",
        "`Config` is a frozen dataclass, every annotation resolves, every field has a help text; the defaults, "
        "written as a recipe node, are accepted back",
    ),
    "datasets": (
        "`label` is a non-empty string; `utterances()` is non-empty, every entry an `Utterance` with a positive "
        "duration, and ids are unique",
        "the audio of a sample (first, middle, last utterance) loads as `(S,)` float32, and its length agrees with "
        "the stated duration in seconds (within 10% + 0.25 s: durations in milliseconds fail here)",
    ),
    "features": (
        "`(B, T, num_features)` output, built with the given `sample_rate`; `frame_shift` > 0",
        "in eval and in train mode, every row's frames (the row run alone) equal `output_lengths()` of its "
        "samples, and the batch's lengths equal `output_lengths()`",
        "samples past a row's length do not change its features",
    ),
    "augmenters": (
        "eval mode changes nothing",
        "train mode keeps the batch size and feature size, lengths fit the output, padding stays untouched",
    ),
    "encoders": (
        "built with the given `input_dim` and fed features of that size; returns `(B, T', output_dim)`",
        "in eval and in train mode, every row's frames (the row run alone) equal `output_lengths()` of its length "
        "(an off-by-one fails here), and the batch's lengths equal `output_lengths()`",
        "padding does not change a valid frame; train mode gives finite gradients to the parameters",
        "`IntermediateOutputs` and `Exportable`, when offered, agree with `forward`",
    ),
    "objectives": (
        "built with the given `input_dim` and `tokenizer`; `forward` gives `(B, T', num_classes)` float32 "
        "log-probabilities",
        "`loss` is a finite `(B,)` tensor whose gradient reaches the objective's layers; `fits` tells a target "
        "that fits from one that does not",
    ),
    "tokenizers": (
        "`blank_id` within `num_classes`, one label per class; `decode(encode(text))` gives the normalized text "
        "and never contains the blank",
        "`state_dict()` restores the same vocabulary and saves with `torch.save` / loads with `weights_only=True`",
    ),
    "decoders": ("one `Hypothesis` per row; with `frame_seconds`, word timestamps in order and within the row",),
    "loggers": (
        "`log_hyperparams` takes a resolved recipe (nested dicts, lists, None), `log_metrics` takes every metric "
        "name the engine emits (`train/loss`, `valid/<set>/wer`, ... with a NaN loss), `log_artifact` a file, "
        "`close` ends it",
    ),
}
"""What the kit checks, per kind: published in docs/plugins.md (a test keeps the two equal)."""

ENGINE_STEP_METRICS = (
    "train/loss",
    "train/lr",
    "train/grad_norm",
    "train/audio_seconds_per_second",
    "train/nonfinite_batches",
)
"""The metric names the trainer logs every ``log_every_steps`` steps (a test keeps them equal to the trainer's)."""

ENGINE_EPOCH_METRICS = (
    "epoch/train_loss",
    "valid/dev-clean/wer",
    "valid/dev-clean/cer",
    "valid/dev-clean/loss",
    "epoch/nonfinite_batches",
)
"""The metric names the trainer logs at the end of an epoch, for a validation set labelled ``dev-clean``."""


def _who(kind: str, cls: type) -> str:
    return f"{kind} '{getattr(cls, 'name', cls.__qualname__)}'"


def _padded_batch(
    lengths: list[int], *tail: int, padding: float | None = 0.0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random rows of ``lengths`` steps, ``(B, max(lengths), *tail)``; padding is ``padding`` or, when None, noise."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), *tail, generator=generator)
    if padding is not None:
        for i, n in enumerate(lengths):
            x[i, n:] = padding
    return x, torch.tensor(lengths)


def _check_frames_per_row(who: str, module: Any, x: torch.Tensor, lengths: torch.Tensor, mode: str) -> None:
    """Each row run alone, unpadded, gives exactly ``output_lengths()`` of its length in frames."""
    for row, n in enumerate(lengths.tolist()):
        out, out_lengths = module(x[row : row + 1, :n], lengths[row : row + 1])
        promised = int(module.output_lengths(torch.tensor([n]))[0])
        expect(
            out.shape[1] == promised,
            who,
            f"{mode} mode: a row of {n} steps run alone gives {out.shape[1]} frames, but output_lengths() says "
            f"{promised} (frames are dropped or padding is read)",
            input_length=n,
            frames=out.shape[1],
            output_lengths=promised,
        )
        expect(
            int(out_lengths[0]) == promised,
            who,
            f"{mode} mode: forward's lengths must equal output_lengths()",
            input_length=n,
            forward_length=int(out_lengths[0]),
            output_lengths=promised,
        )


def _check_batch_lengths(
    who: str, module: Any, in_lengths: torch.Tensor, output: torch.Tensor, out_lengths: torch.Tensor
) -> None:
    """The lengths ``forward`` returned are ``output_lengths()``'s, and the longest row fills ``output`` (B, T, ...)."""
    promised = module.output_lengths(in_lengths)
    expect(
        out_lengths.tolist() == promised.tolist(),
        who,
        "forward's lengths must equal output_lengths()",
        forward=out_lengths,
        output_lengths=promised,
    )
    expect(
        int(out_lengths.max()) == output.shape[1],
        who,
        "the longest row's length must equal the output's frames",
        frames=output.shape[1],
        lengths=out_lengths,
    )


def check_features(cls: type, config: Any, deps: dict[str, Any]) -> None:
    who = _who("features", cls)
    deps = {"sample_rate": 16000, **deps}
    rate = int(deps["sample_rate"])
    module = cls(config, **deps).eval()
    rows = [rate, rate * 9 // 16, rate * 3 // 4 + 7]
    if module.needs_fit:
        module.fit([_padded_batch(rows, seed=1)])
    waves, lengths = _padded_batch(rows)
    noisy, _ = _padded_batch(rows, padding=None)
    expect(
        module.frame_shift > 0, who, "frame_shift must be positive (seconds per frame)", frame_shift=module.frame_shift
    )
    with torch.no_grad():
        feats, frames = module(waves, lengths)
        noisy_feats, _ = module(noisy, lengths)
        _check_frames_per_row(who, module, waves, lengths, "eval")
        expect(
            feats.dim() == 3 and feats.shape[0] == len(rows) and feats.shape[2] == module.num_features,
            who,
            "forward must return (B, T, num_features) features",
            shape=tuple(feats.shape),
            num_features=module.num_features,
        )
        _check_batch_lengths(who, module, lengths, feats, frames)
        module.train()
        _check_frames_per_row(who, module, waves, lengths, "train")
    n = int(frames[1])
    close = torch.allclose(noisy_feats[1, :n], feats[1, :n], atol=1e-4, rtol=1e-4)
    expect(close, who, "samples past a row's length changed its features (padding leaks in)")
    module.eval()
    _check_export_form(who, module, (waves, lengths), feats, frames)


def _check_export_form(
    who: str, module: Any, inputs: tuple[torch.Tensor, torch.Tensor], want: Any, lengths: Any
) -> None:
    """A component that claims :class:`Exportable` gives its outputs on every valid frame through its export form."""
    if not isinstance(module, Exportable):
        return
    with torch.no_grad():
        got, got_lengths = module.export_module().eval()(*inputs)
    expect(
        torch.equal(got_lengths, lengths),
        who,
        "export_module()'s lengths must equal forward's",
        export=got_lengths,
        forward=lengths,
    )
    for row, n in enumerate(lengths.tolist()):
        close = torch.allclose(got[row, :n], want[row, :n], atol=1e-4, rtol=1e-4)
        expect(close, who, "export_module()'s output must equal forward's on every valid frame", row=row)


def check_augmenter(cls: type, config: Any, deps: dict[str, Any]) -> None:
    who = _who("augmenters", cls)
    module = cls(config, **{"sample_rate": 16000, **deps})
    shape = (16000, 9000) if module.stage == "waveform" else (120, 70)
    tail = () if module.stage == "waveform" else (20,)
    x, lengths = _padded_batch(list(shape), *tail, padding=123.0)
    module.eval()
    same, same_lengths = module(x.clone(), lengths.clone())
    expect(torch.equal(same, x) and torch.equal(same_lengths, lengths), who, "eval mode must change nothing")
    module.train()
    torch.manual_seed(0)
    out, out_lengths = module(x.clone(), lengths.clone())
    expect(
        out.shape[0] == 2 and out.shape[2:] == x.shape[2:] and tuple(out_lengths.shape) == (2,),
        who,
        "train mode must keep the batch size and feature size, with one length per row",
        input_shape=tuple(x.shape),
        output_shape=tuple(out.shape),
        lengths_shape=tuple(out_lengths.shape),
    )
    expect(
        int(out_lengths.max()) <= out.shape[1],
        who,
        "lengths must fit the output",
        lengths=out_lengths,
        frames=out.shape[1],
    )
    for i in range(2):
        if out_lengths[i] == lengths[i]:
            n = int(lengths[i])
            end = x.shape[1]  # another row may have widened the batch
            expect(torch.equal(out[i, n:end], x[i, n:end]), who, "train mode must leave padding untouched", row=i)


def check_encoder(cls: type, config: Any, deps: dict[str, Any]) -> None:
    who = _who("encoders", cls)
    deps = {"input_dim": 20, **deps}
    input_dim = int(deps["input_dim"])
    module = cls(config, **deps).eval()
    # Lengths of every remainder modulo 4 and 8, so an off-by-one in output_lengths() shows for common subsamplings.
    rows = [67, 37, 50, 44]
    x, lengths = _padded_batch(rows, input_dim, padding=None)
    expect(module.subsampling >= 1, who, "subsampling must be at least 1", subsampling=module.subsampling)
    with torch.no_grad():
        hidden, out_lengths = module(x, lengths)
        alone, alone_lengths = module(x[1:2, : rows[1]], lengths[1:2])
        _check_frames_per_row(who, module, x, lengths, "eval")
        expect(
            hidden.dim() == 3 and hidden.shape[0] == len(rows) and hidden.shape[2] == module.output_dim,
            who,
            "forward must return (B, T', output_dim) hidden features",
            shape=tuple(hidden.shape),
            output_dim=module.output_dim,
            input_dim=input_dim,
        )
        _check_batch_lengths(who, module, lengths, hidden, out_lengths)
    n = int(alone_lengths[0])
    close = torch.allclose(hidden[1, :n], alone[0, :n], atol=1e-4, rtol=1e-4)
    expect(close, who, "padding changed a valid frame (a row padded in a batch differs from the row alone)")
    module.train()
    torch.manual_seed(0)
    _check_frames_per_row(who, module, x, lengths, "train")
    trained, trained_lengths = module(x, lengths)
    expect(
        trained.shape == hidden.shape,
        who,
        "train mode changed the output's shape",
        eval=tuple(hidden.shape),
        train=tuple(trained.shape),
    )
    mask = torch.arange(trained.shape[1])[None, :] < trained_lengths[:, None]
    (trained * mask[..., None]).sum().backward()
    grads = [p.grad for p in module.parameters() if p.requires_grad]
    expect(grads and any(g is not None for g in grads), who, "train mode: the output must depend on the parameters")
    expect(all(g is None or bool(torch.isfinite(g).all()) for g in grads), who, "train mode: gradients must be finite")
    module.eval()
    if isinstance(module, IntermediateOutputs):
        _check_intermediate(who, module, x, lengths, hidden)
    _check_export_form(who, module, (x, lengths), hidden, out_lengths)


def _check_intermediate(who: str, module: Any, x: torch.Tensor, lengths: torch.Tensor, hidden: torch.Tensor) -> None:
    layers = list(range(1, module.num_layers + 1))
    with torch.no_grad():
        final, _, taken = module.forward_intermediate(x, lengths, layers)
    expect(torch.allclose(final, hidden, atol=1e-5), who, "forward_intermediate's final output must be forward's")
    expect(
        sorted(taken) == layers,
        who,
        "forward_intermediate must return every layer asked for",
        asked=layers,
        got=sorted(taken),
    )
    for layer, output in taken.items():
        expect(
            output.shape[:2] == hidden.shape[:2] and output.shape[2] == module.layer_dim(layer),
            who,
            "an intermediate layer's output must be (B, T', layer_dim(layer))",
            layer=layer,
            shape=tuple(output.shape),
            layer_dim=module.layer_dim(layer),
        )


def check_objective(cls: type, config: Any, deps: dict[str, Any]) -> None:
    who = _who("objectives", cls)
    tokenizer = deps.get("tokenizer") or letters_tokenizer()
    deps = {"input_dim": 12, **deps, "tokenizer": tokenizer}
    hidden_dim = int(deps["input_dim"])
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
    expect(
        tuple(log_probs.shape) == (2, 30, tokenizer.num_classes) and log_probs.dtype == torch.float32,
        who,
        "forward must return (B, T', num_classes) float32",
        shape=tuple(log_probs.shape),
        dtype=log_probs.dtype,
        num_classes=tokenizer.num_classes,
    )
    sums = log_probs.exp().sum(-1)
    expect(
        torch.allclose(sums, torch.ones(2, 30), atol=1e-4),
        who,
        "forward must give log-probabilities",
        sum_of_exp=sums[0, :4],
    )
    targets = [tokenizer.encode("a cat"), tokenizer.encode("dog")]
    objective.train()
    loss = objective.loss(encoded, targets)
    expect(
        tuple(loss.shape) == (2,) and bool(torch.isfinite(loss).all()),
        who,
        "loss must be a finite (B,) tensor",
        loss=loss,
    )
    loss.sum().backward()
    expect(any(p.grad is not None for p in objective.parameters()), who, "the loss must train the objective's layers")
    fits = objective.fits(torch.tensor([30, 1]), targets)
    expect(
        fits.dtype == torch.bool and fits.tolist() == [True, False],
        who,
        "fits(): 30 frames fit 'a cat', 1 frame does not fit 'dog'",
        fits=fits,
    )


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


def letters_tokenizer() -> Tokenizer:
    """A character tokenizer of the core's own, for checks of components that need one."""
    return _AlphabetTokenizer()


def check_tokenizer(cls: type, config: Any, deps: dict[str, Any]) -> None:
    who = _who("tokenizers", cls)
    texts = ["the cat sat on the mat", "a dog's day out", "speech recognition is fun"] * 20
    tokenizer = cls(config, **deps)
    with tempfile.TemporaryDirectory() as tmp:
        if tokenizer.needs_fit:
            tokenizer.fit(texts, Path(tmp))
        expect(
            0 <= tokenizer.blank_id < tokenizer.num_classes,
            who,
            "blank_id must be a class id",
            blank_id=tokenizer.blank_id,
            num_classes=tokenizer.num_classes,
        )
        expect(
            len(tokenizer.labels) == tokenizer.num_classes,
            who,
            "labels must have one entry per class",
            labels=len(tokenizer.labels),
            num_classes=tokenizer.num_classes,
        )
        restored = cls(config, **deps)
        restored.load_state_dict(tokenizer.state_dict())
        for text in texts[:3]:
            normal = tokenizer.normalize(text)
            ids = tokenizer.encode(normal)
            expect(
                ids and tokenizer.blank_id not in ids and all(0 <= i < tokenizer.num_classes for i in ids),
                who,
                "encode() must give class ids other than the blank",
                text=normal,
                ids=ids,
            )
            decoded = tokenizer.decode(ids)
            expect(
                decoded == normal,
                who,
                "decode(encode(text)) must give the normalized text",
                text=normal,
                decoded=decoded,
            )
            expect(restored.encode(normal) == ids, who, "state_dict() must restore the same vocabulary", text=normal)
        torch.save(tokenizer.state_dict(), Path(tmp) / "state.pt")
        torch.load(Path(tmp) / "state.pt", weights_only=True)


def check_decoder(cls: type, config: Any, deps: dict[str, Any]) -> None:
    who = _who("decoders", cls)
    deps = {**deps, "tokenizer": deps.get("tokenizer") or letters_tokenizer()}
    tokenizer = deps["tokenizer"]
    decoder = cls(config, **deps)
    try:
        log_probs = torch.randn(2, 30, tokenizer.num_classes).log_softmax(-1)
        lengths = torch.tensor([30, 18])
        hyps = decoder.decode(log_probs, lengths)
        expect(
            len(hyps) == 2 and all(isinstance(h, Hypothesis) and isinstance(h.text, str) for h in hyps),
            who,
            "decode() must return one Hypothesis per row",
            rows=2,
            returned=hyps,
        )
        timed = decoder.decode(log_probs, lengths, frame_seconds=0.04)
        for hyp, n in zip(timed, lengths.tolist(), strict=True):
            expect(hyp.words is not None, who, "with frame_seconds, hypotheses must carry word timestamps")
            previous = 0.0
            for word in hyp.words:
                expect(
                    previous <= word.start <= word.end <= n * 0.04 + 1e-6,
                    who,
                    "word timestamps must be in order and within the row",
                    word=word,
                    row_seconds=n * 0.04,
                )
                previous = word.start
    finally:
        decoder.close()


def check_logger(cls: type, config: Any, deps: dict[str, Any]) -> None:
    who = _who("loggers", cls)
    recipe = {
        "data": {"train": [{"name": "some_dataset", "path": "train.tsv"}], "sample_rate": 16000},
        "encoder": {"name": "some_encoder", "dropout": 0.1},
        "loggers": [],
        "requires": [],
        "train": {"epochs": 1, "seed": None},
    }
    with tempfile.TemporaryDirectory() as tmp:
        run = RunInfo(run_dir=Path(tmp), recipe=recipe)
        logger = cls(config, **{"run": run, **deps})
        artifact = Path(tmp) / "artifact.txt"
        artifact.write_text("hello\n")
        step_metrics = dict.fromkeys(ENGINE_STEP_METRICS, 0.5) | {"train/loss": math.nan, "train/nonfinite_batches": 0}
        epoch_metrics = dict.fromkeys(ENGINE_EPOCH_METRICS, 0.25) | {"epoch/nonfinite_batches": 1}
        try:
            logger.log_hyperparams(recipe)
            logger.log_metrics(step_metrics, step=1, epoch=1)
            logger.log_metrics(epoch_metrics, step=2, epoch=1)
            logger.log_metrics({"train/loss": 1.0}, step=3)
            logger.log_artifact(artifact)
            logger.log_artifact(artifact, name="renamed.txt")
        except Exception as exc:
            raise AssertionError(f"{who}: failed on the engine's calls ({type(exc).__name__}: {exc})") from exc
        finally:
            logger.close()


def check_dataset(cls: type, config: Any, deps: dict[str, Any]) -> None:
    who = _who("datasets", cls)
    dataset = cls(config, **deps)
    dataset.prepare()
    expect(
        isinstance(dataset.label, str) and dataset.label, who, "label must be a non-empty string", label=dataset.label
    )
    utterances = list(dataset.utterances())
    expect(utterances, who, "utterances() is empty (check the data path and the parser)", config=config)
    bad = [u for u in utterances if not (isinstance(u, Utterance) and u.duration > 0)]
    expect(not bad, who, "every entry must be an Utterance with a positive duration in seconds", first_bad=bad[:1])
    ids = [u.id for u in utterances]
    repeated = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
    expect(not repeated, who, "utterance ids must be unique", repeated=repeated[:5])
    sample = {0: utterances[0], len(utterances) // 2: utterances[len(utterances) // 2], -1: utterances[-1]}
    for utterance in sample.values():
        wave = dataset.load_audio(utterance, 16000)
        expect(
            wave.dim() == 1 and wave.dtype == torch.float32,
            who,
            "load_audio must return a (S,) float32 waveform",
            id=utterance.id,
            shape=tuple(wave.shape),
            dtype=wave.dtype,
        )
        seconds = wave.numel() / 16000
        expect(
            abs(seconds - utterance.duration) <= 0.1 * seconds + 0.25,
            who,
            "an utterance's duration must be its audio's length in seconds (milliseconds or frames are a mistake)",
            id=utterance.id,
            stated_duration=utterance.duration,
            audio_seconds=round(seconds, 3),
        )


BEHAVIOUR: dict[str, Callable[[type, Any, dict[str, Any]], None]] = {
    "datasets": check_dataset,
    "features": check_features,
    "augmenters": check_augmenter,
    "encoders": check_encoder,
    "objectives": check_objective,
    "tokenizers": check_tokenizer,
    "decoders": check_decoder,
    "loggers": check_logger,
}
"""The behaviour check of each kind."""
