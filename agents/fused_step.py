"""The NTM step (head activations, addressing, read, write) as one fused CPU kernel.

:func:`ntm_step` does what :meth:`agents.cores.ntm.NTMCore._head_params`,
:func:`agents.addressing.address`, ``read`` and ``erase_and_add`` do together for soft heads
(Graves et al. 2014, eqs. 2-9), from the controller's raw head outputs: every head addresses
the memory of step t - 1, the read heads read it, the write heads erase and add. A C++
extension (``agents/csrc/ntm_step.cpp``) with a hand-written backward: two passes over memory
forward and two backward, where the aten path takes ~310 small ops per step. Results equal
that path up to float rounding.

The extension is compiled on first use with ``torch.utils.cpp_extension.load`` (needs a C++
compiler and ninja; about a minute, cached under ``TORCH_EXTENSIONS_DIR`` or
``~/.cache/torch_extensions``). :func:`available` says whether it builds here. The kernel's
arithmetic (``agents/csrc/ntm_kernel.h``) is compiled twice with portable flags: generic, and
on x86-64 with GCC also for AVX2 + FMA, which runs where the CPU has them
(``load().kernel_isa()`` says which; set ``MEMENVS_NTM_GENERIC_KERNEL=1`` for the generic one).
Where torch threads with OpenMP (Linux), the extension is built with ``-fopenmp`` so that the
kernels' loops over rows run on torch's threads (:func:`openmp_flags`). Float kernels for slot
widths 8, 16, 20 and 32 are compiled with the width fixed, so their
inner loops unroll; other widths read it at run time. The same extension holds the sequence
loops of :mod:`agents.fused_sequence` (NTM) and :mod:`agents.fused_rnn` (LSTM, GRU).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
import warnings

import torch
from torch.autograd.function import once_differentiable

from agents.checks import check_optional_positive

# -O3 and reassociation (vectorised float sums); no -ffast-math: inf and NaN keep their meaning
CFLAGS = ["-O3", "-fno-math-errno", "-fassociative-math", "-fno-signed-zeros", "-fno-trapping-math"]
CSRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc")
SOURCES = [
    os.path.join(CSRC, name)
    for name in ("ntm_step.cpp", "ntm_sequence.cpp", "rnn_sequence.cpp", "buffer_pool.cpp")
]
HEADERS = [os.path.join(CSRC, name) for name in ("ntm_step.h", "ntm_kernel.h", "sequence_util.h")]


def headers_flag() -> str:
    """A define naming the headers' content hash: torch's build cache hashes the sources and
    the flags, not the headers, so without it a changed header would load a stale build."""
    digest = hashlib.sha1()
    for path in HEADERS:
        with open(path, "rb") as f:
            digest.update(f.read())
    return f"-DNTM_HEADERS_SHA1={digest.hexdigest()[:16]}"


def openmp_runtimes() -> list[str]:
    """The file names of the OpenMP runtimes mapped into this process (Linux; empty
    elsewhere): GCC's ``libgomp``, LLVM's ``libomp``, Intel's ``libiomp5``."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return []
    names = {os.path.basename(p) for p in paths}
    return sorted(n for n in names if n.startswith(("libgomp", "libomp", "libiomp")))


def openmp_flags() -> list[str]:
    """``-fopenmp`` where torch runs its threads on GCC's OpenMP runtime (its Linux wheels).

    The kernels split their rows with ``at::parallel_for``, which is a header: compiled
    without ``-fopenmp`` it runs every row on one thread, whatever ``torch.set_num_threads``
    says. With it, the extension uses torch's own OpenMP runtime (``libgomp.so.1``, already
    loaded by torch) and its thread count. Rows are independent, so results do not depend on
    the thread count. Where torch runs on another runtime (LLVM's or Intel's, as some conda
    builds do), GCC's ``-fopenmp`` would load a second one with its own threads: the kernels
    are then built without OpenMP, with a warning, and run on one thread.
    """
    if not (sys.platform.startswith("linux") and torch.backends.openmp.is_available()):
        return []
    runtimes = openmp_runtimes()
    if runtimes and all(name.startswith("libgomp") for name in runtimes):
        return ["-fopenmp"]
    warnings.warn(
        f"torch's OpenMP runtime is not GCC's libgomp ({runtimes or 'none found'}): the fused "
        "kernels are built without OpenMP and run on one thread",
        RuntimeWarning,
        stacklevel=2,
    )
    return []


