"""Session set-up shared by every test module."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def fused_ntm_kernel_built():
    """Build the fused NTM kernel (agents/csrc) once, in this process, before any test runs:
    tests that start NTM training in subprocesses (some with short timeouts, some killed on
    purpose) then load the cached build instead of compiling it, or dying mid-compile and
    leaving torch's build lock behind."""
    from agents import fused_step

    fused_step.available()
