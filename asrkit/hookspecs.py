"""The hooks a plugin implements: one registration hook per component kind.

A plugin is a module (or object) with functions marked ``@asrkit.hookimpl``
whose names are the hooks below. Each returns a list of component classes.
Publish it by declaring the module as an entry point in the ``asrkit`` group::

    [project.entry-points.asrkit]
    my_plugin = "my_package.plugin"

Every component class has

- ``name: ClassVar[str]``, unique among components of its kind: the value a
  recipe writes in ``name:``;
- ``Config``: a frozen dataclass whose fields are the recipe parameters, each
  with a default (or required) and a help text (``asrkit.config.param``);
- a docstring whose first line describes it in ``asrkit list-plugins``;
- the interface of its kind, from :mod:`asrkit.interfaces`.

``asrkit.testing.check_component(kind, cls)`` checks all of that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from asrkit.kinds import KIND_TABLE

if TYPE_CHECKING:
    from asrkit.interfaces import (
        Augmenter,
        Dataset,
        Decoder,
        Encoder,
        FeatureExtractor,
        Logger,
        Objective,
        Tokenizer,
    )

PROJECT = "asrkit"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def asrkit_register_datasets() -> list[type[Dataset]]:
    """Return dataset classes (:class:`asrkit.interfaces.Dataset`).

    A dataset is built as ``cls(config)``. It provides ``label`` (a short name
    for reports), ``utterances()`` (the index: id, audio path, transcript and
    duration in seconds of every utterance, cheap to obtain on every run),
    optionally ``prepare()`` (download or unpack, run once before indexing) and
    ``load_audio(utterance, sample_rate)`` returning a ``(S,)`` float32 mono
    waveform or raising :class:`asrkit.errors.AudioError`.
    """


@hookspec
def asrkit_register_features() -> list[type[FeatureExtractor]]:
    """Return feature extractor classes (:class:`asrkit.interfaces.FeatureExtractor`).

    A feature extractor is an ``nn.Module`` built as ``cls(config, sample_rate=...)``.
    ``forward(waveforms (B, S), lengths (B,))`` returns ``(features (B, T, D),
    frame_lengths (B,))``; it also provides ``num_features`` (``D``),
    ``frame_shift`` (seconds per frame) and ``output_lengths(num_samples)``.
    Learned statistics are buffers; ``needs_fit`` and ``fit(batches)`` compute
    them from training audio before the first step.
    """


@hookspec
def asrkit_register_augmenters() -> list[type[Augmenter]]:
    """Return augmenter classes (:class:`asrkit.interfaces.Augmenter`).

    An augmenter is an ``nn.Module`` built as ``cls(config, sample_rate=...)``
    with ``stage`` ``"waveform"`` (input ``(B, S)``) or ``"features"`` (input
    ``(B, T, D)``). ``forward(x, lengths)`` returns ``(x, lengths)``, changes its
    input only in training mode and never touches padding.
    """


@hookspec
def asrkit_register_encoders() -> list[type[Encoder]]:
    """Return encoder classes (:class:`asrkit.interfaces.Encoder`).

    An encoder is the acoustic model, an ``nn.Module`` built as
    ``cls(config, input_dim=D)``. ``forward(features (B, T, D), lengths (B,))``
    returns ``(hidden (B, T', H), lengths (B,))``; it provides ``output_dim``
    (``H``), ``output_lengths(input_lengths)`` and ``subsampling`` (input
    frames per output frame). Padding must not change any valid output frame.
    It may offer its layers' outputs (:class:`asrkit.interfaces.IntermediateOutputs`).
    """


@hookspec
def asrkit_register_objectives() -> list[type[Objective]]:
    """Return objective classes (:class:`asrkit.interfaces.Objective`).

    An objective is an ``nn.Module`` built as ``cls(config, input_dim=H,
    tokenizer=...)`` (plus ``encoder=`` when its constructor takes it). It owns
    the output layer(s) over the encoder's hidden features:
    ``forward(hidden (B, T', H), lengths (B,))`` returns the ``(B, T', V)``
    log-probabilities decoders read, ``loss(encoded, targets)`` the ``(B,)``
    loss of each utterance and ``fits(output_lengths, targets)`` whether each
    transcript can be learned from its frames.
    """


@hookspec
def asrkit_register_tokenizers() -> list[type[Tokenizer]]:
    """Return tokenizer classes (:class:`asrkit.interfaces.Tokenizer`).

    A tokenizer is built as ``cls(config)``. It provides ``num_classes`` (``V``,
    blank included), ``blank_id``, ``labels`` (one string per id for beam
    decoders), ``normalize(text)``, ``encode(text)`` and ``decode(ids)``. One that
    learns its vocabulary sets ``needs_fit`` and implements ``fit(texts,
    cache_dir)``, ``state_dict()`` and ``load_state_dict(state)``; the state is
    saved in checkpoints.
    """


@hookspec
def asrkit_register_decoders() -> list[type[Decoder]]:
    """Return decoder classes (:class:`asrkit.interfaces.Decoder`).

    A decoder is built as ``cls(config, tokenizer=...)``. ``decode(log_probs
    (B, T', V), lengths (B,), frame_seconds=None)`` returns one
    :class:`asrkit.interfaces.Hypothesis` per row, with word timestamps when
    ``frame_seconds`` is given. ``close()`` releases pools and models.
    """


@hookspec
def asrkit_register_loggers() -> list[type[Logger]]:
    """Return logger classes (:class:`asrkit.interfaces.Logger`).

    A logger is built as ``cls(config, run=RunInfo(...))`` on the main process
    only. It implements ``log_metrics(metrics, step, epoch)`` and may implement
    ``log_hyperparams(params)``, ``log_artifact(path, name)`` and ``close()``.
    """


@hookspec
def asrkit_recipe_defaults() -> dict[str, Any]:
    """Return the recipe nodes this plugin proposes for keys a recipe leaves out.

    Keys are recipe keys: ``features``, ``objective``, ``tokenizer``,
    ``decoder``, ``loggers`` (a list of nodes) and ``train.valid_decoder``;
    values are nodes such as ``{"name": "greedy"}`` naming the plugin's own
    components. The built-in plugins propose asrkit's defaults (``log_mel``,
    ``ctc``, ``char``, ``greedy``, ``[console]``); when several plugins
    propose one for the same key, the built-in's is used, else the one of the
    plugin first by name. A key without a proposal must be written in the
    recipe (``train.valid_decoder`` then falls back to the recipe's
    ``decoder``, ``loggers`` to none).
    """


@hookspec(firstresult=True)
def asrkit_open_dataset(spec: str) -> dict[str, Any] | None:
    """Return a dataset node for a command-line shortcut ``spec``, or None when it is not this plugin's.

    ``asrkit evaluate --data SPEC`` and ``asrkit data prepare`` accept short
    forms of a dataset: the built-in datasets plugin turns a path ending in
    ``.jsonl``/``.json`` into ``{"name": "manifest", "path": spec}`` and
    ``ROOT:SUBSET`` into ``{"name": "librispeech", "root": ROOT, "subset":
    SUBSET}``. The first plugin that returns a node wins; the node is then
    validated like a recipe's.
    """


HOOK_KINDS = {kind.hook: kind.name for kind in KIND_TABLE}
"""Which component kind each hook registers."""

OTHER_HOOKS = ("asrkit_recipe_defaults", "asrkit_open_dataset")
"""The hooks that register no component kind."""
