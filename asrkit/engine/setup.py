"""Building what a run needs from a recipe: data, tokenizer, model, decoders.

Each function builds one thing and returns it; the session
(:mod:`asrkit.engine.session`) calls them in order and hands the pieces to the
training loop. Work that fills a shared cache (downloading and indexing
corpora, fitting a tokenizer) runs on rank 0 first, so the other ranks only
read what it wrote.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from asrkit.build import build, build_model
from asrkit.data.batches import Entry, SkipReport, select_utterances
from asrkit.data.index import cache_root
from asrkit.data.plausibility import check_stated_durations
from asrkit.engine.distributed import World, main_first
from asrkit.engine.loaders import eval_loader
from asrkit.engine.results import unique_labels
from asrkit.errors import DataError, RecipeError
from asrkit.interfaces import Decoder, Fittable, Tokenizer
from asrkit.model import AcousticModel
from asrkit.recipe import ComponentSpec, Recipe
from asrkit.registry import Registry
from asrkit.train_config import BatchConfig

FEATURE_FIT_UTTERANCES = 500
"""Utterances (a fixed random sample of the training set) that feature statistics are fitted on."""


@dataclass(frozen=True)
class EvalSet:
    """A validation or test set: a unique label (for metric names and files) and its utterances."""

    label: str
    entries: list[Entry]


@dataclass(frozen=True)
class Corpus:
    train: list[Entry]
    valid: list[EvalSet]
    test: list[EvalSet]


def resolve_device(name: str, world: World) -> torch.device:
    """``auto``: this rank's GPU if there is one, else the CPU; ``cuda`` means this rank's GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RecipeError(f"train.device: '{name}' asked for, but no CUDA device is available")
        device = torch.device(name)
        if device.index is None:
            device = torch.device("cuda", world.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
        return device
    try:
        return torch.device(name)
    except RuntimeError:
        raise RecipeError(f"train.device: '{name}' is not a device (auto, cpu, cuda, cuda:N)") from None


def load_corpus(registry: Registry, recipe: Recipe, world: World) -> Corpus:
    """Build, prepare (on rank 0) and index every dataset of the recipe."""

    def sets(specs: Sequence[ComponentSpec]) -> list[tuple[str, list[Entry]]]:
        built = []
        for spec in specs:
            dataset = build(registry, spec)
            if world.is_main:
                dataset.prepare()
            utterances = dataset.utterances()
            check_stated_durations(spec.name, spec.path, utterances)
            built.append((dataset.label, [(dataset, u) for u in utterances]))
        return built

    with main_first(world):
        train, valid, test = (sets(specs) for specs in (recipe.data.train, recipe.data.valid, recipe.data.test))
    labels = unique_labels([label for label, _ in valid + test])
    return Corpus(
        train=[entry for _, entries in train for entry in entries],
        valid=[EvalSet(label, entries) for label, (_, entries) in zip(labels, valid, strict=False)],
        test=[EvalSet(label, entries) for label, (_, entries) in zip(labels[len(valid) :], test, strict=True)],
    )


def make_tokenizer(
    registry: Registry, recipe: Recipe, texts: Sequence[str], world: World, state: dict[str, Any] | None = None
) -> Tokenizer:
    """The recipe's tokenizer: restored from ``state``, or fitted on ``texts`` when it learns a vocabulary."""
    tokenizer = build(registry, recipe.tokenizer)
    if state is not None:
        tokenizer.load_state_dict(state)
    elif tokenizer.needs_fit:
        if not texts:
            raise DataError("the tokenizer needs training transcripts to fit, and data.train has none")
        with main_first(world):  # rank 0 fits and caches; the others load the cached result
            tokenizer.fit(texts, cache_root())
    return tokenizer


def make_model(registry: Registry, recipe: Recipe, tokenizer: Tokenizer, seed: int) -> AcousticModel:
    """The acoustic model with weights initialized from ``seed`` (the same on every rank)."""
    torch.manual_seed(seed)
    return build_model(registry, recipe, tokenizer)


def fit_features(
    model: AcousticModel,
    entries: Sequence[Entry],
    sample_rate: int,
    batch: BatchConfig,
    *,
    device: torch.device,
    num_workers: int,
    seed: int,
) -> None:
    """Fit the feature statistics on a fixed sample of training audio (on every rank, identically)."""
    if not (isinstance(model.features, Fittable) and model.features.needs_fit):
        return
    sample = list(entries)
    if len(sample) > FEATURE_FIT_UTTERANCES:
        sample = random.Random(seed).sample(sample, FEATURE_FIT_UTTERANCES)
    loader = eval_loader(sample, sample_rate, batch, World(), num_workers=num_workers, device=device)
    model.features.fit(
        (b.waveforms.to(device, non_blocking=True), b.lengths.to(device, non_blocking=True)) for b in loader if len(b)
    )


def trainable(
    entries: Sequence[Entry], recipe: Recipe, tokenizer: Tokenizer, model: AcousticModel
) -> tuple[list[Entry], SkipReport]:
    """The training utterances the model's objective can learn from (see :func:`select_utterances`), and the rest."""
    selected, report = select_utterances(
        entries,
        normalize=tokenizer.normalize,
        encode=tokenizer.encode,
        output_frames=model.output_lengths,
        fits=model.objective.fits,
        sample_rate=recipe.data.sample_rate,
        max_duration=recipe.train.batch.max_duration,
    )
    if not selected:
        raise DataError(f"no training utterance is usable: {report.summary()}")
    return selected, report


@dataclass
class Decoders:
    """The validation decoder (``train.valid_decoder``) and the test decoders by label (the validation one and
    the recipe's ``decoder``, once when they are the same node)."""

    valid: Decoder
    valid_label: str
    test: dict[str, Decoder]

    def close(self) -> None:
        close_decoders({"valid": self.valid, **self.test})


def make_decoders(registry: Registry, recipe: Recipe, tokenizer: Tokenizer) -> Decoders:
    """Build the validation and test decoders; a decoder that fails to build closes those already built."""
    valid_spec, test_spec = recipe.valid_decoder, recipe.decoder
    built: list[Decoder] = []
    try:
        valid = build(registry, valid_spec, tokenizer=tokenizer)
        built.append(valid)
        test = {valid_spec.name: valid}
        if test_spec.as_dict() != valid_spec.as_dict():
            test[test_spec.name] = build(registry, test_spec, tokenizer=tokenizer)
    except BaseException:
        close_decoders(dict(enumerate(built)))
        raise
    return Decoders(valid, valid_spec.name, test)


def close_decoders(decoders: dict[Any, Decoder]) -> None:
    """Close each decoder once (the same one may be listed twice)."""
    for decoder in {id(d): d for d in decoders.values()}.values():
        decoder.close()
