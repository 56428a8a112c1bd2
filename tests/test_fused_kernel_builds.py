"""The fused NTM kernel's builds: the generic one and, where the CPU has AVX2 and FMA, the
one compiled for them (picked at run time); and the float kernels compiled for fixed slot
widths (8, 16, 20, 32), each against float64 (run-time width, generic arithmetic)."""

from __future__ import annotations

import contextlib
import os
import sys

import pytest
import torch
from test_fused_step import step_inputs

from agents import fused_step


def native_build() -> str:
    """The build this CPU can run, whatever MEMENVS_NTM_GENERIC_KERNEL asks by default."""
    ext = fused_step.load()
    ext.use_generic_kernel(False)
    native = ext.kernel_isa()
    ext.use_generic_kernel(fused_step.generic_by_default())
    return native


NATIVE = native_build()
BUILDS = ["generic"] + ([NATIVE] if NATIVE != "generic" else [])


@contextlib.contextmanager
def running(name: str):
    """The kernel's build ``name`` runs inside (the process's default again after)."""
    ext = fused_step.load()
    ext.use_generic_kernel(name == "generic")
    try:
        assert ext.kernel_isa() == name
        yield
    finally:
        ext.use_generic_kernel(fused_step.generic_by_default())


@pytest.fixture(params=BUILDS)
def build(request):
    """Each build of the kernel in turn."""
    with running(request.param):
        yield request.param


def step_and_grads(inputs, S, clip, fixed_writes):
    """Outputs of one fused step and the gradients of a mixed loss for every input."""
    outs = fused_step.ntm_step(*inputs, S, clip, fixed_writes=fixed_writes)
    g = torch.Generator().manual_seed(3)
    loss = sum(
        (o * torch.randn(o.shape, generator=g, dtype=torch.float64).to(o.dtype)).sum() for o in outs
    )
    return [o.detach() for o in outs], torch.autograd.grad(loss, inputs)


@pytest.mark.parametrize("M", [8, 16, 20, 32, 13])  # 13: no fixed width, read at run time
@pytest.mark.parametrize(
    "W,R,fixed_writes", [(1, 1, False), (2, 1, False), (1, 2, False), (1, 1, True)]
)
def test_float32_builds_match_float64_at_every_compiled_width(build, M, W, R, fixed_writes):
    """Forward outputs and every input's gradient of a float32 step equal the float64 step's
    up to float rounding, at each slot width with a kernel of its own and one without."""
    S, clip = 3, 20.0
    ref = step_inputs(W, R, S, M=M, N=24, B=5, scale=1.5)
    low = [t.detach().float().requires_grad_() for t in ref]
    out64, grad64 = step_and_grads(ref, S, clip, fixed_writes)
    out32, grad32 = step_and_grads(low, S, clip, fixed_writes)
    for a, b in zip(out64, out32, strict=True):
        torch.testing.assert_close(b.double(), a, rtol=1e-4, atol=1e-5)
    for a, b in zip(grad64, grad32, strict=True):
        torch.testing.assert_close(b.double(), a, rtol=1e-3, atol=1e-4)


def test_the_builds_agree_on_a_training_size_step():
    """At the benchmark's shape (128 x 20 memory, batch 64) the two builds differ only by
    float rounding (FMA contractions, 8-wide sums)."""
    if len(BUILDS) == 1:
        pytest.skip("this CPU runs the generic build only")
    inputs = [t.detach().float().requires_grad_() for t in step_inputs(1, 1, 3, M=20, N=128, B=64)]
    results = []
    for name in BUILDS:
        with running(name):
            results.append(step_and_grads(inputs, 3, 20.0, False))
    (out_a, grad_a), (out_b, grad_b) = results
    for a, b in zip([*out_a, *grad_a], [*out_b, *grad_b], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_lstm_pointwise_equals_the_lstm_cell(build, dtype):
    """The sequence's LSTM pointwise step (gates activated in place, c', tanh c', h') equals
    aten's, the gate pre-activations spanning both branches of the vectorised tanh."""
    g = torch.Generator().manual_seed(0)
    B, C = 5, 24
    gates = (torch.randn(B, 4 * C, generator=g, dtype=torch.float64) * 4).to(dtype)
    c = torch.randn(B, C, generator=g, dtype=torch.float64).to(dtype)
    i, f, gg, o = gates.double().chunk(4, 1)
    acts = torch.cat([i.sigmoid(), f.sigmoid(), gg.tanh(), o.sigmoid()], 1)
    c_ref = acts[:, C : 2 * C] * c.double() + acts[:, :C] * acts[:, 2 * C : 3 * C]
    h_ref = acts[:, 3 * C :] * c_ref.tanh()
    c_new, tanh_c, h = (torch.empty(B, C, dtype=dtype) for _ in range(3))
    fused_step.load().lstm_pointwise(gates, c, c_new, tanh_c, h)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-6, "atol": 1e-6}
    for got, want in ((gates, acts), (c_new, c_ref), (tanh_c, c_ref.tanh()), (h, h_ref)):
        torch.testing.assert_close(got.double(), want, **tol)


