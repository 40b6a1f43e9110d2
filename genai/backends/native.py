"""The lean decoder's C kernels for one-token bf16 steps: built once per machine, loaded with ctypes.

`kernels/decode_step.c` does the small operations between a Gemma 3 layer's matrix products in a
few calls (see its header). It is compiled on first use with the system's C compiler (``CC``, else
``cc``), optimised for this CPU, into the cache directory under a name that hashes the source, the
compiler's version, the flags and the CPU's features, so a changed machine or compiler rebuilds it.
Where no compiler can build it (no compiler, no OpenMP) `load_decode_step` returns None and the
decoder keeps PyTorch's operations: the kernels are a speed-up, never a requirement.

The library links the OpenMP runtime PyTorch has already loaded (same soname), so its threads are
PyTorch's. Only the backend imports this module, after it has imported torch.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from ctypes import c_float, c_int, c_int64, c_void_p
from pathlib import Path

import torch

from genai.paths import cache_dir

__all__ = ["SOURCE", "DecodeStepKernels", "KernelBuildError", "build", "build_key", "load_decode_step"]

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("kernels") / "decode_step.c"
FLAGS = ("-O3", "-march=native", "-fPIC", "-shared", "-fopenmp", "-std=c11")


class KernelBuildError(RuntimeError):
    """The C kernels could not be compiled or loaded."""


class DecodeStepKernels:
    """Typed entry points of the compiled library; tensors must be contiguous bf16 (scales fp32)."""

    def __init__(self, lib: ctypes.CDLL, path: Path) -> None:
        self.path = path
        self._rms_norm = lib.copyloop_rms_norm
        self._rms_norm.argtypes = [c_void_p, c_void_p, c_void_p, c_int64, c_float]
        self._residual_norms = lib.copyloop_residual_norms
        self._residual_norms.argtypes = [
            c_void_p, c_void_p, c_void_p, c_float, c_void_p, c_float, c_void_p, c_int64,
        ]  # fmt: skip
        self._attention_step = lib.copyloop_attention_step
        self._attention_step.argtypes = [
            c_void_p, c_void_p, c_float, c_void_p, c_void_p, c_void_p, c_void_p, c_int64, c_int64,
            c_int64, c_void_p, c_void_p, c_int64, c_int64, c_int64, c_int,
        ]  # fmt: skip
        for fn in (self._rms_norm, self._residual_norms, self._attention_step):
            fn.restype = c_int

    def rms_norm(self, x: torch.Tensor, scale: torch.Tensor, out: torch.Tensor, eps: float) -> None:
        """``out = bf16(rms_norm(x) * scale)`` for one vector."""
        _check("rms_norm", self._rms_norm(x.data_ptr(), scale.data_ptr(), out.data_ptr(), x.numel(), eps))

    def residual_norms(
        self,
        h: torch.Tensor,
        y: torch.Tensor,
        post_scale: torch.Tensor,
        post_eps: float,
        next_scale: torch.Tensor,
        next_eps: float,
        x_next: torch.Tensor,
    ) -> None:
        """``h += bf16(rms_norm(y) * post_scale)`` in place; ``x_next = bf16(rms_norm(h) * next_scale)``."""
        rc = self._residual_norms(
            h.data_ptr(), y.data_ptr(), post_scale.data_ptr(), post_eps,
            next_scale.data_ptr(), next_eps, x_next.data_ptr(), h.numel(),
        )  # fmt: skip
        _check("residual_norms", rc)

    def attention_step(
        self,
        qkv: torch.Tensor,
        head_scale: torch.Tensor,
        eps: float,
        cos: torch.Tensor,
        sin: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        slot: int,
        mask: torch.Tensor,
        out: torch.Tensor,
        heads: int,
        threads: int,
    ) -> None:
        """One query token over a ``[kv_heads, total, d]`` cache; its key and value go to `slot`."""
        kv_heads, total, d = keys.shape[-3:]
        rc = self._attention_step(
            qkv.data_ptr(), head_scale.data_ptr(), eps, cos.data_ptr(), sin.data_ptr(),
            keys.data_ptr(), values.data_ptr(), slot, mask.numel(), total, mask.data_ptr(),
            out.data_ptr(), heads, kv_heads, d, threads,
        )  # fmt: skip
        _check("attention_step", rc)


def _check(name: str, rc: int) -> None:
    if rc == -1:
        raise MemoryError(f"native kernel {name}: out of memory")
    if rc != 0:
        raise ValueError(f"native kernel {name}: invalid shapes (code {rc})")


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC") or "cc")


def _cpu_features() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def build_key(compiler: str) -> str:
    """What the compiled library depends on, hashed: source, compiler version, flags, CPU."""
    try:
        version = subprocess.run(
            [compiler, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise KernelBuildError(f"C compiler {compiler} did not run: {exc}") from exc
    digest = hashlib.sha256(SOURCE.read_bytes())
    for part in (version, " ".join(FLAGS), platform.machine(), _cpu_features()):
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:24]


def build(root: Path | None = None) -> Path:
    """The compiled library's path, compiling it first where the cache lacks it."""
    compiler = _compiler()
    if compiler is None:
        raise KernelBuildError("no C compiler found (set CC)")
    folder = (root or cache_dir()) / "kernels"
    target = folder / f"decode_step-{build_key(compiler)}.so"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        partial = Path(tmp) / target.name
        try:
            done = subprocess.run(
                [compiler, *FLAGS, str(SOURCE), "-o", str(partial), "-lm"],
                capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as exc:
            raise KernelBuildError(f"compiling {SOURCE.name} failed: {exc}") from exc
        if done.returncode != 0:
            raise KernelBuildError(f"compiling {SOURCE.name} failed:\n{done.stderr.strip()[-2000:]}")
        os.replace(partial, target)  # atomic: a concurrent build finds a whole file or none
    return target


@functools.cache
def load_decode_step(root: Path | None = None) -> DecodeStepKernels | None:
    """The kernels, built on first use; None (and a log line saying why) where they cannot be."""
    try:
        path = build(root)
        lib = ctypes.CDLL(str(path))
    except (KernelBuildError, OSError) as exc:
        log.warning("lean decoder runs without its C kernels: %s", exc)
        return None
    return DecodeStepKernels(lib, path)
