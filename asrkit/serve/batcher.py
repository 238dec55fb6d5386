"""Dynamic batching: waveforms from many concurrent requests decoded together, with a bounded wait.

The first waveform to arrive opens a batch; the batch is run as soon as it
holds ``max_batch_seconds`` of audio or ``max_batch_size`` waveforms, or
``max_wait_seconds`` after it opened, whichever comes first. So a lone
request waits at most ``max_wait_seconds`` more than it would alone, and
under load the model runs on full batches (one padded forward pass and one
decoder call instead of many). Batches run one at a time in a single worker
thread, which owns the model: the event loop keeps accepting requests while
the model works, and the model is never entered by two threads at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from asrkit.interfaces import Hypothesis

RunBatch = Callable[[Sequence[torch.Tensor]], list[Hypothesis]]


@dataclass
class BatchStats:
    """What the batcher has done so far (reported by the health endpoint)."""

    batches: int = 0
    waveforms: int = 0
    audio_seconds: float = 0.0


class DynamicBatcher:
    """Collects ``(S,)`` waveforms submitted from the event loop into batches for ``run``."""

    def __init__(
        self,
        run: RunBatch,
        sample_rate: int,
        max_batch_seconds: float = 60.0,
        max_batch_size: int = 32,
        max_wait_seconds: float = 0.02,
    ) -> None:
        self.run = run
        self.sample_rate = sample_rate
        self.max_batch_seconds = max_batch_seconds
        self.max_batch_size = max_batch_size
        self.max_wait_seconds = max_wait_seconds
        self.stats = BatchStats()
        self._queue: asyncio.Queue[tuple[torch.Tensor, asyncio.Future[Hypothesis]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="asrkit-model")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._worker.shutdown(wait=True)

    async def submit(self, wave: torch.Tensor) -> Hypothesis:
        """The hypothesis for one ``(S,)`` waveform at ``sample_rate``, once its batch has run."""
        if self._queue is None:
            raise RuntimeError("DynamicBatcher.start() was not awaited")
        future: asyncio.Future[Hypothesis] = asyncio.get_running_loop().create_future()
        await self._queue.put((wave, future))
        return await future

    async def _serve(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            seconds = batch[0][0].shape[0] / self.sample_rate
            deadline = loop.time() + self.max_wait_seconds
            while len(batch) < self.max_batch_size and seconds < self.max_batch_seconds:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        break
                batch.append(item)
                seconds += item[0].shape[0] / self.sample_rate
            await self._run(batch, seconds)

    async def _run(self, batch: list[tuple[torch.Tensor, asyncio.Future[Hypothesis]]], seconds: float) -> None:
        waves = [wave for wave, _ in batch]
        try:
            hypotheses = await asyncio.get_running_loop().run_in_executor(self._worker, self.run, waves)
        except Exception as exc:  # one bad batch fails its requests, never the server
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.stats.batches += 1
        self.stats.waveforms += len(batch)
        self.stats.audio_seconds += seconds
        for (_, future), hypothesis in zip(batch, hypotheses, strict=True):
            if not future.done():  # the client may have gone
                future.set_result(hypothesis)
