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
        [sys.executable, str(BENCH / script), "--quick", *args], capture_output=True, text=True, timeout=600
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
    assert report["load_average"] >= 0


@pytest.mark.slow
def test_transcribe_rtf_quick(repo_root: Path) -> None:
    data = f"{repo_root / 'tests' / 'fixtures' / 'librispeech'}:test-clean"
    report = run_bench("transcribe_rtf.py", "--wer-data", data)
    settings = report["settings"]
    assert [(s["backend"], s["decoder"], s["quantize"]) for s in settings] == [
        ("torch", "greedy", False),
        ("torch", "greedy", True),
        ("onnx-int8", "greedy", False),
        ("torch", "beam", False),
    ]
    assert report["rounds"] == 2
    for setting in settings:
        assert "error" not in setting, setting
        assert setting["runs"] == 2 and 0 < setting["rtf_best"] <= setting["rtf_median"]
        assert setting["peak_rss_mb"] > 50 and setting["threads"] == 1
        assert len(setting["speedups_by_round"]) == 2 and setting["speedup_over_first"] > 0
    assert settings[0]["speedups_by_round"] == [1.0, 1.0]  # the first setting is the baseline
    assert report["audio_seconds"] == pytest.approx(4.0)
    cost = report["wer_cost"]
    assert cost["fp32"]["utterances"] == cost["int8"]["utterances"] > 0
    assert cost["wer_increase"] == pytest.approx(cost["int8"]["wer"] - cost["fp32"]["wer"], abs=1e-3)


@pytest.mark.slow
def test_encoder_speed_quick_interleaves_the_three_forms() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "encoder_speed.py"), "--quick", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert [line.split(":")[0] for line in done.stderr.splitlines() if line.startswith("round")] == [
        "round 1/2 packed",
        "round 1/2 padded",
        "round 1/2 fused",
        "round 2/2 packed",
        "round 2/2 padded",
        "round 2/2 fused",
    ]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert {(line["pass"], line["lengths"]) for line in lines} == {
        (p, n) for p in ("inference", "training") for n in ("equal", "spread")
    }
    for line in lines:
        assert 0 < line["packed_best_s"] <= line["packed_median_s"] and line["padded_best_s"] > 0
        assert line["fused_best_s"] > 0 and len(line["fused_speedup_by_round"]) == 2
        assert line["rounds"] == 2 and len(line["padded_speedup_by_round"]) == 2 and line["threads"] == 1


@pytest.mark.slow
@pytest.mark.skipif(not REFERENCE.is_file(), reason="needs ../shared/baseline/seed_tutorial.py beside the repository")
def test_train_sweep_quick_interleaves_asrkit_and_the_reference(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    command = [sys.executable, str(BENCH / "train_sweep.py"), "--quick", "--steps", "1", "--warmup", "1"]
    command += ["--rounds", "2", "--settings", "packed", "reference", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| setting | runs | best audio s/s | median audio s/s | × reference")
    assert [r.split(" | ")[:2] for r in rows[2:]] == [["| packed", "2"], ["| reference", "2"]]
    assert rows[3].split(" | ")[4] == "1.00 (1.00–1.00)"  # the reference over itself, round by round
    reports = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["setting"], r["round"]) for r in reports] == [
        ("packed", 0),
        ("reference", 0),
        ("packed", 1),
        ("reference", 1),
    ]
    ours, theirs = reports[0], reports[1]
    assert ours["error"] is None and "encoder.train_rnn=packed" in ours["overrides"] and ours["steps"] == 1
    assert theirs["error"] is None and theirs["params"] == ours["parameters"]  # the same model, built two ways
    assert theirs["audio_s_per_s"] == pytest.approx(theirs["train_audio_s"] / theirs["epoch_s_best"])


@pytest.mark.slow
def test_profile_step_quick_splits_the_step_into_stages() -> None:
    report = run_bench("profile_step.py", "--set", "encoder.train_rnn=packed")  # packed: the GRU layers are hooked
    stages = report["stages"]
    for stage in ("forward/features", "forward/encoder.rnns", "forward/rest", "backward", "optimizer", "data wait"):
        assert stages[stage]["s"] >= 0, stage
    assert sum(s["share"] for s in stages.values()) == pytest.approx(1.0, abs=0.01)
    assert report["audio_s_per_s"] > 0 and report["top_operators_self_cpu"][0]["share"] > 0


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
