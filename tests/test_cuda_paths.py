"""The CUDA-only code paths, run on the CPU: nccl set-up, device choice per rank, cuDNN's packed GRUs.

The development machine has no GPU, so what only a GPU executes is checked
here with the CUDA calls replaced: which backend and device a rank asks for,
and which GRU form ``train_rnn: auto`` takes on CUDA. The fp16 scaler with
accumulation and clipping, autocast around the CTC loss and pinned batches
are covered in ``test_precision.py``, ``test_ctc.py`` and ``test_batches.py``.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from asrkit.engine import distributed, setup
from asrkit.engine.distributed import World
from asrkit.errors import RecipeError
from asrkit_plugins.encoders.rescnn_bigru import ResCNNBiGRU, ResCNNBiGRUConfig


@pytest.fixture
def fake_group(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    """``torch.distributed.init_process_group`` recorded instead of called."""
    calls: list[tuple[str, dict]] = []
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda backend, **kw: calls.append((backend, kw)))
    return calls


def test_cuda_ranks_join_with_nccl_bound_to_their_own_gpu(fake_group: list) -> None:
    distributed.init_process_group(World(1, 2, 1), torch.device("cuda", 1))
    ((backend, options),) = fake_group
    assert backend == "nccl" and options["device_id"] == torch.device("cuda", 1)
    assert options["timeout"] == distributed.COLLECTIVE_TIMEOUT


def test_cpu_ranks_join_with_gloo_and_a_single_process_joins_nothing(fake_group: list) -> None:
    distributed.init_process_group(World(0, 2, 0), torch.device("cpu"))
    distributed.init_process_group(World(), torch.device("cuda", 0))
    assert [backend for backend, _ in fake_group] == ["gloo"]


@pytest.fixture
def four_gpus(monkeypatch: pytest.MonkeyPatch) -> list[torch.device]:
    """A machine with 4 CUDA devices, as far as resolve_device can tell; the devices it selects."""
    selected: list[torch.device] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "set_device", selected.append)
    return selected


@pytest.mark.parametrize(("name", "local_rank", "want"), [("auto", 2, 2), ("cuda", 5, 1), ("cuda:3", 0, 3)])
def test_each_rank_selects_its_local_gpu(four_gpus: list, name: str, local_rank: int, want: int) -> None:
    device = setup.resolve_device(name, World(local_rank, 8, local_rank))
    assert device == torch.device("cuda", want) and four_gpus == [device]


def test_asking_for_cuda_without_a_gpu_is_a_recipe_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RecipeError, match=r"train\.device: 'cuda' asked for, but no CUDA device is available"):
        setup.resolve_device("cuda", World())
    assert setup.resolve_device("auto", World()) == torch.device("cpu")


def test_auto_trains_cudas_gru_on_packed_sequences(monkeypatch: pytest.MonkeyPatch) -> None:
    """On CUDA ``auto`` feeds the GRUs packed sequences (one cuDNN call a layer), as ``packed`` does."""
    config = ResCNNBiGRUConfig(n_cnn_layers=1, n_rnn_layers=1, rnn_dim=8, cnn_channels=2, dropout=0.0)
    model = ResCNNBiGRU(config, input_dim=12).train()
    packed_inputs = []
    gru = model.rnns[0].gru
    original = type(gru).forward

    def recording(self: torch.nn.GRU, x: object, hx: torch.Tensor | None = None) -> object:
        packed_inputs.append(isinstance(x, torch.nn.utils.rnn.PackedSequence))
        return original(self, x, hx)

    monkeypatch.setattr(type(gru), "forward", recording)
    on_cuda = ResCNNBiGRU.training_form(model, torch.device("cuda", 0))  # what auto resolves to there
    monkeypatch.setattr(model, "training_form", lambda device: on_cuda)
    model(torch.randn(2, 10, 12), torch.tensor([10, 6]))
    assert packed_inputs == [True]
    padded = ResCNNBiGRU(dataclasses.replace(config, train_rnn="padded"), input_dim=12).train()
    packed_inputs.clear()
    padded(torch.randn(2, 10, 12), torch.tensor([10, 6]))
    assert packed_inputs == [False, False]  # one unidirectional call per direction