def test_float_sigmoid_and_tanh_are_within_three_ulps_on_a_dense_grid(build):
    """The float kernels' own exp (a polynomial the compiler vectorises) through the LSTM's
    gates: 400,000 pre-activations in [-80, 80], against float64 (measured: 2.4 ulp sigmoid,
    2.0 tanh, for the exp of commit e4d80ac and for this one alike)."""
    B, C = 1000, 100
    x = torch.linspace(-80, 80, B * 4 * C).view(B, 4 * C)
    gates, c_new, tanh_c, h = x.clone(), *(torch.empty(B, C) for _ in range(3))
    fused_step.load().lstm_pointwise(gates, torch.zeros(B, C), c_new, tanh_c, h)
    want = torch.cat([x[:, : 2 * C].double().sigmoid(), x[:, 2 * C : 3 * C].double().tanh(),
                      x[:, 3 * C :].double().sigmoid()], 1)  # fmt: skip
    ulps = (gates.double() - want).abs() / want.abs().clamp_min(2.0**-126) / 2.0**-24
    assert ulps.max() <= 3, ulps.max()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_lstm_pointwise_backward_equals_autograd(build, dtype):
    """Back through the pointwise step: the gate pre-activations' gradient and the one reaching
    c, from gradients on h' and c', equal autograd's through aten's cell in float64."""
    g = torch.Generator().manual_seed(1)
    B, C = 5, 24
    gates = (torch.randn(B, 4 * C, generator=g, dtype=torch.float64) * 3).requires_grad_()
    c = torch.randn(B, C, generator=g, dtype=torch.float64).requires_grad_()
    dh, dc = (torch.randn(B, C, generator=g, dtype=torch.float64) for _ in range(2))
    i, f, gg, o = gates.chunk(4, 1)
    c_new = f.sigmoid() * c + i.sigmoid() * gg.tanh()
    h = o.sigmoid() * c_new.tanh()
    want_gates, want_c = torch.autograd.grad((h * dh).sum() + (c_new * dc).sum(), (gates, c))
    acts = torch.cat([i.sigmoid(), f.sigmoid(), gg.tanh(), o.sigmoid()], 1).detach().to(dtype)
    d_gates, dc_inout = torch.empty(B, 4 * C, dtype=dtype), dc.to(dtype)
    fused_step.load().lstm_pointwise_backward(
        acts, c.detach().to(dtype), c_new.tanh().detach().to(dtype), dh.to(dtype), dc_inout,
        d_gates,
    )  # fmt: skip
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-5}
    torch.testing.assert_close(d_gates.double(), want_gates, **tol)
    torch.testing.assert_close(dc_inout.double(), want_c, **tol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gru_pointwise_and_its_backward_equal_autograd(build, dtype):
    """The GRU's pointwise step (r, z, n and h') and its backward (the gates' input and
    hidden parts, and the direct path to h) equal aten's arithmetic and autograd in float64."""
    g = torch.Generator().manual_seed(2)
    B, C = 5, 24
    gx, gh = ((torch.randn(B, 3 * C, generator=g, dtype=torch.float64) * 3).requires_grad_()
              for _ in range(2))  # fmt: skip
    h = torch.randn(B, C, generator=g, dtype=torch.float64).requires_grad_()
    dh = torch.randn(B, C, generator=g, dtype=torch.float64)
    r = (gx[:, :C] + gh[:, :C]).sigmoid()
    z = (gx[:, C : 2 * C] + gh[:, C : 2 * C]).sigmoid()
    n = (gx[:, 2 * C :] + r * gh[:, 2 * C :]).tanh()
    h_new = (1 - z) * n + z * h
    want = torch.autograd.grad((h_new * dh).sum(), (gx, gh, h))
    ext = fused_step.load()
    acts, out = torch.empty(B, 3 * C, dtype=dtype), torch.empty(B, C, dtype=dtype)
    args = [t.detach().to(dtype) for t in (gx, gh, h)]
    ext.gru_pointwise(*args, acts, out)
    d_gx, d_gh, dh_direct = torch.empty(B, 3 * C, dtype=dtype), torch.empty_like(acts), out.clone()
    ext.gru_pointwise_backward(acts, args[1], args[2], dh.to(dtype), d_gx, d_gh, dh_direct)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-5}
    torch.testing.assert_close(acts.double(), torch.cat([r, z, n], 1).detach(), **tol)
    torch.testing.assert_close(out.double(), h_new.detach(), **tol)
    torch.testing.assert_close(d_gx.double(), want[0], **tol)
    torch.testing.assert_close(d_gh.double(), want[1], **tol)
    torch.testing.assert_close(dh_direct.double(), want[2], **tol)  # h enters h' only via z h


