"""``asrkit serve`` as a real uvicorn subprocess on 127.0.0.1: uploads, refusals, WebSocket, batching, the page."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

pytestmark = pytest.mark.slow

DEMO_TEST = Path(__file__).resolve().parent.parent / "data" / "demo" / "LibriSpeech" / "test"
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(random_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a running ``asrkit serve`` (batching on, 1 MB upload and 20 s audio limits)."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    command = [sys.executable, "-m", "asrkit", "serve", str(random_checkpoint), "--port", str(port), "--threads", "1"]
    command += ["--max-upload-mb", "1", "--max-audio-seconds", "20", "--max-wait-ms", "200", "--device", "cpu"]
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if json.load(response)["status"] == "ok":
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start:\n{log.read_text()}")
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def post(url: str, body: bytes, content_type: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def multipart(name: str, data: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = "asrkit-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    )
    return head.encode() + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def demo_files(count: int) -> list[Path]:
    return sorted(DEMO_TEST.rglob("*.flac"))[:count]


def test_upload_gives_the_transcribe_json(server: str) -> None:
    audio = demo_files(1)[0]
    body, kind = multipart(audio.name, audio.read_bytes(), "audio/flac")
    status, record = post(f"{server}/transcribe?segment=vad", body, kind)
    assert status == 200, record
    assert record["path"] == audio.name and record["duration"] == pytest.approx(soundfile.info(audio).duration, 1e-3)
    assert set(record) >= {"text", "score", "words", "segments"}
    assert all(0 <= w["start"] <= w["end"] <= record["duration"] + 0.1 for w in record["words"])
    raw_status, raw = post(f"{server}/transcribe?segment=fixed", audio.read_bytes(), "audio/flac")
    assert raw_status == 200 and raw["duration"] == record["duration"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (b"hello, not audio", "audio/wav", 415, "not audio that asrkit can read"),
        (b"RIFF", "text/plain", 415, "content type text/plain is not audio"),
    ],
)
def test_bad_uploads_get_a_4xx_with_one_line(
    server: str, body: bytes, content_type: str, status: int, reason: str
) -> None:
    got, record = post(f"{server}/transcribe", body, content_type)
    assert got == status and reason in record["error"] and "\n" not in record["error"]


def test_a_too_large_upload_is_refused_before_its_body_is_read(server: str) -> None:
    # Only the headers are sent: the server answers from Content-Length alone. (A client still sending
    # a large body when the refusal comes may see the connection closed under it instead of the answer.)
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        head = f"POST /transcribe HTTP/1.1\r\nHost: {host}\r\nContent-Type: audio/wav\r\n"
        connection.sendall(f"{head}Content-Length: {2 * 2**20}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"413"
    body = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert body == {"error": "upload is 2097152 bytes, the limit is 1048576 bytes"}


def test_too_long_audio_and_bad_options_are_refused(server: str, tmp_path: Path) -> None:
    long = tmp_path / "long.flac"
    soundfile.write(long, np.zeros(16000 * 25, np.float32), 16000)  # small as FLAC, 25 s long
    status, record = post(f"{server}/transcribe", long.read_bytes(), "audio/flac")
    assert status == 413 and record["error"] == "audio is 25 s long, the limit is 20 s"
    body, kind = multipart("notes.txt", b"just text", "text/plain")
    status, record = post(f"{server}/transcribe", body, kind)
    assert status == 415 and "content type text/plain" in record["error"]
    status, record = post(f"{server}/transcribe?segment=sometimes", demo_files(1)[0].read_bytes(), "audio/flac")
    assert status == 422 and record["error"].startswith("segment:")
    status, record = post(f"{server}/transcribe?nbest=3", demo_files(1)[0].read_bytes(), "audio/flac")
    assert status == 422 and "at most 1" in record["error"]
    with urllib.request.urlopen(f"{server}/health", timeout=5) as response:
        assert json.load(response)["status"] == "ok"  # none of it took the server down


def test_concurrent_requests_share_batches(server: str) -> None:
    files = demo_files(8)
    with urllib.request.urlopen(f"{server}/health", timeout=5) as response:
        before = json.load(response)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda f: post(f"{server}/transcribe?segment=fixed", f.read_bytes(), "audio/flac"), files)
        )
    assert [status for status, _ in results] == [200] * 8
    alone = [post(f"{server}/transcribe?segment=fixed", f.read_bytes(), "audio/flac")[1]["text"] for f in files]
    assert [record["text"] for _, record in results] == alone  # batching does not change the text
    with urllib.request.urlopen(f"{server}/health", timeout=5) as response:
        after = json.load(response)
    batches = after["batches"] - before["batches"] - len(files)  # the one-at-a-time requests took one each
    assert after["waveforms"] - before["waveforms"] == 2 * len(files)
    assert batches < len(files)  # the 8 concurrent uploads shared batches (200 ms wait)


def test_websocket_returns_each_completed_segment(server: str) -> None:
    from websockets.asyncio.client import connect

    clips = [soundfile.read(f, dtype="float32")[0] for f in demo_files(3)]
    audio = np.concatenate([np.concatenate([clip, np.zeros(8000, np.float32)]) for clip in clips])
    pcm = (audio * 32767).astype("<i2").tobytes()

    async def talk() -> list[dict]:
        async with connect(server.replace("http", "ws") + "/stream") as ws:
            for start in range(0, len(pcm), 3200):  # 100 ms messages
                await ws.send(pcm[start : start + 3200])
            await ws.send("end")
            return [json.loads(message) async for message in ws]

    messages = asyncio.run(talk())
    assert messages[-1] == {"event": "done"}
    segments = messages[:-1]
    assert len(segments) == 3
    starts = [w["start"] for s in segments for w in s["words"]]
    assert starts == sorted(starts)
    position = 0.0
    for segment, clip in zip(segments, clips, strict=True):
        assert segment["start"] <= position + 0.1 and segment["end"] >= position + len(clip) / 16000 - 0.1
        position += (len(clip) + 8000) / 16000


def test_websocket_refuses_half_samples_and_the_server_stays_up(server: str) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosedError

    async def talk() -> tuple[list[dict], int | None]:
        messages = []
        async with connect(server.replace("http", "ws") + "/stream") as ws:
            await ws.send(b"\x00\x01\x02")  # one and a half 16-bit samples
            try:
                async for message in ws:
                    messages.append(json.loads(message))
            except ConnectionClosedError as closed:
                return messages, closed.rcvd.code if closed.rcvd else None
        return messages, None

    messages, code = asyncio.run(talk())
    assert messages == [{"error": "audio messages must hold whole 16-bit samples"}] and code == 1003
    with urllib.request.urlopen(f"{server}/health", timeout=5) as response:
        assert json.load(response)["status"] == "ok"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    speech = Path(__file__).parent / "fixtures" / "audio" / "speech_16k_mono.wav"
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    # A fake microphone that plays a speech fixture in a loop, allowed without asking.
    args += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    args.append(f"--use-file-for-fake-audio-capture={speech}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield launched
        launched.close()


def test_the_page_uploads_a_file_and_shows_timed_words(server: str, browser: object) -> None:
    audio = demo_files(1)[0]
    _, expected = post(f"{server}/transcribe?segment=vad", audio.read_bytes(), "audio/flac")
    page = browser.new_page()
    page.goto(server + "/")
    page.set_input_files("#file", str(audio))
    page.click("#upload")
    page.wait_for_function("document.getElementById('status').textContent.includes('words')", timeout=60_000)
    rows = page.locator("#words tbody tr")
    assert rows.count() == len(expected["words"])
    cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]
    assert [c[2] for c in cells] == [w["word"] for w in expected["words"]]
    assert [float(c[0]) for c in cells] == pytest.approx([w["start"] for w in expected["words"]], abs=0.006)
    assert all(0.0 <= float(c[3]) <= 1.0 for c in cells)
    assert page.locator("#text").inner_text() == expected["text"]
    page.close()


def test_the_page_records_the_microphone_over_the_websocket(server: str, browser: object) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server + "/")
    page.click("#record")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Recording')", timeout=30_000)
    page.wait_for_timeout(4000)  # the fake microphone plays the speech fixture meanwhile
    page.click("#stop")
    page.wait_for_function("document.getElementById('status').textContent === 'Done.'", timeout=60_000)
    assert errors == []
    rows = page.locator("#words tbody tr")
    assert rows.count() > 0  # the speech came through as words with times (from a random model: any words)
    starts = [float(rows.nth(i).locator("td").first.inner_text()) for i in range(rows.count())]
    assert starts == sorted(starts)
    page.close()