NAME = "memenvs_ntm_step"
MIN_BLOCK_ROWS = 8


def row_blocks(batch: int) -> int:
    """How many blocks of rows a sequence of ``batch`` rows runs as, in parallel (the NTM,
    LSTM and GRU sequence loops): one per torch thread, each of at least ``MIN_BLOCK_ROWS``
    rows (below that a step's fixed cost dominates). With one block the sequence is one call;
    with more, results differ from it by float rounding (each block sums its own weight
    gradients)."""
    return max(1, min(torch.get_num_threads(), batch // MIN_BLOCK_ROWS))


@functools.lru_cache(maxsize=1)
def load():
    """Build (once per process; cached on disk across processes) and return the extension.

    If it does not build with :func:`openmp_flags` (a compiler without OpenMP), it is built
    without them, with a warning: the kernels then run on one thread."""
    from torch.utils.cpp_extension import load as load_extension

    def build(openmp: list[str]):
        cflags = build_flags(openmp)
        build_dir = build_directory(cflags, openmp)
        with exclusive_build(build_dir):
            return load_extension(
                name=NAME,
                sources=SOURCES,
                extra_cflags=cflags,
                extra_ldflags=openmp,
                build_directory=build_dir,
            )

    openmp = openmp_flags()
    try:
        ext = build(openmp)
    except Exception as exc:
        if not openmp:
            raise
        warnings.warn(
            f"the fused kernels do not build with {openmp} ({type(exc).__name__}: {exc}); "
            "building them without OpenMP, on one thread",
            RuntimeWarning,
            stacklevel=2,
        )
        ext = build([])
    ext.use_generic_kernel(generic_by_default())
    return ext


def build_flags(openmp: list[str]) -> list[str]:
    """The compiler flags of a build with the given OpenMP flags (:func:`openmp_flags`)."""
    return [*CFLAGS, *openmp, headers_flag()]


def build_directory(cflags: list[str], ldflags: list[str]) -> str:
    """The cache folder of one build: ``memenvs_ntm_step_<hash>`` under torch's extension
    root, the hash over the sources' and headers' paths and bytes, the flags and torch's
    version.

    torch names the folder by the extension alone and rebuilds whenever the sources, their
    paths (its ninja file names them) or the flags differ from the last build there, so two
    checkouts or installed versions (or two torch versions) sharing one cache rebuilt over
    each other on every switch (about a minute each). With the hash in the name each keeps
    its own build (about 4 MB); an unchanged tree always finds its own. Folders of old
    versions are not removed."""
    from torch.utils.cpp_extension import _get_build_directory

    digest = hashlib.sha1()
    for path in [*SOURCES, *HEADERS]:
        with open(path, "rb") as f:
            digest.update(f.read())
    digest.update(repr(([*SOURCES, *HEADERS], cflags, ldflags, torch.__version__)).encode())
    return _get_build_directory(f"{NAME}_{digest.hexdigest()[:12]}", verbose=False)


@contextlib.contextmanager
def exclusive_build(build_dir: str):
    """Hold an OS lock on ``build_dir`` and clear a stale torch build lock inside it.

    torch's ``load`` guards a build with a bare ``lock`` file that names no owner: a build
    killed mid-way (Ctrl-C, a job's time limit) leaves it behind, and every later ``load``
    then waits on it forever. Here every build of this extension runs under ``flock``,
    which the OS drops when its holder dies, so a ``lock`` file met while holding it is
    stale and is removed. Where there is no ``flock`` (no ``fcntl`` on Windows, some network
    file systems) nothing is locked or removed: the build runs as torch's alone would.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    with contextlib.ExitStack() as stack:
        try:
            handle = stack.enter_context(open(os.path.join(build_dir, "memenvs.flock"), "a"))
            fcntl.flock(handle, fcntl.LOCK_EX)
            stack.callback(fcntl.flock, handle, fcntl.LOCK_UN)
            locked = True
        except OSError:
            locked = False
        stale = os.path.join(build_dir, "lock")
        if locked and os.path.exists(stale):
            warnings.warn(
                f"removing a stale build lock {stale} (left by a build that was killed)",
                RuntimeWarning,
                stacklevel=3,
            )
            with contextlib.suppress(FileNotFoundError):
                os.remove(stale)
        yield


def generic_by_default() -> bool:
    """Whether ``MEMENVS_NTM_GENERIC_KERNEL`` asks for the generic build (e.g. to time or
    compare the builds) where the CPU could run the AVX2 + FMA one."""
    return bool(os.environ.get("MEMENVS_NTM_GENERIC_KERNEL"))


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """True if the extension builds and loads on this machine (else warns once, with why)."""
    try:
        load()
    except Exception as exc:  # noqa: BLE001 - any build failure means "not available"
        warnings.warn(
            f"the fused NTM/LSTM/GRU kernels do not build here ({type(exc).__name__}: {exc}); "
            "NTM, LSTM and GRU cores use the slower aten path",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    return True


def saved_tensor_hooks_active() -> bool:
    """Whether saved-tensor hooks (``torch.autograd.graph.saved_tensors_hooks``, as
    ``bptt_checkpoint``'s checkpointing sets them) see what an autograd node saves now. The
    NTM sequence keeps its per-step tensors out of ``save_for_backward`` unless they do. True
    where this torch cannot tell (a private function): then it always saves them through."""
    top = getattr(torch._C._autograd, "_top_saved_tensors_default_hooks", None)
    try:
        return top is None or top(False) is not None
    except TypeError:  # an older signature
        return True


def grads_or_zeros(grads, shapes, like: torch.Tensor) -> list[torch.Tensor]:
    """The gradients reaching an extension node's outputs, contiguous, with zeros of the
    output's shape where one got none (an unused output); ``like`` gives dtype and device."""
    return [
        like.new_zeros(shape) if g is None else g.contiguous()
        for g, shape in zip(grads, shapes, strict=True)
    ]


class _NTMStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, raw, memory, write_prev, read_prev, dims):
        inputs = [t.contiguous() for t in (raw, memory, write_prev, read_prev)]
        write_w, read_w, reads, new_memory, *saved = load().forward(*inputs, *dims)
        ctx.save_for_backward(*inputs, write_w, read_w, *saved)
        ctx.dims = dims
        return write_w, read_w, reads, new_memory

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads):
        grads = [g.contiguous() for g in grads]
        return (*load().backward(*grads, *ctx.saved_tensors, *ctx.dims), None)


def ntm_step(
    raw: torch.Tensor,
    memory: torch.Tensor,
    write_prev: torch.Tensor,
    read_prev: torch.Tensor,
    shifts: int,
    head_clip: float | None,
    fixed_writes: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One soft NTM step from the raw head outputs (CPU, float32 or float64).

    Args: raw ``[B, (W + R) (M + 3 + S) + 2 W M]`` (per addressing head, write heads first:
    key ``M``, beta, gate, shift logits ``S``, gamma; then per write head erase ``M`` and add
    ``M``), memory ``[B, N, M]``, previous weightings ``[B, W, N]`` and ``[B, R, N]``,
    ``shifts`` = ``S`` (odd), ``head_clip`` (``None``: no clip). ``fixed_writes``: the write
    heads do not address; ``write_prev`` is their weighting (as for ``NTMCore``'s sequential
    write), and their addressing outputs in ``raw`` are ignored. Returns the write and read
    weightings ``[B, W, N]``, ``[B, R, N]``, the reads ``[B, R, M]`` (of memory t - 1) and
    the new memory ``[B, N, M]``.
    """
    if memory.device.type != "cpu":
        raise ValueError(f"ntm_step runs on CPU tensors only, got {memory.device}")
    check_optional_positive("head_clip", head_clip)
    dims = (
        write_prev.shape[1],
        read_prev.shape[1],
        shifts,
        0.0 if head_clip is None else head_clip,
        bool(fixed_writes),
    )
    return _NTMStep.apply(raw, memory, write_prev, read_prev, dims)
