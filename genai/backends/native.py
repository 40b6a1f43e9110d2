"""The lean decoder's C kernels for one-token bf16 steps: built once per machine, loaded with ctypes.

`kernels/decode_step.c` runs a Gemma 3 layer's one-token step in one call (see its header). It is
compiled on first use with the system's C compiler (``CC``, else ``cc``), optimised for this CPU,
into the cache directory under a name that hashes the source, the compiler's version, the flags
and the CPU's features, so a changed machine or compiler rebuilds it.
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
from dataclasses import dataclass
from pathlib import Path

import torch

from genai.paths import user_cache_dir

__all__ = [
    "NORMS",
    "SOURCE",
    "DecodeStepKernels",
    "KernelBuildError",
    "LayerWeights",
    "NativeLayer",
    "build",
    "build_key",
    "load_decode_step",
]

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("kernels") / "decode_step.c"
# a layer's four RMS norms, in the order of ``copyloop_layer``
NORMS = ("input", "post_attention", "pre_feedforward", "post_feedforward")
FLAGS = ("-O3", "-march=native", "-fPIC", "-shared", "-fopenmp", "-std=c11")


class KernelBuildError(RuntimeError):
    """The C kernels could not be compiled or loaded."""


class LayerWeights(ctypes.Structure):
    """One layer's weights and norms as the C side reads them (``copyloop_layer``)."""

    _fields_ = [
        *((name, c_void_p) for name in ("qkv", "o", "gate_up", "down")),
        *((f"{name}_scale", c_void_p) for name in NORMS),
        ("head_scale", c_void_p),
        *((f"{name}_eps", c_float) for name in NORMS),
        ("head_eps", c_float),
        *((name, c_int64) for name in ("hidden", "heads", "kv_heads", "head_dim", "intermediate")),
    ]


@dataclass
class NativeLayer:
    """A layer's `LayerWeights` and the tensors it points into (kept alive with it)."""

    weights: LayerWeights
    tensors: list[torch.Tensor]


class DecodeStepKernels:
    """Typed entry points of the compiled library; tensors must be contiguous bf16 (scales fp32)."""

    def __init__(self, lib: ctypes.CDLL, path: Path) -> None:
        self.path = path
        self._rms_norm = lib.copyloop_rms_norm
        self._rms_norm.argtypes = [c_void_p, c_void_p, c_void_p, c_int64, c_float]
        self._layer_step = lib.copyloop_layer_step
        self._layer_step.argtypes = [ctypes.POINTER(LayerWeights)] + [c_void_p] * 5 + [c_int64] * 3
        self._layer_step.argtypes += [c_void_p, c_int]
        for fn in (self._rms_norm, self._layer_step):
            fn.restype = c_int

    def rms_norm(self, x: torch.Tensor, scale: torch.Tensor, out: torch.Tensor, eps: float) -> None:
        """``out = bf16(rms_norm(x) * scale)`` for one vector."""
        _check("rms_norm", self._rms_norm(x.data_ptr(), scale.data_ptr(), out.data_ptr(), x.numel(), eps))

    @staticmethod
    def layer(
        products: dict[str, torch.Tensor],
        norms: dict[str, tuple[torch.Tensor, float]],
        head_norm: tuple[torch.Tensor, float],
        heads: int,
        kv_heads: int,
    ) -> NativeLayer:
        """A layer from its product weights (`qkv`, `o`, `gate_up`, `down`: ``[out, in]`` bf16), its
        four norms (`NORMS`: fp32 ``1 + weight`` and eps) and its head norms (``[heads + kv_heads, d]``).
        """
        head_scale, head_eps = head_norm
        hidden = products["qkv"].shape[1]
        head_dim = head_scale.shape[-1]
        for name, weight in products.items():
            if weight.dtype != torch.bfloat16 or not weight.is_contiguous():
                raise ValueError(f"{name} weight must be contiguous bf16, not {weight.dtype}")
        scales = [norms[name][0] for name in NORMS] + [head_scale]
        if any(t.dtype != torch.float32 or not t.is_contiguous() for t in scales):
            raise ValueError("norm scales must be contiguous fp32")
        if tuple(products["qkv"].shape) != ((heads + 2 * kv_heads) * head_dim, hidden):
            raise ValueError(
                f"qkv weight of shape {tuple(products['qkv'].shape)} for {heads}/{kv_heads} heads"
            )
        weights = LayerWeights(
            *(products[name].data_ptr() for name in ("qkv", "o", "gate_up", "down")),
            *(t.data_ptr() for t in scales),
            *(norms[name][1] for name in NORMS),
            head_eps,
            hidden,
            heads,
            kv_heads,
            head_dim,
            products["gate_up"].shape[0] // 2,
        )
        return NativeLayer(weights, [*products.values(), *scales])

    def layer_step(
        self,
        layer: NativeLayer,
        h: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        slot: int,
        mask: torch.Tensor,
        threads: int,
    ) -> None:
        """The residual stream `h` of one token through `layer`, in place, over its ``[kv_heads, total, d]``
        cache (its key and value go to `slot`; `mask`: additive, over slots ``0 .. end - 1``)."""
        rc = self._layer_step(
            ctypes.byref(layer.weights), h.data_ptr(), cos.data_ptr(), sin.data_ptr(), keys.data_ptr(),
            values.data_ptr(), slot, mask.numel(), keys.shape[-2], mask.data_ptr(), threads,
        )  # fmt: skip
        _check("layer_step", rc)


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
    folder = (root or user_cache_dir()) / "kernels"
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
