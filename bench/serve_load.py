"""Load on ``asrkit serve`` over loopback: dynamic batching against one-at-a-time, side by side; prints JSON.

Starts two servers on 127.0.0.1 from the same checkpoint, each with the same
``--threads``: ``batched`` (segments of concurrent requests share a batch,
waiting at most ``--max-wait-ms``) and ``one_at_a_time`` (``--max-batch-size
1 --max-wait-ms 0``). Then, for ``--rounds`` rounds and alternating the two
(A B A B, so that a change in the machine's load hits both), ``--clients``
concurrent clients upload the demo test files (``POST /transcribe``) until
``--requests`` requests are done. Reported per server, over all rounds:
requests/s, audio seconds per second, p50 and p95 latency, the mean batch
size (from ``/health``) and errors; and the gain of batching in
requests/s. Only one server works at a time.

    .venv/bin/python bench/serve_load.py --checkpoint runs/mini-*/checkpoints/best.pt
    .venv/bin/python bench/serve_load.py --checkpoint best.pt --clients 16 --requests 200 --rounds 3
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import soundfile

MODES = {
    "batched": ["--max-batch-size", "32"],
    "one_at_a_time": ["--max-batch-size", "1", "--max-wait-ms", "0"],
}


def start_server(checkpoint: str, extra: list[str], threads: int, log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "asrkit", "serve", checkpoint, "--port", str(port), "--device", "cpu"]
    command += ["--threads", str(threads), *extra]
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            health(url)
            return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                sys.exit(f"server did not start:\n{log.read_text()}")
            time.sleep(0.3)


def health(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
        return json.load(response)


def upload(url: str, body: bytes) -> tuple[float, bool]:
    """Seconds the request took, and whether it succeeded."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "audio/flac"}, method="POST")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            ok = response.status == 200 and "text" in json.load(response)
    except (urllib.error.URLError, OSError):
        ok = False
    return time.perf_counter() - start, ok


def load_round(url: str, files: list[tuple[bytes, float]], clients: int, requests: int, segment: str) -> dict:
    """``requests`` uploads from ``clients`` concurrent clients; latencies, wall time, audio seconds, errors."""
    before = health(url)
    target = f"{url}/transcribe?segment={segment}"
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        picks = [files[i % len(files)] for i in range(requests)]
        results = list(pool.map(lambda pick: upload(target, pick[0]), picks))
    wall = time.perf_counter() - start
    after = health(url)
    return {
        "wall": wall,
        "latencies": [seconds for seconds, ok in results if ok],
        "errors": sum(not ok for _, ok in results),
        "audio_seconds": sum(pick[1] for pick in picks),
        "batches": after["batches"] - before["batches"],
        "waveforms": after["waveforms"] - before["waveforms"],
    }


def summary(rounds: list[dict]) -> dict:
    wall = sum(r["wall"] for r in rounds)
    latencies = sorted(x for r in rounds for x in r["latencies"])
    done = len(latencies)
    return {
        "requests_per_s": round(done / wall, 2),
        "audio_s_per_s": round(sum(r["audio_seconds"] for r in rounds) / wall, 2),
        "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "latency_p95_s": round(latencies[min(done - 1, int(0.95 * done))], 3) if latencies else None,
        "mean_batch_size": round(sum(r["waveforms"] for r in rounds) / max(1, sum(r["batches"] for r in rounds)), 2),
        "requests_per_s_by_round": [round(len(r["latencies"]) / r["wall"], 2) for r in rounds],
        "errors": sum(r["errors"] for r in rounds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--audio", type=Path, default=Path("data/demo/LibriSpeech/test"))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=96, help="per server and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each server")
    parser.add_argument("--segment", choices=["vad", "fixed"], default="vad")
    args = parser.parse_args()
    paths = sorted(args.audio.rglob("*.flac"))
    files = [(path.read_bytes(), soundfile.info(path).duration) for path in paths]
    rounds: dict[str, list[dict]] = {mode: [] for mode in MODES}
    with ExitStack() as stack, tempfile.TemporaryDirectory() as logs:
        servers = {}
        for mode, extra in MODES.items():
            process, url = start_server(args.checkpoint, extra, args.threads, Path(logs) / f"{mode}.log")
            stack.callback(process.wait, 30)
            stack.callback(process.terminate)
            servers[mode] = url
        for url in servers.values():  # warm up: the first requests load the VAD and fill caches
            load_round(url, files, args.clients, args.clients, args.segment)
        for _ in range(args.rounds):
            for mode, url in servers.items():
                rounds[mode].append(load_round(url, files, args.clients, args.requests, args.segment))
    report = {
        "checkpoint": args.checkpoint,
        "clients": args.clients,
        "requests_per_round": args.requests,
        "rounds": args.rounds,
        "segment": args.segment,
        "threads": args.threads,
        "mean_request_audio_s": round(sum(d for _, d in files) / len(files), 3),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        **{mode: summary(found) for mode, found in rounds.items()},
    }
    report["batching_gain"] = round(report["batched"]["requests_per_s"] / report["one_at_a_time"]["requests_per_s"], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
