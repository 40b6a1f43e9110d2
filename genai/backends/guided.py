"""Schema-guided decoding for the transformers backend.

Small models rarely write valid JSON on their own. For the flat schemas copyloop uses
(an object of strings and arrays of strings) we decode under a state machine instead:
the JSON punctuation and keys are forced token by token, and inside a string the model
may only pick tokens that contain no quote, backslash or control character, until it
closes the string with a bare quote token (or reaches the field's `maxLength`). Arrays
get exactly `minItems` items. The result is valid JSON by construction.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import torch

from genai.draft import ENDS_SENTENCE
from genai.errors import InvalidInputError
from genai.sentences import CUT_BEFORE_STOP, finished, last_word, trim_unfinished

__all__ = ["SchemaLogitsProcessor", "SchemaPlan", "TokenTable", "plan_schema"]


@dataclass(frozen=True)
class _Force:
    text: str


@dataclass(frozen=True)
class _String:
    min_chars: int
    max_chars: int
    ends_sentence: bool = False  # may close only after '.', '!' or '?'


@dataclass(frozen=True)
class _Choice:
    options: tuple[str, ...]  # the string is exactly one of these


Step = _Force | _String | _Choice

# A string that must end on a sentence may, in its last characters before `maxLength`, only
# write a token that ends the sentence: it stops on a full stop instead of mid-word.
SENTENCE_END_ROOM = 16
# From this share of `maxLength` on, a finished sentence closes the string, so that a paragraph
# ends on its own sentence well before the limit instead of starting one it has no room for.
SENTENCE_CLOSE_FROM = 0.6
# In those last characters the model must itself want to end: when it gives every ending it may
# write less than this probability, the string closes where it is, unfinished, for the parser to
# drop or the gates to block. A stop it did not want ("...for slow evenings at.", "...so you can
# find the perfect.") reads as a finished sentence and is not one.
SENTENCE_END_MIN_P = 0.05


@dataclass(frozen=True)
class SchemaPlan:
    """The forced pieces and free strings that spell one JSON object."""

    steps: tuple[Step, ...]

    @property
    def max_chars(self) -> int:
        """The most characters the free strings can hold."""
        return sum(_room(s) for s in self.steps if not isinstance(s, _Force))

    @property
    def max_tokens(self) -> int:
        """A token budget that always fits: every token writes at least one character, plus EOS."""
        forced = sum(len(s.text) for s in self.steps if isinstance(s, _Force))
        return forced + sum(_room(s) + 1 for s in self.steps if not isinstance(s, _Force)) + 1


def _room(step: _String | _Choice) -> int:
    if isinstance(step, _Choice):
        return max(len(o) for o in step.options)
    return step.max_chars


def _string_bounds(spec: dict[str, Any], field: str) -> _String | _Choice:
    if spec.get("type") != "string":
        raise InvalidInputError("guided decoding supports only strings and arrays of strings", field=field)
    if "enum" in spec:
        options = tuple(str(o) for o in spec["enum"])
        if not options or any(not o or '"' in o or "\\" in o for o in options):
            raise InvalidInputError("an enum needs non-empty options without quotes", field=field)
        return _Choice(options)
    return _String(
        int(spec.get("minLength", 1)), int(spec.get("maxLength", 200)), bool(spec.get(ENDS_SENTENCE, False))
    )


def plan_schema(schema: dict[str, Any]) -> SchemaPlan:
    """Turn a flat JSON schema into forced pieces and free strings, in property order."""
    if schema.get("type") != "object" or not schema.get("properties"):
        raise InvalidInputError("guided decoding needs an object schema with properties", field="json_schema")
    steps: list[Step] = []
    prefix = "{"
    for i, (key, spec) in enumerate(schema["properties"].items()):
        field = f"json_schema.properties.{key}"
        sep = "" if i == 0 else ", "
        if spec.get("type") == "array":
            count = max(1, int(spec.get("minItems", 1)))
            item = _string_bounds(spec.get("items", {}), field + ".items")
            steps.append(_Force(f'{prefix}{sep}{json.dumps(key)}: ["'))
            for j in range(count):
                steps.append(item)  # a string ends with the model's own closing quote
                steps.append(_Force(', "' if j < count - 1 else "]"))
        else:
            steps.append(_Force(f'{prefix}{sep}{json.dumps(key)}: "'))
            steps.append(_string_bounds(spec, field))
        prefix = ""
    steps.append(_Force("}"))
    # merge adjacent forced pieces so each is tokenised once
    merged: list[Step] = []
    for step in steps:
        if merged and isinstance(step, _Force) and isinstance(merged[-1], _Force):
            merged[-1] = _Force(merged[-1].text + step.text)
        else:
            merged.append(step)
    return SchemaPlan(tuple(merged))


def _starts_sentence(first: str) -> bool:
    """A paragraph opens on a capital or an opening quote; a digit or a lower-case word there is
    mostly the sentence the string before ran out of room for, carried on."""
    return bool(first) and (first.isupper() or first in "\"'“‘¡¿")


class TokenTable:
    """Per-vocabulary facts the processor needs, computed once per tokenizer."""

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        self.tokenizer = tokenizer
        n = len(tokenizer)
        self.text: list[str] = [""] * vocab_size
        allowed = torch.zeros(vocab_size, dtype=torch.bool)
        special = set(tokenizer.all_special_ids)
        pieces = tokenizer.convert_ids_to_tokens(list(range(n)))
        for tid, piece in enumerate(pieces):
            if tid >= vocab_size or piece is None or tid in special:
                continue
            if piece.startswith("<") and piece.endswith(">"):
                continue  # control and byte-fallback tokens
            text = piece.replace("\u2581", " ")
            self.text[tid] = text
            if text and not any(ch in '"\\' or ord(ch) < 32 or ch == "\u2028" for ch in text):
                allowed[tid] = True
        self.string_mask = allowed
        # tokens that end a sentence: a word and its stop (" candles."), or a bare stop ("."), which
        # may only follow a word; never "...", "$." or a stop after a space
        self.word_end_mask = allowed & torch.tensor(
            [bool(re.fullmatch(r"\s?[\w'’%)]*[^\W_][\w'’%)]*[.!?]", t)) for t in self.text], dtype=torch.bool
        )
        self.stop_mask = allowed & torch.tensor(
            [bool(re.fullmatch(r"[.!?]", t)) for t in self.text], dtype=torch.bool
        )
        # of those, the ones that start a word (" candles.") and end on a word a sentence can end
        # on (not " the.", " until."); and those without the space, which continue the word before
        ends_well = torch.tensor([last_word(t) not in CUT_BEFORE_STOP for t in self.text], dtype=torch.bool)
        spaced = torch.tensor([t.startswith(" ") for t in self.text], dtype=torch.bool)
        self.spaced_end_mask = self.word_end_mask & ends_well & spaced
        self.joined_end_mask = self.word_end_mask & ends_well & ~spaced
        # what a sentence starts with: a capital, a digit or an opening mark, never a lower-case
        # word, which would carry on the sentence the string before ran out of room for
        self.sentence_start_mask = allowed & torch.tensor(
            [_starts_sentence(t.lstrip()[:1]) for t in self.text], dtype=torch.bool
        )
        # a whole word a sentence can end on, without its stop (" candles")
        self.spaced_word_mask = (
            allowed
            & ends_well
            & torch.tensor([bool(re.fullmatch(r" [^\W\d_]+", t)) for t in self.text], dtype=torch.bool)
        )
        self._option_ids: dict[str, list[int]] = {}
        self.lengths = torch.tensor([len(t) for t in self.text], dtype=torch.long)
        quote = tokenizer.convert_tokens_to_ids('"')
        if not isinstance(quote, int) or quote == tokenizer.unk_token_id:
            raise InvalidInputError("the tokenizer has no single-quote-mark token", field="model")
        self.quote_id: int = quote
        # tokens such as '",' or '"]' that close a string and start the JSON that follows
        self._quote_led = [
            tid
            for tid, text in enumerate(self.text)
            if len(text) > 1 and text[0] == '"' and '"' not in text[1:] and "\\" not in text
        ]
        self._forced: dict[str, int] = {}
        self._closers: dict[str, list[int]] = {}

    def first_token(self, text: str) -> int:
        """The first token id of a forced piece of text (cached)."""
        if text not in self._forced:
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            if not ids:
                raise InvalidInputError(f"cannot tokenise {text!r}", field="json_schema")
            self._forced[text] = int(ids[0])
        return self._forced[text]

    def option_ids(self, option: str) -> list[int]:
        """The token ids that spell an enum option (cached)."""
        if option not in self._option_ids:
            self._option_ids[option] = [
                int(i) for i in self.tokenizer.encode(option, add_special_tokens=False)
            ]
        return self._option_ids[option]

    def closers(self, following: str) -> list[int]:
        """Tokens that close a string when `following` is the forced text after it."""
        if following not in self._closers:
            self._closers[following] = [self.quote_id] + [
                tid for tid in self._quote_led if following.startswith(self.text[tid][1:])
            ]
        return self._closers[following]


class _RowState:
    def __init__(self, plan: SchemaPlan) -> None:
        self.plan = plan
        self.step = 0
        self.chars = 0  # characters written into the current string
        self.text = ""  # the current string's text so far
        self.ids: list[int] = []  # the current string's tokens so far (for enum options)
        self.pending = ""  # forced text still to emit
        self.done = False
        self.forcing_end = False  # this step may only end the sentence
        self._enter()

    def _enter(self) -> None:
        if self.step >= len(self.plan.steps):
            self.done = True
            return
        step = self.plan.steps[self.step]
        self.chars = 0
        self.text = ""
        self.ids = []
        self.pending = step.text if isinstance(step, _Force) else ""

    def advance(self) -> None:
        self.step += 1
        self._enter()

    @property
    def following(self) -> str:
        nxt = self.step + 1
        if nxt < len(self.plan.steps):
            step = self.plan.steps[nxt]
            return step.text if isinstance(step, _Force) else ""
        return ""


class SchemaLogitsProcessor:
    """A transformers logits processor that keeps every row of a batch on its schema plan."""

    def __init__(self, table: TokenTable, plans: list[SchemaPlan], prompt_len: int, eos_id: int) -> None:
        self.table = table
        self.rows = [_RowState(p) for p in plans]
        self.prompt_len = prompt_len
        self.eos_id = eos_id
        self._string_mask: torch.Tensor | None = None
        self._lengths: torch.Tensor | None = None

    def _consume(self, row: _RowState, token: int) -> None:
        if row.done:
            return
        text = self.table.text[token]
        if row.pending:
            # a forced token; its text may not equal the piece exactly (tokenisation of a suffix)
            row.pending = row.pending[len(text) :] if row.pending.startswith(text) else row.pending[1:]
            if not row.pending:
                row.advance()
        elif token == self.table.quote_id or (text.startswith('"') and token != self.table.quote_id):
            tail = text[1:]
            row.advance()  # the string is closed; the tail, if any, starts the forced piece
            if tail and row.pending.startswith(tail):
                row.pending = row.pending[len(tail) :]
                if not row.pending:
                    row.advance()
        else:
            row.chars += len(text)
            row.text += text
            row.ids.append(token)

    def _choice_tokens(self, row: _RowState, step: _Choice) -> tuple[list[int], bool]:
        """The next tokens that keep the string on one of the options, and whether it may close."""
        n = len(row.ids)
        nxt: list[int] = []
        done = False
        for option in step.options:
            ids = self.table.option_ids(option)
            if ids[:n] == row.ids:
                if len(ids) > n:
                    nxt.append(ids[n])
                else:
                    done = True
        return list(dict.fromkeys(nxt)), done

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Mask the scores so that each row can only continue its plan."""
        if self._string_mask is None or self._lengths is None or self._string_mask.device != scores.device:
            self._string_mask = self.table.string_mask.to(scores.device)
            self._lengths = self.table.lengths.to(scores.device)
        if input_ids.shape[1] > self.prompt_len:
            last = input_ids[:, -1].tolist()
            for row, token in zip(self.rows, last, strict=True):
                self._consume(row, int(token))
        neg = torch.finfo(scores.dtype).min
        for i, row in enumerate(self.rows):
            if row.done:
                forced_id = self.eos_id
            elif row.pending:
                forced_id = self.table.first_token(row.pending)
            else:
                step = row.plan.steps[row.step]
                assert not isinstance(step, _Force)
                row.forcing_end = False
                allow = self._allowed(row, step, scores.shape[1])
                if allow is not None and row.forcing_end:
                    wanted = torch.softmax(scores[i].float(), dim=-1)[allow[: scores.shape[1]]].sum()
                    if float(wanted) < SENTENCE_END_MIN_P:
                        allow = None  # the model does not want to end here: close unfinished
                if allow is not None:
                    scores[i] = scores[i].masked_fill(~allow[: scores.shape[1]], neg)
                    continue
                forced_id = self.table.quote_id
            keep = scores[i, forced_id].clone()
            scores[i] = neg
            scores[i, forced_id] = keep if torch.isfinite(keep) else 0.0
        return scores

    def _allowed(self, row: _RowState, step: _String | _Choice, width: int) -> torch.Tensor | None:
        """The tokens the row may write next inside a string; None: it must close now."""
        assert self._string_mask is not None and self._lengths is not None
        if isinstance(step, _Choice):
            nxt, done = self._choice_tokens(row, step)
            if not nxt and not done:
                return None
            allow = torch.zeros_like(self._string_mask)
            allow[nxt] = True
            if done:
                allow[self.table.closers(row.following)] = True
            return allow
        limit = _room(step)
        if row.chars >= limit:
            return None
        # a token longer than the room left would overshoot the limit
        allow = self._string_mask & (self._lengths <= limit - row.chars)
        if step.ends_sentence and not row.text.strip():
            starts = allow & self.table.sentence_start_mask.to(allow.device)
            if bool(starts.any()):
                allow = starts
        ended = finished(row.text) if step.ends_sentence else True
        if step.ends_sentence and ended and row.chars >= max(step.min_chars, SENTENCE_CLOSE_FROM * limit):
            return None  # past most of its room, a finished sentence closes the string
        if step.ends_sentence and limit - row.chars <= SENTENCE_END_ROOM:
            if ended and row.chars >= step.min_chars:
                return None  # near the limit a finished sentence closes the string
            if finished(trim_unfinished(row.text)):
                # a sentence is finished already: write on; if this one does not end before the
                # limit, the string closes there and the parser drops it. A stop forced into the
                # last few characters ("...and the sale runs until.") reads worse than no sentence.
                return allow
            # only a token that finishes the sentence: a word with its stop, or a stop after a
            # word, where that word is one a sentence can end on ("at." or "Every." is a cut)
            ends = self.table.spaced_end_mask.to(allow.device)
            if not re.search(r"\w$", row.text):
                ends = ends | self.table.joined_end_mask.to(allow.device)  # starts a word here
            if re.search(r"[^\W_]['’%)]?$", row.text) and last_word(row.text) not in CUT_BEFORE_STOP:
                ends = ends | self.table.stop_mask.to(allow.device)
            if not bool((allow & ends).any()):
                # no token ends the sentence here: a word it can end on now, and its stop next
                room = limit - row.chars - 1
                ends = self.table.spaced_word_mask.to(allow.device) & (self._lengths <= room)
            if not bool((allow & ends).any()):
                ends = self.table.stop_mask.to(allow.device)  # a stop is better than a cut
            allow = allow & ends
            row.forcing_end = True
        if row.chars >= step.min_chars and ended:
            allow[self.table.closers(row.following)] = True
        return allow if bool(allow.any()) else None
