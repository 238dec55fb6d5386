"""End to end: ``asrkit run`` learns, writes its run directory, and its checkpoint alone serves
``asrkit evaluate`` and ``asrkit transcribe``; the LibriSpeech recipes run on a tiny corpus."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner, Result

from asrkit.cli import main
from asrkit.recipe import load_recipe
from asrkit.registry import load_registry

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TINY = "tests/fixtures/tiny_recipe.yaml"
CORPUS = ROOT / "tests" / "fixtures" / "librispeech"
# Overfitting settings: no augmentation or dropout, no CNN blocks (they slow the start), a high constant lr.
LEARN = [
    "augmenters=[]",
    "encoder.dropout=0.0",
    "encoder.n_cnn_layers=0",
    "encoder.rnn_dim=96",
    "train.epochs=20",
    "train.optimizer.lr=0.02",
    "train.schedule.name=constant",
]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The repository root as working directory (the tiny recipe's paths are relative to it), a private cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        patch.setenv("ASRKIT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        patch.delenv("ASRKIT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
        patch.delenv("ASRKIT_LOAD_PLUGINS", raising=False)
        yield


@pytest.fixture(scope="module")
def trained(environment: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run that overfits the 8 training utterances (validated on the same 8)."""
    run_dir = tmp_path_factory.mktemp("runs") / "overfit"
    result = invoke("run", TINY, *LEARN, "--out", str(run_dir), "--quiet")
    assert result.exit_code == 0, result.output
    return run_dir


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_run_learns(trained: Path) -> None:
    epochs = [r for r in read_jsonl(trained / "metrics.jsonl") if "valid/train-clean-100/wer" in r]
    wers = [r["valid/train-clean-100/wer"] for r in epochs]
    assert len(wers) == 20
    cers = [r["valid/train-clean-100/cer"] for r in epochs]
    assert wers[0] >= 0.9  # an untrained model gets (almost) every word wrong
    assert min(wers) <= 0.7 and min(cers) <= 0.35, (wers, cers)
    losses = [r["epoch/train_loss"] for r in epochs]
    assert losses[-1] < losses[0] / 3
    results = json.loads((trained / "results.json").read_text())
    assert results["valid"][0]["wer"] == min(wers)  # best.pt is the best validation epoch


def test_the_run_directory(trained: Path) -> None:
    names = {p.name for p in trained.iterdir()}
    assert {"recipe.yaml", "metrics.jsonl", "results.json", "test-clean.greedy.hyp.jsonl", "checkpoints"} <= names
    resolved = yaml.safe_load((trained / "recipe.yaml").read_text())
    assert resolved == load_recipe(ROOT / TINY, LEARN, load_registry()).resolved()
    results = json.loads((trained / "results.json").read_text())
    [test] = results["test"]
    assert test["set"] == "test-clean" and test["decoder"] == "greedy" and test["utterances"] == 3
    assert {"wer", "cer", "audio_seconds"} <= test.keys()
    hyps = read_jsonl(trained / "test-clean.greedy.hyp.jsonl")
    assert [h["id"] for h in hyps] == ["3001-30011-0000", "3001-30011-0001", "3001-30011-0002"]
    assert sum(h["word_errors"] for h in hyps) / sum(h["ref_words"] for h in hyps) == pytest.approx(test["wer"])

    last = torch.load(trained / "checkpoints" / "last.pt", weights_only=True)
    best = torch.load(trained / "checkpoints" / "best.pt", weights_only=True)
    assert {"format", "asrkit_version", "recipe", "model", "tokenizer", "metrics", "training"} <= last.keys()
    assert "training" not in best and best["recipe"] == resolved
    training = last["training"]
    assert {"optimizer", "schedule", "scaler", "sampler", "rng", "state", "world_size"} <= training.keys()
    assert training["state"]["epoch"] == 20 and training["state"]["step"] == 80
    assert best["metrics"]["best_epoch"] == last["training"]["state"]["best_epoch"] == best["step"] / 4
    assert last["step"] == 80


