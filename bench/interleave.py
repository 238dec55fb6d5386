"""Interleaved timing: every speed comparison in ``bench/`` runs its settings A B A B …, each run its own process.

On a shared machine the load changes from minute to minute (2× swings on
the 2-core development machine), so two figures measured minutes apart
cannot be compared. Here every round runs each setting once, in a fresh
process (no compile cache, allocator or page cache state carried from one
setting to the next), so slow periods hit all settings alike; the summary
gives per setting the best and median of its rounds, the load average seen
around its runs, and ratios between settings taken from the same rounds.

A setting is a command whose standard output is one JSON object (or ends
with a JSON line); the figure compared is read from it by a dotted key path
(``"audio_s_per_s"``, ``"reference.audio_s_per_s"``).

    runs = interleave([Setting("a", (...)), Setting("b", (...))], rounds=3)
    summaries = summarize(runs, "audio_s_per_s", higher_is_better=True)
    print(markdown_table(summaries, baseline="b", unit="audio s/s"))
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass(frozen=True)
class Setting:
    """One thing to time: a name, the command that measures it (printing JSON), extra environment variables."""

    name: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """One process of one setting in one round: its JSON report, or the one-line reason it has none."""

    setting: str
    round: int
    report: dict[str, Any] | None
    error: str | None
    wall_s: float
    load_before: float
    load_after: float


@dataclass(frozen=True)
class Summary:
    """A setting's figure over its rounds: best, median and worst, and the 1-minute load average around its runs."""

    setting: str
    runs: int
    best: float | None
    median: float | None
    worst: float | None
    load_min: float
    load_max: float
    errors: tuple[str, ...]


def parse_report(stdout: str) -> dict[str, Any]:
    """The JSON object a benchmark printed: the whole output, or else its last line that is one."""
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        lines = [line for line in stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise
        return json.loads(lines[-1])


def run_once(setting: Setting, round_index: int, timeout: float) -> Run:
    """Run ``setting``'s command once in a fresh process."""
    load_before, start = os.getloadavg()[0], time.perf_counter()
    report, error = None, None
    try:
        done = subprocess.run(
            list(setting.command),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, **setting.env},
        )
        if done.returncode != 0:
            error = f"exit {done.returncode}: {(done.stderr.strip().splitlines() or ['no output'])[-1]}"
        else:
            report = parse_report(done.stdout)
    except subprocess.TimeoutExpired:
        error = f"timed out after {timeout:.0f} s"
    except json.JSONDecodeError:
        error = "printed no JSON report"
    wall = time.perf_counter() - start
    return Run(setting.name, round_index, report, error, round(wall, 2), load_before, os.getloadavg()[0])


def interleave(
    settings: Sequence[Setting],
    rounds: int,
    *,
    timeout: float = 900.0,
    budget_s: float | None = None,
    log: TextIO | None = sys.stderr,
) -> list[Run]:
    """``rounds`` rounds of every setting in turn (A B A B …); stop early when the next round would pass ``budget_s``.

    At least one round always runs. With a budget, a round is started only
    if the time so far plus the longest round so far still fits in it.
    """
    if len({s.name for s in settings}) != len(settings):
        raise ValueError("setting names must be unique")
    runs: list[Run] = []
    start, longest_round = time.perf_counter(), 0.0
    for round_index in range(rounds):
        elapsed = time.perf_counter() - start
        if budget_s is not None and round_index > 0 and elapsed + longest_round > budget_s:
            if log is not None:
                print(f"stopping after {round_index} rounds: another would pass the {budget_s:.0f} s budget", file=log)
            break
        round_start = time.perf_counter()
        for setting in settings:
            run = run_once(setting, round_index, timeout)
            runs.append(run)
            if log is not None:
                shown = run.error or f"{run.wall_s:.1f} s"
                print(
                    f"round {round_index + 1}/{rounds} {setting.name}: {shown} (load {run.load_before:.2f})", file=log
                )
                log.flush()
        longest_round = max(longest_round, time.perf_counter() - round_start)
    return runs


