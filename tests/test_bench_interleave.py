"""bench/interleave.py: settings run A B A B in separate processes, summaries and same-round ratios are right."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from interleave import (
    Run,
    Setting,
    interleave,
    markdown_table,
    paired_speedups,
    parse_report,
    summarize,
    value,
)


def printing(name: str, log: Path, report: dict) -> Setting:
    """A setting whose process appends its name to ``log`` (the order runs happen in) and prints ``report``."""
    code = f"open({str(log)!r}, 'a').write({name!r} + ' '); print({json.dumps(json.dumps(report))})"
    return Setting(name, (sys.executable, "-c", code))


def run(setting: str, round_index: int, rate: float | None, error: str | None = None) -> Run:
    report = None if rate is None else {"rate": rate, "nested": {"rate": rate * 10}}
    return Run(setting, round_index, report, error, 1.0, 0.5, 1.5)


def test_settings_run_interleaved_in_separate_processes(tmp_path: Path) -> None:
    log = tmp_path / "order"
    settings = [printing("a", log, {"rate": 1}), printing("b", log, {"rate": 2})]
    runs = interleave(settings, rounds=3, log=io.StringIO())
    assert log.read_text().split() == ["a", "b", "a", "b", "a", "b"]
    assert [(r.setting, r.round) for r in runs] == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert all(r.report == {"rate": 1 if r.setting == "a" else 2} and r.error is None for r in runs)


def test_a_failing_setting_is_recorded_and_the_others_run_on(tmp_path: Path) -> None:
    broken = Setting("broken", (sys.executable, "-c", "import sys; sys.exit('bad flag')"))
    silent = Setting("silent", (sys.executable, "-c", "print('no json here')"))
    runs = interleave([broken, silent, printing("ok", tmp_path / "log", {"rate": 3})], rounds=1, log=None)
    assert runs[0].error == "exit 1: bad flag" and runs[0].report is None
    assert runs[1].error == "printed no JSON report"
    assert runs[2].report == {"rate": 3}


def test_the_budget_stops_starting_rounds_but_one_always_runs(tmp_path: Path) -> None:
    settings = [printing("a", tmp_path / "log", {"rate": 1})]
    log = io.StringIO()
    runs = interleave(settings, rounds=5, budget_s=0.0, log=log)
    assert len(runs) == 1 and "stopping after 1 rounds" in log.getvalue()


def test_duplicate_setting_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        interleave([Setting("a", ("true",)), Setting("a", ("true",))], rounds=1, log=None)


def test_parse_report_takes_the_whole_output_or_its_last_json_line() -> None:
    assert parse_report('{\n  "a": 1\n}\n') == {"a": 1}
    assert parse_report('epoch 1 loss 3.2\n{"a": 2}\n{"a": 3}\n') == {"a": 3}


def test_value_reads_a_dotted_path_and_only_numbers() -> None:
    report = {"a": {"b": 2}, "flag": True, "text": "x"}
    assert value(report, "a.b") == 2.0
    assert value(report, "a.c") is None and value(report, "flag") is None and value(report, "text") is None


def test_summaries_give_best_median_and_load_per_setting() -> None:
    runs = [run("a", 0, 2.0), run("b", 0, 1.0), run("a", 1, 4.0), run("b", 1, None, "timed out"), run("a", 2, 3.0)]
    summaries = summarize(runs, "rate", higher_is_better=True)
    assert list(summaries) == ["a", "b"]
    a, b = summaries["a"], summaries["b"]
    assert (a.runs, a.best, a.median, a.worst) == (3, 4.0, 3.0, 2.0)
    assert (b.runs, b.best, b.errors) == (1, 1.0, ("timed out",))
    assert (a.load_min, a.load_max) == (0.5, 1.5)
    times = summarize(runs, "rate", higher_is_better=False)["a"]
    assert (times.best, times.worst) == (2.0, 4.0)  # for a time, the smallest is the best
    nested = summarize(runs, {"a": "nested.rate", "b": "rate"}, higher_is_better=True)
    assert nested["a"].best == 40.0 and nested["b"].best == 1.0


def test_ratios_come_from_the_same_rounds() -> None:
    runs = [
        run("a", 0, 2.0),
        run("b", 0, 1.0),
        run("a", 1, 9.0),
        run("b", 1, None, "x"),
        run("a", 2, 3.0),
        run("b", 2, 2.0),
    ]
    assert paired_speedups(runs, "a", "b", "rate", higher_is_better=True) == [2.0, 1.5]
    assert paired_speedups(runs, "a", "b", "rate", higher_is_better=False) == [0.5, pytest.approx(2 / 3)]
    table = markdown_table(
        summarize(runs, "rate", higher_is_better=True), baseline="b", unit="x/s", higher_is_better=True
    )
    lines = table.splitlines()
    assert lines[0] == "| setting | runs | best x/s | median x/s | load | × b (median, best) |"
    assert lines[2] == "| a | 3 | 9.00 | 3.00 | 0.5–1.5 | 2.00, 4.50 |"
    assert lines[3] == "| b | 2 | 2.00 | 1.50 | 0.5–1.5 | 1.00, 1.00 |"
