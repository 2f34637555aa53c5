"""Prompt + negative prompt -> ConditioningSchedule: per AND member, its conditioning for every sampling step.

This is what the engine calls once per job, before sampling (see `build_conditioning_schedule`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import torch

from sfumato.errors import RecipeError
from sfumato.prompt.chunks import chunk_fragments
from sfumato.prompt.compel_encode import encode_compel
from sfumato.prompt.compel_syntax import SyntaxChoice
from sfumato.prompt.embedding_words import EmbeddingLookup, TextualInversions
from sfumato.prompt.encode import (
    Conditioning,
    PromptComponents,
    check_clip_skip,
    encode_fragments,
    pad_with_empty,
    pad_with_last,
    zeros_like,
)
from sfumato.prompt.errors import PromptError
from sfumato.prompt.parse import AdapterTag, ParsedPrompt, parse_prompt
from sfumato.prompt.wordpiece import wordpiece_tokens

# InvokeAI / Compel prompts name an embedding explicitly as <name>; A1111 prompts use the bare word.
_COMPEL_EMBEDDING: Final = re.compile(r"<([\w.\-]+)>")


@dataclass(frozen=True)
class ScheduledConditioning:
    """Conditioning used for sampling steps up to and including `end_at_step`."""

    end_at_step: int
    conditioning: Conditioning


@dataclass(frozen=True)
class SubPromptSchedule:
    """One AND member: its weight and its schedule (one entry unless the prompt edits or alternates)."""

    weight: float
    entries: tuple[ScheduledConditioning, ...]

    def at_step(self, step: int) -> Conditioning:
        """A1111's rule: the first entry with step <= end_at_step, where `step` is the 0-based sampler step."""
        return next((e.conditioning for e in self.entries if step <= e.end_at_step), self.entries[-1].conditioning)


@dataclass(frozen=True)
class StepConditioning:
    """What one sampling step needs: every AND member with its weight, and the negative, all the same length."""

    positives: tuple[tuple[Conditioning, float], ...]
    negative: Conditioning


@dataclass(frozen=True)
class ConditioningSchedule:
    """The positive prompt's AND members and the negative prompt, each scheduled over the steps."""

    positive: tuple[SubPromptSchedule, ...]
    negative: SubPromptSchedule
    empty: Conditioning  # the empty prompt, whose 77-token chunk pads the shorter side
    parsed: ParsedPrompt
    parsed_negative: ParsedPrompt
    window_warnings: tuple[str, ...] = ()  # text a fixed-window encoder (MiniLM) cannot read

    @property
    def adapters(self) -> tuple[AdapterTag, ...]:
        return self.parsed.adapters

    @property
    def warnings(self) -> tuple[str, ...]:
        return (self.parsed.warnings + tuple(f"negative prompt: {w}" for w in self.parsed_negative.warnings)
                + self.window_warnings)

    @property
    def embeddings(self) -> frozenset[str]:
        """Textual-inversion names used anywhere: every member, every step, and the negative prompt."""
        members = (*self.positive, self.negative)
        return frozenset(name for m in members for e in m.entries for name in e.conditioning.embeddings)

    @property
    def is_static(self) -> bool:
        """One member of weight 1 and no prompt editing: the pipeline's plain prompt_embeds path is enough."""
        members = (*self.positive, self.negative)
        return len(self.positive) == 1 and self.positive[0].weight == 1.0 and all(len(m.entries) == 1 for m in members)

    @property
    def changes_between_steps(self) -> bool:
        """Prompt editing or alternation somewhere: the conditioning switches during sampling."""
        return any(len(member.entries) > 1 for member in (*self.positive, self.negative))

    def at_step(self, step: int) -> StepConditioning:
        """Conditioning for 0-based sampler step `step`, padded as A1111 pads cond and uncond."""
        conds = [member.at_step(step) for member in self.positive]
        longest = max(c.length for c in conds)
        conds = [pad_with_last(c, longest) for c in conds]
        negative = self.negative.at_step(step)
        length = max(longest, negative.length)
        padded = tuple((pad_with_empty(c, length, self.empty), m.weight) for c, m in zip(conds, self.positive))
        return StepConditioning(padded, pad_with_empty(negative, length, self.empty))


