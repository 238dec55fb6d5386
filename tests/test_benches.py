"""The training-throughput and transcription-RTF benchmarks run end to end in --quick mode and report their figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
REFERENCE = Path(__file__).resolve().parent.parent.parent / "shared" / "baseline" / "seed_tutorial.py"


def run_bench(script: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_train_throughput_quick() -> None:
    report = run_bench("train_throughput.py")
    for key in ("audio_s_per_s", "utterances_per_s", "data_wait_fraction", "seconds_per_step", "padding_fraction"):
        assert isinstance(report[key], float) and report[key] >= 0, key
    assert report["audio_s_per_s"] > 0 and 0 <= report["data_wait_fraction"] < 1
    assert report["steps"] == 2 and report["device"] == "cpu" and report["peak_gpu_memory_mb"] is None
    assert report["precision"] == "fp32" and report["max_seconds"] == 6.0
    assert report["torch"] and "cudnn" in report and report["parameters"] > 0
    if REFERENCE.is_file():  # the tutorial's script, beside the repository
        reference = report["reference"]
        assert "error" not in reference, reference
        assert reference["params"] == report["parameters"]  # the same model, built two ways
        assert reference["ratio"] == pytest.approx(report["audio_s_per_s"] / reference["audio_s_per_s"], rel=0.01)


@pytest.mark.slow
def test_transcribe_rtf_quick(repo_root: Path) -> None:
    data = f"{repo_root / 'tests' / 'fixtures' / 'librispeech'}:test-clean"
    report = run_bench("transcribe_rtf.py", "--wer-data", data)
    settings = report["settings"]
    assert [(s["decoder"], s["quantize"]) for s in settings] == [("greedy", False), ("greedy", True), ("beam", False)]
    for setting in settings:
        assert "error" not in setting, setting
        assert 0 < setting["rtf_best"] <= setting["rtf_median"]
        assert setting["peak_rss_mb"] > 50 and setting["threads"] == 1
    assert report["audio_seconds"] == pytest.approx(4.0)
    cost = report["wer_cost"]
    assert cost["fp32"]["utterances"] == cost["int8"]["utterances"] > 0
    assert cost["wer_increase"] == pytest.approx(cost["int8"]["wer"] - cost["fp32"]["wer"], abs=1e-3)


def test_encoder_speed_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "encoder_speed.py"), "--quick", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    measured = {(line["lengths"], line["pass"], line["gru_input"]) for line in lines}
    assert len(lines) == len(measured) == 8  # 2 batches × 2 passes × 2 GRU forms
    assert all(line["wall_s"] > 0 and line["audio_seconds"] > 0 for line in lines)


@pytest.mark.slow
def test_train_sweep_quick_prints_a_row_per_setting(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    command = [sys.executable, str(BENCH / "train_sweep.py"), "--quick", "--steps", "1", "--warmup", "1"]
    command += ["--settings", "fp32", "fp16+padded", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| setting | precision | audio s/s")
    assert [r.split(" | ")[0] for r in rows[2:]] == ["| fp32", "| fp16+padded"]  # after the header and its rule
    reports = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["setting"] for r in reports] == ["fp32", "fp16+padded"]
    assert all(r["audio_s_per_s"] > 0 and r["steps"] == 1 for r in reports)
    assert "encoder.train_rnn=padded" in reports[1]["overrides"]


def test_confidence_auc_reports_each_decoder(random_checkpoint: Path, repo_root: Path) -> None:
    data = f"{repo_root / 'tests' / 'fixtures' / 'librispeech'}:test-clean"
    done = subprocess.run(
        [sys.executable, str(BENCH / "confidence_auc.py"), "--checkpoint", str(random_checkpoint), "--data", data],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["utterances"] == 3
    for decoder in ("greedy", "beam"):
        counts = report[decoder]
        assert counts["right_words"] + counts["wrong_words"] > 0  # a random model says something
        assert 0.0 <= counts["mean_confidence_wrong"] <= 1.0


@pytest.mark.slow
def test_serve_load_compares_batched_and_one_at_a_time(random_checkpoint: Path) -> None:
    command = [sys.executable, str(BENCH / "serve_load.py"), "--checkpoint", str(random_checkpoint)]
    command += ["--clients", "3", "--requests", "6", "--rounds", "1", "--segment", "fixed"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=BENCH.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    for mode in ("batched", "one_at_a_time"):
        figures = report[mode]
        assert figures["errors"] == 0 and figures["requests_per_s"] > 0 and figures["audio_s_per_s"] > 0
        assert 0 < figures["latency_p50_s"] <= figures["latency_p95_s"]
    assert report["one_at_a_time"]["mean_batch_size"] == 1.0
    assert report["batching_gain"] == pytest.approx(
        report["batched"]["requests_per_s"] / report["one_at_a_time"]["requests_per_s"], abs=0.01
    )