def test_evaluate_from_the_checkpoint_alone(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(trained / "checkpoints" / "best.pt", alone / "model.pt")
    monkeypatch.chdir(alone)  # nothing of the run, nor the recipe's relative data paths, is reachable from here
    manifest = alone / "test.jsonl"
    lines = []
    for audio in sorted((CORPUS / "LibriSpeech" / "test-clean").rglob("*.flac")):
        transcripts = (audio.parent / f"{audio.parent.parent.name}-{audio.parent.name}.trans.txt").read_text()
        text = dict(line.split(" ", 1) for line in transcripts.splitlines())[audio.stem]
        lines.append(json.dumps({"audio_filepath": str(audio), "duration": 1.0, "text": text}))
    manifest.write_text("\n".join(lines) + "\n")
    result = invoke(
        "evaluate", "model.pt", "--data", f"{CORPUS}:train-clean-100", "--data", str(manifest), "--out", "ev", "--quiet"
    )
    assert result.exit_code == 0, result.output
    run_results = json.loads((trained / "results.json").read_text())
    scored = json.loads((alone / "ev" / "results.json").read_text())["test"]
    assert [r["set"] for r in scored] == ["train-clean-100", "test"]
    assert scored[0]["wer"] == pytest.approx(run_results["valid"][0]["wer"])
    assert scored[1]["wer"] == pytest.approx(run_results["test"][0]["wer"])
    assert (alone / "ev" / "test.greedy.hyp.jsonl").exists()
    assert "train-clean-100" in result.output and "WER" in result.output


def test_transcribe_from_the_checkpoint_alone(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(trained / "checkpoints" / "best.pt", tmp_path / "model.pt")
    monkeypatch.chdir(tmp_path)
    hyps = {h["id"]: h["hyp"] for h in read_jsonl(trained / "test-clean.greedy.hyp.jsonl")}
    files = sorted(str(p) for p in (CORPUS / "LibriSpeech" / "test-clean").rglob("*.flac"))

    several = invoke("transcribe", "model.pt", *files, "--device", "cpu")
    assert several.exit_code == 0, several.output
    assert several.output.splitlines() == [f"{f}\t{hyps[Path(f).stem]}" for f in files]

    one = invoke("transcribe", "model.pt", files[0])
    assert one.output == hyps[Path(files[0]).stem] + "\n"

    timed = invoke("transcribe", "model.pt", files[0], "missing.wav", "--json", "--timestamps")
    assert timed.exit_code == 1  # a file failed; the other is still transcribed
    first, missing = (json.loads(line) for line in timed.stdout.splitlines())
    assert first["text"] == hyps[Path(files[0]).stem]
    assert " ".join(w["word"] for w in first["words"]) == first["text"]
    assert all(0 <= w["start"] <= w["end"] <= first["duration"] + 0.05 for w in first["words"])
    assert missing["path"] == "missing.wav" and "missing.wav" in missing["error"]

    quantized = invoke("transcribe", "model.pt", *files, "--quantize")
    assert quantized.exit_code == 0, quantized.output
    assert [line.split("\t")[0] for line in quantized.output.splitlines()] == files


def test_evaluate_quantized(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(trained / "checkpoints" / "best.pt", tmp_path / "model.pt")
    monkeypatch.chdir(tmp_path)
    result = invoke(
        "evaluate", "model.pt", "--data", f"{CORPUS}:train-clean-100", "--quantize", "--quiet", "--out", "q"
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "q" / "results.json").read_text())["test"][0]["utterances"] > 0


def write_bigram_arpa(path: Path, words: list[str]) -> None:
    """A small ARPA language model over ``words`` (KenLM needs at least bigrams)."""
    unigrams = ["-1.0\t<unk>\t0", "-99\t<s>\t0", "-1.0\t</s>\t0", *(f"-1.3\t{w}\t0" for w in words)]
    bigrams = [f"-0.5\t<s> {w}" for w in words] + [f"-0.5\t{w} </s>" for w in words]
    path.write_text(
        f"\\data\\\nngram 1={len(unigrams)}\nngram 2={len(bigrams)}\n\n\\1-grams:\n"
        + "\n".join(unigrams)
        + "\n\n\\2-grams:\n"
        + "\n".join(bigrams)
        + "\n\n\\end\\\n"
    )


@pytest.mark.parametrize("recipe", ["librispeech100", "librispeech100_wordpiece", "librispeech100_lm"])
def test_the_librispeech_recipes_run(environment: None, recipe: str, tmp_path: Path) -> None:
    overrides = [
        f"data.{split}.{i}.{key}"
        for split, i in [("train", 0), ("valid", 0), ("test", 0), ("test", 1)]
        for key in ("root", "download")
    ]
    values = [str(CORPUS), "false"] * 4
    settings = [f"{key}={value}" for key, value in zip(overrides, values, strict=True)]
    small = ["encoder.n_cnn_layers=1", "encoder.n_rnn_layers=1", "encoder.rnn_dim=32", "encoder.cnn_channels=8"]
    run_only = ["train.epochs=1", "train.num_workers=0", "loggers=[{name: console}, {name: jsonl}]"]
    if recipe.endswith("_lm"):
        write_bigram_arpa(tmp_path / "lm.arpa", ["zero", "one", "two", "three", "up", "down", "yes", "no"])
        run_only += [f"decoder.lm_path={tmp_path / 'lm.arpa'}", "decoder.num_processes=1"]
    run_dir = tmp_path / "run"
    result = invoke("run", f"recipes/{recipe}.yaml", *settings, *small, *run_only, "--out", str(run_dir), "--quiet")
    assert result.exit_code == 0, result.output
    results = json.loads((run_dir / "results.json").read_text())
    decoders = ["greedy", "beam"] if recipe.endswith("_lm") else ["greedy"]
    tested = [(r["set"], r["decoder"]) for r in results["test"]]
    assert tested == [(s, d) for s in ("test-clean", "test-other") for d in decoders]
    assert [r["set"] for r in results["valid"]] == ["dev-clean"]
    checkpoint = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)
    if recipe.endswith("_wordpiece"):
        assert checkpoint["tokenizer"]["model"].dtype == torch.uint8  # the learnt vocabulary travels along


SAME_BATCHES = "tests/fixtures/tiny_same_batches.yaml"


def test_accumulated_gradients_equal_a_larger_batch(environment: None, tmp_path: Path) -> None:
    finals = []
    for name, batching in [("big", ["train.batch.max_utterances=4"]), ("accumulated", ["train.accumulate_grad=2"])]:
        result = invoke("run", SAME_BATCHES, "data.valid=[]", *batching, "--out", str(tmp_path / name), "--quiet")
        assert result.exit_code == 0, result.output
        finals.append(torch.load(tmp_path / name / "checkpoints" / "last.pt", weights_only=True))
    assert [f["training"]["state"]["step"] for f in finals] == [2, 2]
    for key, tensor in finals[0]["model"].items():
        torch.testing.assert_close(finals[1]["model"][key], tensor, rtol=1e-5, atol=1e-6, msg=key)


def test_feature_statistics_are_fitted_before_training_and_saved(environment: None, tmp_path: Path) -> None:
    result = invoke("run", TINY, "features.normalize=global", "--out", str(tmp_path / "run"), "--quiet")
    assert result.exit_code == 0, result.output
    model = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)["model"]
    assert model["features.std"].shape == (32,) and bool((model["features.std"] > 0).all())
    assert bool(model["features.mean"].abs().sum() > 0)


