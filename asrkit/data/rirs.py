"""Simulated room impulse responses, for the ``reverb`` augmenter when no recorded set is at hand.

Each RIR is a shoebox room simulated with pyroomacoustics' image source
method: room sides drawn uniformly in ``[min_side, max_side]`` metres (height
2.5 to 4 m), a reverberation time RT60 drawn uniformly in ``[min_rt60,
max_rt60]`` seconds and turned into wall absorption and reflection order with
Sabine's formula (``pyroomacoustics.inverse_sabine``), a source and a
microphone at random places at least 0.5 m from the walls and from each other.
Rooms for which Sabine's formula has no absorption giving the RT60 are drawn
again. Everything random comes from ``seed``.

Writes ``<out>/rir-NNNN.wav`` (float, mono) and ``<out>/rirs.tsv`` with each
file's room, RT60 and distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from asrkit.errors import AsrkitError

WALL_MARGIN = 0.5
HEIGHT = (2.5, 4.0)


@dataclass(frozen=True)
class SimulatedRoom:
    size: tuple[float, float, float]
    rt60: float
    source: tuple[float, float, float]
    microphone: tuple[float, float, float]

    @property
    def distance(self) -> float:
        return math.dist(self.source, self.microphone)


def draw_room(rng: np.random.Generator, sides: tuple[float, float], rt60: tuple[float, float]) -> SimulatedRoom:
    """A random room with a source and microphone at least :data:`WALL_MARGIN` from the walls and each other."""
    size = (*(float(rng.uniform(*sides)) for _ in range(2)), float(rng.uniform(*HEIGHT)))
    while True:
        points = [tuple(float(rng.uniform(WALL_MARGIN, side - WALL_MARGIN)) for side in size) for _ in range(2)]
        if math.dist(*points) >= WALL_MARGIN:
            return SimulatedRoom(size, float(rng.uniform(*rt60)), points[0], points[1])


def simulate(room: SimulatedRoom, sample_rate: int) -> np.ndarray | None:
    """The room's impulse response (float64), or None when Sabine's formula cannot give its RT60."""
    import pyroomacoustics as pra

    try:
        absorption, max_order = pra.inverse_sabine(room.rt60, list(room.size))
    except ValueError:
        return None
    shoebox = pra.ShoeBox(
        list(room.size), fs=sample_rate, materials=pra.Material(absorption), max_order=min(max_order, 40)
    )
    shoebox.add_source(list(room.source))
    shoebox.add_microphone(list(room.microphone))
    shoebox.compute_rir()
    return np.asarray(shoebox.rir[0][0], dtype=np.float64)


def simulate_rirs(
    out: Path,
    count: int,
    sample_rate: int = 16000,
    sides: tuple[float, float] = (3.0, 10.0),
    rt60: tuple[float, float] = (0.2, 0.8),
    seed: int = 0,
) -> list[Path]:
    """Write ``count`` simulated RIRs to ``out`` (see the module docstring); return their paths."""
    try:
        import pyroomacoustics  # noqa: F401
    except ImportError:
        raise AsrkitError("simulating RIRs needs pyroomacoustics: pip install 'asrkit[rirs]'") from None
    if count < 1 or sides[0] < 2 * WALL_MARGIN + 0.1 or sides[0] > sides[1] or not 0 < rt60[0] <= rt60[1]:
        raise AsrkitError(f"cannot simulate {count} RIRs in rooms of {sides} m sides with RT60 {rt60} s")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths, lines = [], ["file\troom_m\trt60_s\tdistance_m\n"]
    while len(paths) < count:
        room = draw_room(rng, sides, rt60)
        rir = simulate(room, sample_rate)
        if rir is None or not np.any(rir):
            continue
        path = out / f"rir-{len(paths):04d}.wav"
        soundfile.write(path, (rir / np.abs(rir).max()).astype(np.float32), sample_rate, subtype="FLOAT")
        paths.append(path)
        dims = "x".join(f"{side:.2f}" for side in room.size)
        lines.append(f"{path.name}\t{dims}\t{room.rt60:.3f}\t{room.distance:.2f}\n")
    (out / "rirs.tsv").write_text("".join(lines), encoding="utf-8")
    return paths