def value(report: Mapping[str, Any], path: str) -> float | None:
    """The number at a dotted key path of a report, or None where the path is missing or not a number."""
    node: Any = report
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def summarize(runs: Sequence[Run], metric: str | Mapping[str, str], *, higher_is_better: bool) -> dict[str, Summary]:
    """Per setting, in the order first run: best, median and worst of ``metric`` (one path, or a path per setting)."""
    grouped: dict[str, list[Run]] = {}
    for run in runs:
        grouped.setdefault(run.setting, []).append(run)
    summaries = {}
    for name, group in grouped.items():
        path = metric if isinstance(metric, str) else metric[name]
        figures = [v for r in group if r.report is not None and (v := value(r.report, path)) is not None]
        errors = tuple(
            r.error or f"no {path} in the report" for r in group if r.report is None or value(r.report, path) is None
        )
        ordered = sorted(figures, reverse=higher_is_better)
        loads = [load for r in group for load in (r.load_before, r.load_after)]
        summaries[name] = Summary(
            setting=name,
            runs=len(figures),
            best=ordered[0] if ordered else None,
            median=statistics.median(ordered) if ordered else None,
            worst=ordered[-1] if ordered else None,
            load_min=min(loads),
            load_max=max(loads),
            errors=errors,
        )
    return summaries


def speedup(setting: Summary, baseline: Summary, *, higher_is_better: bool) -> tuple[float, float] | None:
    """How many times faster ``setting`` is than ``baseline``: (median over median, best over best)."""
    if None in (setting.median, baseline.median, setting.best, baseline.best):
        return None
    if higher_is_better:
        return setting.median / baseline.median, setting.best / baseline.best
    return baseline.median / setting.median, baseline.best / setting.best


def paired_speedups(
    runs: Sequence[Run], setting: str, baseline: str, metric: str | Mapping[str, str], *, higher_is_better: bool
) -> list[float]:
    """Round by round, how many times faster ``setting`` was than ``baseline`` (rounds where both have a figure)."""
    by_round: dict[int, dict[str, float]] = {}
    for run in runs:
        path = metric if isinstance(metric, str) else metric[run.setting]
        if run.report is not None and (v := value(run.report, path)) is not None:
            by_round.setdefault(run.round, {})[run.setting] = v
    ratios = []
    for figures in by_round.values():
        if setting in figures and baseline in figures:
            a, b = figures[setting], figures[baseline]
            ratios.append(a / b if higher_is_better else b / a)
    return ratios


def load_range(runs: Sequence[Run]) -> str:
    """The 1-minute load averages seen around the runs, as ``low–high``."""
    loads = [load for r in runs for load in (r.load_before, r.load_after)]
    return f"{min(loads):.1f}–{max(loads):.1f}" if loads else "–"


def markdown_table(
    summaries: Mapping[str, Summary],
    *,
    baseline: str | None,
    unit: str,
    higher_is_better: bool,
    digits: int = 2,
) -> str:
    """One row per setting: runs, best, median, load, and the speedup over ``baseline`` (median, best)."""
    base = summaries.get(baseline) if baseline else None
    label = f"× {baseline} (median, best)" if base else "×"
    lines = [
        f"| setting | runs | best {unit} | median {unit} | load | {label} |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for summary in summaries.values():
        if summary.best is None:
            lines.append(f"| {summary.setting} | 0 | {summary.errors[0] if summary.errors else '–'} | | | |")
            continue
        ratio = speedup(summary, base, higher_is_better=higher_is_better) if base else None
        shown = "–" if ratio is None else f"{ratio[0]:.2f}, {ratio[1]:.2f}"
        lines.append(
            f"| {summary.setting} | {summary.runs} | {summary.best:.{digits}f} | {summary.median:.{digits}f} "
            f"| {summary.load_min:.1f}–{summary.load_max:.1f} | {shown} |"
        )
    return "\n".join(lines)
