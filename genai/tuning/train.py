"""LoRA fine-tuning of the embedded model on the corpus, on the CPU, with fixed seeds.

Each training pair is the prompt a request renders (the current prompt version, its chat
template) and the e-mail as the JSON object the schema-guided decoder spells. The loss counts
the e-mail's tokens only, and the output layer runs on those positions only: the 262k-word
output layer is most of a step's cost on a CPU. The held-out loss is measured on the eval
split (businesses never trained on) before and after training.
"""

from __future__ import annotations

import json
import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from genai.errors import InvalidInputError
from genai.prompts import PromptTemplate, cta_labels_for, load_prompt
from genai.tuning.adapters import Adapter
from genai.tuning.corpus import Example

__all__ = ["TuneOptions", "TuneReport", "encode_pairs", "target_text", "tune"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TuneOptions:
    """What to train and how: LoRA shape, optimiser and schedule."""

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    )
    epochs: float = 2.0
    learning_rate: float = 2e-4
    warmup_steps: int = 10
    grad_accum: int = 4  # pairs per optimiser step
    max_tokens: int = 512  # longer pairs are left out
    seed: int = 0
    max_steps: int | None = None  # optimiser steps; None: as many as the epochs take
    eval_limit: int | None = None  # held-out pairs to score; None: all

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise InvalidInputError("must be at least 1", field="rank")
        if self.epochs <= 0:
            raise InvalidInputError("must be positive", field="epochs")
        if self.learning_rate <= 0:
            raise InvalidInputError("must be positive", field="learning_rate")
        if self.grad_accum < 1:
            raise InvalidInputError("must be at least 1", field="grad_accum")


@dataclass
class TuneReport:
    """What a training run did, written beside the adapter as `training.json`."""

    adapter: str
    base_model: str
    prompt: str
    options: dict[str, Any]
    train_pairs: int
    eval_pairs: int
    steps: int
    seconds: float
    eval_loss_before: float | None
    eval_loss_after: float | None
    train_loss: list[float] = field(default_factory=list)  # mean loss of each optimiser step
    businesses: dict[str, list[str]] = field(default_factory=dict)  # split -> business ids
    started_from: dict[str, str] | None = None  # the adapter training continued: name and sha256


def target_text(example: Example) -> str:
    """The e-mail as the guided decoder writes it: JSON, keys in schema order, no inner quotes."""

    def clean(text: str) -> str:
        # the guided decoder never writes a quote or a backslash inside a string
        return text.replace('"', "\u201d").replace("\\", "/")

    target = example.target()
    data = {k: [clean(p) for p in v] if isinstance(v, list) else clean(v) for k, v in target.items()}
    return json.dumps(data, ensure_ascii=False)


def _labels_with(example: Example, rng: random.Random) -> tuple[str, ...]:
    """The CTA choices a request for this brief shows, with the example's own label among them."""
    labels = list(cta_labels_for(example.brief))
    if example.draft.cta_label not in labels:
        labels[rng.randrange(len(labels))] = example.draft.cta_label
    return tuple(dict.fromkeys(labels))


def encode_pairs(
    tokenizer: Any, examples: Sequence[Example], prompt: PromptTemplate, max_tokens: int, seed: int = 0
) -> list[tuple[list[int], int]]:
    """(token ids, prompt length) of each pair that fits `max_tokens`."""
    rng = random.Random(seed)
    end = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    end_ids = [end] if isinstance(end, int) and end != tokenizer.unk_token_id else [tokenizer.eos_token_id]
    out = []
    for ex in examples:
        rendered = prompt.render(ex.brand, ex.brief, ex.segment, cta_labels=_labels_with(ex, rng))
        text = tokenizer.apply_chat_template(rendered.messages, tokenize=False, add_generation_prompt=True)
        prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        target_ids = tokenizer(target_text(ex), add_special_tokens=False)["input_ids"] + end_ids
        if len(prompt_ids) + len(target_ids) <= max_tokens:
            out.append((list(prompt_ids) + list(target_ids), len(prompt_ids)))
    return out


