"""The default ``rgb_array`` strip: 24-pixel cells when small, capped width and memory when wide."""

from __future__ import annotations

import tracemalloc

import gymnasium as gym
import numpy as np
import pytest

import memenvs  # noqa: F401  (registers the ids)

BORDER = (64, 64, 200)


def render(num_symbols: int) -> tuple[np.ndarray, np.ndarray]:
    """``(obs, image)`` of a fresh DelayedRecall episode (observations of K + 2 entries)."""
    env = gym.make("memenvs/DelayedRecall-v0", num_symbols=num_symbols, render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    return obs, env.render()


def test_small_observation_is_a_strip_of_24_pixel_cells():
    obs, img = render(8)
    assert img.dtype == np.uint8 and img.shape == (24, 24 * obs.size, 3)
    assert (img[:, ::24] == BORDER).all()
    inside = np.delete(img, np.s_[::24], axis=1).reshape(24, obs.size, 23, 3)
    np.testing.assert_array_equal(inside, np.broadcast_to((255 * obs)[:, None, None], inside.shape))


@pytest.mark.parametrize(
    ("num_symbols", "width", "cell"),
    [
        (168, 24 * 170, 24),  # the widest strip of 24-pixel cells
        (169, 23 * 171, 23),
        (998, 4 * 1000, 4),  # the narrowest cells with a border
        (4094, 4096, 1),  # one pixel per entry
        (4095, 2049, 1),  # 4097 entries: one pixel per pair of entries
        (10**6, 4082, 1),  # 245 entries a pixel
    ],
)
def test_wide_observations_shrink_the_cells_then_group_entries(num_symbols, width, cell):
    obs, img = render(num_symbols)
    assert img.dtype == np.uint8 and img.shape == (24, width, 3)
    assert ((img[:, ::cell] == BORDER).all(axis=(0, 2)).all()) == (cell >= 4)
    # the one-hot symbol stays visible: its cell (or group) is white
    group = -(-obs.size // 4096) if obs.size > 4096 else 1
    column = int(np.flatnonzero(obs)[0]) // group * cell + cell - 1
    assert (img[:, column] == 255).all()


def test_rendering_the_widest_observation_is_cheap():
    """num_symbols=10**6 raised MemoryError (a 4.29 GiB float64 image); now about 4 MB."""
    env = gym.make("memenvs/DelayedRecall-v0", num_symbols=10**6, render_mode="rgb_array")
    env.reset(seed=0)
    tracemalloc.start()
    try:
        img = env.render()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert img.shape[1] <= 4096
    assert peak < 4 * 10**6 + 2**20  # the observation batch itself, then O(4096)