def test_skipped_utterances_make_one_warning_line_per_epoch(environment: None, tmp_path: Path) -> None:
    entries = [{"audio_filepath": str(p), "duration": 1.0, "text": "yes"} for p in sorted(CORPUS.rglob("*.flac"))[:4]]
    broken = ROOT / "tests" / "fixtures" / "audio" / "corrupt.flac"
    entries += [
        {"audio_filepath": str(broken), "duration": 1.0, "text": "no"},  # found unreadable while training
        {"audio_filepath": entries[0]["audio_filepath"], "duration": 1.0, "text": "1,000!"},  # nothing to say
    ]
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))
    data = [f"data.train=[{{name: manifest, path: {manifest}}}]", "data.valid=[]", "data.test=[]", "train.epochs=2"]
    result = invoke("run", TINY, *data, "--out", str(tmp_path / "run"), "--quiet")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, result.output
    for epoch, line in enumerate(warnings, start=1):
        assert line.startswith(f"warning: epoch {epoch}: skipped 2 of 6 utterances: 1 unreadable (first: ")
        assert "corrupt.flac), 1 empty transcript (first: " in line and line.endswith("skipped.jsonl")
    logged = [json.loads(line) for line in (tmp_path / "run" / "skipped.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["reason"]) for r in logged] == [
        (e, r) for e in (1, 2) for r in ("unreadable", "empty transcript")
    ]
    assert logged[0]["path"] == str(broken)