def _pair_loss(model: Any, ids: list[int], prompt_len: int) -> Any:
    """Mean cross-entropy of the target tokens; the output layer sees the target positions only."""
    import torch
    import torch.nn.functional as F

    inputs = torch.tensor([ids])
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.model(input_ids=inputs).last_hidden_state[0]
    positions = hidden[prompt_len - 1 : len(ids) - 1]
    logits = base.lm_head(positions).float()
    cap = getattr(base.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    labels = inputs[0, prompt_len:]
    return F.cross_entropy(logits, labels)


def _eval_loss(model: Any, pairs: list[tuple[list[int], int]]) -> float | None:
    import torch

    if not pairs:
        return None
    model.eval()
    with torch.no_grad():
        losses = [float(_pair_loss(model, ids, n)) for ids, n in pairs]
    model.train()
    return round(sum(losses) / len(losses), 4)


def tune(
    checkpoint: Path,
    train: Sequence[Example],
    held_out: Sequence[Example],
    out_dir: Path,
    *,
    name: str = "email",
    options: TuneOptions | None = None,
    prompt: PromptTemplate | None = None,
    progress: Progress | None = None,
    model_id: str | None = None,
    start_from: Adapter | None = None,
) -> TuneReport:
    """Train a LoRA adapter on `train`, report the loss on `held_out`, save it in `out_dir`.

    With `start_from`, training continues from that adapter's weights (its rank and target
    modules, not the options'), as a brand's adapter starts from the shipped task adapter.
    """
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from genai.backends.checkpoint import GEMMA_CHAT_TEMPLATE

    options = options or TuneOptions()
    prompt = prompt or load_prompt()
    say = progress or (lambda _msg: None)
    if not train:
        raise InvalidInputError("the training split has no e-mails", field="corpus")
    started = time.perf_counter()
    random.seed(options.seed)
    torch.manual_seed(options.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
    if tokenizer.chat_template is None:
        tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
    base: Any = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32)
    config = LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=list(options.target_modules),
        task_type="CAUSAL_LM",
        bias="none",
    )
    model: Any
    if start_from is None:
        model = get_peft_model(base, config)
    else:
        try:
            with warnings.catch_warnings():
                # peft looks for the base model's own config by the name the adapter records
                warnings.filterwarnings("ignore", message="Could not find a config file")
                model = PeftModel.from_pretrained(base, str(start_from.path), is_trainable=True)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise InvalidInputError(
                f"adapter {start_from.name} does not fit this model: {exc}", field="start_from"
            ) from exc
        for adapter_config in model.peft_config.values():
            adapter_config.base_model_name_or_path = str(checkpoint)  # as a fresh adapter records it
        say(f"continuing from adapter {start_from.name} (rank {start_from.rank})")
    train_pairs = encode_pairs(tokenizer, train, prompt, options.max_tokens, options.seed)
    eval_pairs = encode_pairs(tokenizer, held_out, prompt, options.max_tokens, options.seed + 1)
    if options.eval_limit is not None:
        eval_pairs = eval_pairs[: options.eval_limit]
    if not train_pairs:
        raise InvalidInputError(f"no training pair fits in {options.max_tokens} tokens", field="max_tokens")
    say(f"{len(train_pairs)} training pairs, {len(eval_pairs)} held out; scoring the held-out loss")
    before = _eval_loss(model, eval_pairs)
    say(f"held-out loss before training: {before}")
    total = math.ceil(len(train_pairs) * options.epochs / options.grad_accum)
    if options.max_steps is not None:
        total = min(total, options.max_steps)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=options.learning_rate, weight_decay=0.0)

    def schedule(step: int) -> float:
        if step < options.warmup_steps:
            return (step + 1) / options.warmup_steps
        return max(
            0.0,
            0.5
            * (1 + math.cos(math.pi * (step - options.warmup_steps) / max(1, total - options.warmup_steps))),
        )

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
    order_rng = random.Random(options.seed)
    order: list[int] = []
    losses: list[float] = []
    model.train()
    for step in range(total):
        step_loss = 0.0
        for _ in range(options.grad_accum):
            if not order:
                order = list(range(len(train_pairs)))
                order_rng.shuffle(order)
            ids, n = train_pairs[order.pop()]
            loss = _pair_loss(model, ids, n) / options.grad_accum
            loss.backward()
            step_loss += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        scheduler.step()
        optimiser.zero_grad()
        losses.append(round(step_loss, 4))
        if step % 10 == 0 or step == total - 1:
            elapsed = time.perf_counter() - started
            say(f"step {step + 1}/{total}: loss {step_loss:.3f} ({elapsed:.0f} s)")
    after = _eval_loss(model, eval_pairs)
    say(f"held-out loss after training: {after}")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    (out_dir / "README.md").unlink(missing_ok=True)  # peft's blank model card
    config_path = out_dir / "adapter_config.json"
    saved = json.loads(config_path.read_text(encoding="utf-8"))
    saved["base_model_name_or_path"] = model_id or checkpoint.name  # no local path in a shipped file
    config_path.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    report = TuneReport(
        adapter=name,
        base_model=model_id or str(checkpoint),
        prompt=f"{prompt.name} v{prompt.version}",
        options=asdict(options),
        train_pairs=len(train_pairs),
        eval_pairs=len(eval_pairs),
        steps=total,
        seconds=round(time.perf_counter() - started, 1),
        eval_loss_before=before,
        eval_loss_after=after,
        train_loss=losses,
        businesses={
            "train": sorted({e.business for e in train}),
            "eval": sorted({e.business for e in held_out}),
        },
        started_from=None if start_from is None else {"name": start_from.name, "sha256": start_from.sha256},
    )
    (out_dir / "training.json").write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
    return report
