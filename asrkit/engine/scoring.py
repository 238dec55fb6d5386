"""``asrkit evaluate``: WER and CER of a checkpoint on datasets, with the result files of a run.

A dataset is given as a recipe node (``{name: librispeech, root: data, subset:
test-clean}``) or as a shortcut that a dataset plugin reads
(``asrkit_open_dataset``: the built-in one reads a manifest file ``*.jsonl`` /
``*.json`` and ``ROOT:SUBSET`` for a LibriSpeech-layout folder); by default
the test sets of the checkpoint's recipe are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from asrkit.build import build
from asrkit.data.rates import below_rate
from asrkit.engine.checkpoint import LoadedModel
from asrkit.engine.distributed import World
from asrkit.engine.evaluation import SetResult, evaluate
from asrkit.engine.loaders import eval_loader
from asrkit.engine.precision import precision_for
from asrkit.engine.progress import Progress
from asrkit.engine.results import unique_labels, write_hypotheses, write_results
from asrkit.errors import RecipeError
from asrkit.interfaces import Decoder
from asrkit.recipe import ComponentSpec, component
from asrkit.registry import Registry


def dataset_spec(registry: Registry, text: str) -> ComponentSpec:
    """A ``--data`` value as a validated dataset node."""
    path = "--data"
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            node = yaml.safe_load(stripped)
        except yaml.YAMLError:
            raise RecipeError(f"--data '{text}': not a valid YAML mapping") from None
        return component(registry, "datasets", node, path)
    node = registry.open_dataset(text)
    if node is not None:
        return component(registry, "datasets", node, path)
    raise RecipeError(
        f"--data '{text}': no loaded dataset plugin reads this shortcut (the built-in one reads a manifest "
        "path ending in .jsonl and ROOT:SUBSET of a LibriSpeech layout); give a dataset node like "
        "'{name: manifest, path: test.jsonl}'"
    )


def warn_low_rate(progress: Progress, label: str, paths: list[str], model_rate: int) -> None:
    """Count the set's files recorded below the model's rate (see :mod:`asrkit.data.rates`)."""
    count, first = below_rate(paths, model_rate)
    if count:
        progress.warn(
            f"{label}: {count} of {len(set(paths))} audio files are recorded below the model's {model_rate} Hz "
            f"(first: {first}); upsampled audio usually scores worse"
        )


def score_checkpoint(
    registry: Registry,
    loaded: LoadedModel,
    datasets: Sequence[ComponentSpec],
    decoders: dict[str, Decoder],
    out: Path,
    progress: Progress,
    num_workers: int = 2,
) -> list[SetResult]:
    """Score ``loaded`` on each dataset with each decoder; write ``results.json`` and hypotheses to ``out``."""
    device = next(loaded.model.parameters()).device
    built = [build(registry, spec) for spec in datasets]
    labels = unique_labels([dataset.label for dataset in built])
    out.mkdir(parents=True, exist_ok=True)
    results: list[SetResult] = []
    for dataset, label in zip(built, labels, strict=True):
        dataset.prepare()
        entries = [(dataset, utterance) for utterance in dataset.utterances()]
        warn_low_rate(progress, label, [u.audio_path for _, u in entries], loaded.recipe.data.sample_rate)
        loader = eval_loader(
            entries,
            loaded.recipe.data.sample_rate,
            loaded.recipe.train.batch,
            World(),
            num_workers=num_workers,
            device=device,
        )
        evaluation = evaluate(
            loaded.model,
            loader,
            decoders,
            loaded.tokenizer,
            label=label,
            device=device,
            precision=precision_for(loaded.recipe.train.precision, device),
            progress=progress,
            keep_hypotheses=True,
        )
        results += evaluation.results.values()
        for name, records in evaluation.hypotheses.items():
            write_hypotheses(out, label, name, records)
    write_results(out / "results.json", {"test": results})
    return results