def test_lstm_pointwise_refuses_mismatched_shapes():
    ext = fused_step.load()
    with pytest.raises(RuntimeError, match="lstm_pointwise needs gates"):
        ext.lstm_pointwise(
            torch.zeros(2, 12), torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2, 4),
            torch.zeros(2, 3),
        )  # fmt: skip
    with pytest.raises(RuntimeError, match="gru_pointwise needs gx"):
        ext.gru_pointwise(torch.zeros(2, 12), torch.zeros(2, 12), torch.zeros(2, 4),
                          torch.zeros(2, 12), torch.zeros(2, 3))  # fmt: skip
    with pytest.raises(RuntimeError, match="gru_pointwise_backward needs acts"):
        ext.gru_pointwise_backward(torch.zeros(2, 12), torch.zeros(2, 12), torch.zeros(2, 4),
                                   torch.zeros(2, 4), torch.zeros(2, 12), torch.zeros(2, 9),
                                   torch.zeros(2, 4))  # fmt: skip
    with pytest.raises(RuntimeError, match="lstm_pointwise_backward needs acts"):
        ext.lstm_pointwise_backward(
            torch.zeros(2, 16), torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2, 4),
            torch.zeros(2, 4), torch.zeros(2, 12),
        )  # fmt: skip


def test_a_changed_header_changes_the_build_flags(tmp_path, monkeypatch):
    """torch's build cache hashes sources and flags only: the headers' hash is in the flags,
    so editing a header rebuilds the extension instead of loading a stale one."""
    header = tmp_path / "ntm_kernel.h"
    header.write_text("// one\n")
    monkeypatch.setattr(fused_step, "HEADERS", [str(header)])
    before = fused_step.headers_flag()
    assert before.startswith("-DNTM_HEADERS_SHA1=")
    assert fused_step.headers_flag() == before
    header.write_text("// two\n")
    assert fused_step.headers_flag() != before


def test_each_source_tree_and_flag_set_builds_in_its_own_cache_folder(tmp_path, monkeypatch):
    """Two checkouts (or versions) sharing one extension cache each keep their own build: the
    folder's name hashes the sources' and headers' paths and bytes, the flags and the torch
    version, so a changed source, path or flag gets a new folder and an unchanged tree finds
    its old one."""
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "cache"))
    source, header = tmp_path / "a.cpp", tmp_path / "a.h"
    source.write_text("// one\n")
    header.write_text("// one\n")
    monkeypatch.setattr(fused_step, "SOURCES", [str(source)])
    monkeypatch.setattr(fused_step, "HEADERS", [str(header)])
    first = fused_step.build_directory(["-O3"], [])
    assert os.path.isdir(first)
    assert os.path.dirname(first) == str(tmp_path / "cache")
    assert os.path.basename(first).startswith(fused_step.NAME + "_")
    assert fused_step.build_directory(["-O3"], []) == first
    assert fused_step.build_directory(["-O3", "-fopenmp"], ["-fopenmp"]) != first
    assert fused_step.build_directory(["-O3"], ["-fopenmp"]) != first
    source.write_text("// two\n")
    assert fused_step.build_directory(["-O3"], []) != first
    source.write_text("// one\n")
    header.write_text("// two\n")
    assert fused_step.build_directory(["-O3"], []) != first
    header.write_text("// one\n")
    assert fused_step.build_directory(["-O3"], []) == first
    monkeypatch.setattr(fused_step.torch, "__version__", "0.0.0-other")
    assert fused_step.build_directory(["-O3"], []) != first
    monkeypatch.undo()  # the same bytes at another path (another checkout): its own folder
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "cache"))
    (tmp_path / "copy").mkdir()
    for path in (source, header):
        (tmp_path / "copy" / path.name).write_text(path.read_text())
    monkeypatch.setattr(fused_step, "SOURCES", [str(tmp_path / "copy" / "a.cpp")])
    monkeypatch.setattr(fused_step, "HEADERS", [str(tmp_path / "copy" / "a.h")])
    assert fused_step.build_directory(["-O3"], []) != first