def build_conditioning_schedule(components: PromptComponents | Any, prompt: str, negative: str, steps: int, *,
                                clip_skip: int = 1, syntax: SyntaxChoice = "auto",
                                embeddings: TextualInversions | None = None,
                                first_pass_steps: int | None = None) -> ConditioningSchedule:
    """Parse and encode `prompt` and `negative` for `steps` sampling steps; `components` may be a pipeline.

    `first_pass_steps`: the schedule of a hires fix's second pass, which counts on from the first (parse_prompt).

    Raises PromptError (a RecipeError) for malformed prompts, RecipeError for a clip skip Compel cannot do.
    """
    if not isinstance(components, PromptComponents):
        components = PromptComponents.from_pipeline(components, embeddings)
    parsed = parse_prompt(prompt, steps=steps, syntax=syntax, first_pass_steps=first_pass_steps)
    parsed_negative = parse_prompt(negative, steps=steps, syntax=syntax, negative=True,
                                   first_pass_steps=first_pass_steps)
    lookup = components.embedding_lookup()
    for item, field in ((parsed, "prompt"), (parsed_negative, "negative_prompt")):
        check_clip_skip(components, clip_skip, item)
        _refuse_compel_embeddings(components, item, lookup, field)
    cache: dict[tuple[str, str], Conditioning] = {}
    with torch.inference_mode():
        empty = _encode(components, parse_prompt("", steps=steps).sub_prompts[0].schedule[0].fragments, "", "a1111",
                        clip_skip, cache)
        positive = tuple(_sub_schedule(components, parsed, i, clip_skip, cache) for i in range(len(parsed.sub_prompts)))
        if parsed.combine != "composable":  # Compel combined its parts itself: one member
            positive = (SubPromptSchedule(1.0, (ScheduledConditioning(steps, _compel(components, parsed, clip_skip)),)),)
        if negative == "" and components.force_zeros_for_empty_negative:
            negative_schedule = SubPromptSchedule(1.0, (ScheduledConditioning(steps, zeros_like(empty)),))
        elif parsed_negative.combine != "composable":
            negative_schedule = SubPromptSchedule(
                1.0, (ScheduledConditioning(steps, _compel(components, parsed_negative, clip_skip)),))
        else:
            negative_schedule = _sub_schedule(components, parsed_negative, 0, clip_skip, cache)
    return ConditioningSchedule(positive, negative_schedule, empty, parsed, parsed_negative,
                                _window_warnings(components, parsed, parsed_negative))


def _window_warnings(components: PromptComponents, *parsed: ParsedPrompt) -> tuple[str, ...]:
    """MiniLM reads one fixed window (CLIP models chunk instead): name the words it cuts, once per text."""
    if not components.wordpiece:
        return ()
    tokenizer = components.encoders[0].tokenizer
    warnings: dict[str, None] = {}
    for item, field in zip(parsed, ("prompt", "negative prompt"), strict=True):
        for sub in item.sub_prompts:
            for entry in sub.schedule:
                cut = wordpiece_tokens(tokenizer, entry.fragments, tokenizer.model_max_length).cut
                if cut:
                    words = tokenizer.convert_tokens_to_string(tokenizer.convert_ids_to_tokens(list(cut)))
                    warnings[f"{field}: this model reads {tokenizer.model_max_length - 2} tokens; "
                             f"{len(cut)} more are not read: {words!r}"] = None
    return tuple(warnings)


def _sub_schedule(components: PromptComponents, parsed: ParsedPrompt, index: int, clip_skip: int,
                  cache: dict[tuple[str, str], Conditioning]) -> SubPromptSchedule:
    sub = parsed.sub_prompts[index]
    entries = tuple(
        ScheduledConditioning(entry.end_at_step, _encode(components, entry.fragments, entry.text, parsed.syntax,
                                                         clip_skip, cache))
        for entry in sub.schedule
    )
    return SubPromptSchedule(sub.weight, entries)


def _encode(components: PromptComponents, fragments: tuple[tuple[str, float], ...], text: str, syntax: str,
            clip_skip: int, cache: dict[tuple[str, str], Conditioning]) -> Conditioning:
    key = (syntax, text)  # A1111 caches by text too: an edit that returns to earlier text reuses its encoding
    if key not in cache:
        cache[key] = encode_fragments(components, fragments, clip_skip=clip_skip)
    return cache[key]


def _refuse_compel_embeddings(components: PromptComponents, parsed: ParsedPrompt,
                              lookup: EmbeddingLookup | None, field: str) -> None:
    """An unknown <name> is an error pointing at it; a known embedding is refused, as Compel encodes with its own
    tokenizer pass, where our vectors cannot go (say so rather than drop them)."""
    if parsed.combine == "composable":
        return
    known = {word.name for word in components.embeddings.words} if components.embeddings is not None else set()
    for match in _COMPEL_EMBEDDING.finditer(parsed.text):
        if match[1] not in known:
            raise PromptError(f"unknown embedding <{match[1]}>", prompt=parsed.text, column=match.start(), field=field,
                              hint=f"embeddings in the library: {', '.join(sorted(known)) or 'none'} "
                                   "(files in <home>/embeddings; `sfumato models list`)")
    if lookup is None:
        return
    tokenizer = components.encoders[0].tokenizer
    for sub in parsed.sub_prompts:
        for entry in sub.schedule:
            chunks, _ = chunk_fragments(entry.fragments, tokenizer, lookup)
            if names := sorted({name for chunk in chunks for _, name in chunk.fixes}):
                raise RecipeError(
                    f"{field}: textual-inversion embeddings ({', '.join(names)}) are not supported in Compel-syntax "
                    "prompts yet; write the weights in A1111 syntax, e.g. (word:1.2)", field=field)


def _compel(components: PromptComponents, parsed: ParsedPrompt, clip_skip: int) -> Conditioning:
    return encode_compel(components, parsed.stripped_prompt, clip_skip=clip_skip)
