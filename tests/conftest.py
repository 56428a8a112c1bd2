"""Session set-up shared by every test module."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture(scope="session", autouse=True)
def fused_ntm_kernel_built():
    """Build the fused NTM kernel (agents/csrc) once, in this process, before any test runs:
    tests that start NTM training in subprocesses (some with short timeouts, some killed on
    purpose) then load the cached build instead of compiling it, or dying mid-compile and
    leaving torch's build lock behind."""
    from agents import fused_step

    fused_step.available()


@pytest.fixture
def float64():
    """Tensors created in the test default to float64 (restored after)."""
    import torch

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


@pytest.fixture(params=[1, 2, 3])
def row_blocks(request, monkeypatch):
    """The NTM, LSTM and GRU sequences run as this many blocks of rows (at most one per row)
    on at least 2 torch threads; 1: one call."""
    import torch

    from agents import fused_step

    monkeypatch.setattr(fused_step, "row_blocks", lambda batch: min(request.param, batch))
    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, 2))
    yield request.param
    torch.set_num_threads(threads)


@pytest.fixture
def load_script():
    """``load_script("bench_envs")``: a ``scripts/`` file imported as a module."""

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