def test_the_kernels_run_on_torchs_threads_where_torch_uses_openmp():
    """Built with -fopenmp where torch threads with OpenMP: without it, the kernels'
    ``at::parallel_for`` (a header) ran every row on one thread at any thread count."""
    if sys.platform.startswith("linux") and torch.backends.openmp.is_available():
        assert any(name.startswith("libgomp") for name in fused_step.openmp_runtimes())
        assert fused_step.openmp_flags() == ["-fopenmp"]
    assert fused_step.load().openmp() == bool(fused_step.openmp_flags())


@pytest.mark.skipif(not torch.backends.openmp.is_available(), reason="torch without OpenMP")
@pytest.mark.parametrize(
    "runtimes", [["libiomp5.so"], ["libomp.so"], ["libgomp.so.1", "libomp.so"], []]
)
def test_no_openmp_build_beside_another_openmp_runtime(monkeypatch, runtimes):
    """GCC's -fopenmp would load libgomp beside the runtime torch threads on (LLVM's or
    Intel's, as in some conda builds): two thread pools. The kernels then build without it."""
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(fused_step, "openmp_runtimes", lambda: runtimes)
    with pytest.warns(RuntimeWarning, match="not GCC's libgomp"):
        assert fused_step.openmp_flags() == []


@pytest.mark.parametrize("threads", [2, 3])
def test_a_step_gives_the_same_bits_on_one_thread_and_on_several(build, threads):
    """Rows are independent, so splitting them between threads changes no bit of the outputs
    or of any input's gradient (64 rows, the benchmark's 128 x 20 memory, 2 write heads)."""
    inputs = [t.detach().float().requires_grad_() for t in step_inputs(2, 1, 3, M=20, N=128, B=64)]
    before = torch.get_num_threads()
    results = []
    try:
        for n in (1, threads):
            torch.set_num_threads(n)
            results.append(step_and_grads(inputs, 3, 20.0, False))
    finally:
        torch.set_num_threads(before)
    (out_a, grad_a), (out_b, grad_b) = results
    for a, b in zip([*out_a, *grad_a], [*out_b, *grad_b], strict=True):
        assert torch.equal(a, b)


def test_a_compiler_without_openmp_still_gets_the_kernels_on_one_thread(tmp_path, monkeypatch):
    """If the build with -fopenmp fails, the extension is built without it, with a warning
    (torch's ``load`` is replaced here: no compiler runs)."""
    import torch.utils.cpp_extension as cpp_extension

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))  # its build folders go here

    calls = []

    class Ext:
        def use_generic_kernel(self, on):
            calls.append(("generic", on))

    def fake_load(name, sources, extra_cflags, extra_ldflags, build_directory):
        calls.append(list(extra_ldflags))
        if extra_ldflags:
            raise RuntimeError("clang: error: unsupported option '-fopenmp'")
        return Ext()

    monkeypatch.setattr(cpp_extension, "load", fake_load)
    monkeypatch.setattr(fused_step, "openmp_flags", lambda: ["-fopenmp"])
    with pytest.warns(RuntimeWarning, match="building them without OpenMP, on one thread"):
        assert isinstance(fused_step.load.__wrapped__(), Ext)
    assert calls[:2] == [["-fopenmp"], []]

    def no_compiler(**kwargs):
        calls.append(list(kwargs["extra_ldflags"]))
        raise RuntimeError("no compiler")

    monkeypatch.setattr(cpp_extension, "load", no_compiler)
    monkeypatch.setattr(fused_step, "openmp_flags", lambda: [])
    calls.clear()
    with pytest.raises(RuntimeError, match="no compiler"):  # without OpenMP: no second try
        fused_step.load.__wrapped__()
    assert calls == [[]]
