"""The default ``rgb_array`` strip: 24-pixel cells when small, capped width and memory when wide."""

from __future__ import annotations

import tracemalloc

import gymnasium as gym
import numpy as np
import pytest

import memenvs  # noqa: F401  (registers the ids)
from memenvs.envs.tape import symbol_colors

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


# ------------------------------------------------------------------------ the tape tasks
@pytest.mark.parametrize("base", [2, 5, 201, 202, 10**5])
def test_tape_symbols_have_distinct_colours_none_white(base):
    """Symbol 0 was white like a blank cell, and from base 182 on every symbol was."""
    colours = symbol_colors(np.arange(base + 1), base).astype(np.int64)
    packed = colours[:, 0] << 16 | colours[:, 1] << 8 | colours[:, 2]
    assert len(np.unique(packed[:-1])) == base  # one colour per symbol
    assert (colours[:-1] <= 230).any(axis=1).all() and (colours[-1] == 255).all()  # blank: white


def test_tape_cells_show_their_symbols_colour():
    env = gym.make(
        "memenvs/TapeReverse-v0", base=2, min_length=8, max_length=8, render_mode="rgb_array"
    )
    env.reset(seed=0)
    tape = env.unwrapped.task.input_rows(0)[0]
    assert set(tape.tolist()) == {0, 1}
    img = env.render()
    assert img.shape == (4 * 16, 10 * 16, 3)
    centres = img[16 + 8, np.arange(1, 9) * 16 + 8]  # the input row, one blank cell each side
    np.testing.assert_array_equal(centres, symbol_colors(tape, 2))
    assert (img[16 + 8, 8] == 255).all() and (img[16 + 8, 9 * 16 + 8] == 255).all()


@pytest.mark.parametrize(
    ("env_id", "knobs", "shape"),
    [
        ("memenvs/TapeCopy-v0", {"min_length": 300, "max_length": 300}, (64, 13 * 302)),
        ("memenvs/TapeCopy-v0", {"min_length": 4094, "max_length": 4094}, (64, 4096)),
        ("memenvs/TapeCopy-v0", {"min_length": 50_000, "max_length": 50_000}, (64, 3847)),
        (
            "memenvs/TapeReversedAddition-v0",
            {"rows": 5000, "base": 5000, "min_length": 3, "max_length": 3},
            (2501 + 16, 5 * 16),
        ),
    ],
)
def test_wide_tapes_shrink_the_cells_then_group_them(env_id, knobs, shape):
    """TapeCopy with length 50000 drew an 800,032-pixel-wide image."""
    env = gym.make(env_id, render_mode="rgb_array", **knobs)
    env.reset(seed=0)
    for _ in range(3):
        env.step(env.unwrapped.oracle_action())
    img = env.render()
    assert img.dtype == np.uint8 and img.shape == (*shape, 3)
    assert (img == (200, 0, 0)).all(axis=2).any()  # the read head stays visible
    if knobs["max_length"] == 50_000:  # 13 cells a pixel: each column shows a symbol
        assert not (img[24] == 255).all(axis=1).any()
