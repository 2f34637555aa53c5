"""Prompt mixing for latent walks: the conditioning of `prompt` and of `mix_prompt`, linearly interpolated.

Both prompts are encoded with the same negative prompt; at every sampling step the two conditionings (token
states and, for SDXL, pooled embeddings) are padded to one length and mixed as (1 - t) * a + t * b, which is
`a` exactly at t = 0 and `b` exactly at t = 1. Each prompt may edit or alternate over the steps; the mix
switches wherever either one does.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from sfumato.errors import RecipeError
from sfumato.prompt.encode import Conditioning, pad_with_empty
from sfumato.prompt.schedule import ConditioningSchedule, ScheduledConditioning, SubPromptSchedule


def _mix(a: torch.Tensor | None, b: torch.Tensor | None, factor: float) -> torch.Tensor | None:
    if a is None or b is None:
        return None
    return a * (1.0 - factor) + b * factor


def mix_conditioning(a: Conditioning, b: Conditioning, factor: float, empty: Conditioning) -> Conditioning:
    """(1 - factor) * a + factor * b, the shorter one first lengthened with the empty prompt's chunk (A1111's
    padding of cond and uncond), so prompts of different lengths mix too."""
    length = max(a.length, b.length)
    a, b = pad_with_empty(a, length, empty), pad_with_empty(b, length, empty)
    mixed = _mix(a.embeds, b.embeds, factor)
    assert mixed is not None
    # Both prompts' textual inversions went in, so the picture records (and `again` checks) all of them.
    return Conditioning(mixed, _mix(a.pooled, b.pooled, factor), a.embeddings | b.embeddings)


def mix_schedules(first: ConditioningSchedule, second: ConditioningSchedule, factor: float) -> ConditioningSchedule:
    """`first` with its positive conditioning mixed towards `second`'s at every step (negative: `first`'s)."""
    for name, schedule in (("prompt", first), ("mix_prompt", second)):
        if len(schedule.positive) != 1:
            raise RecipeError(
                f"{name}: AND joins {len(schedule.positive)} sub-prompts; prompt mixing takes one prompt on each "
                "side", field=name,
            )
    a, b = first.positive[0], second.positive[0]
    # Both stay constant between consecutive end steps of either schedule: one mixed entry per such stretch.
    ends = sorted({entry.end_at_step for entry in (*a.entries, *b.entries)})
    entries = tuple(
        ScheduledConditioning(end, mix_conditioning(a.at_step(end), b.at_step(end), factor, first.empty))
        for end in ends
    )
    weight = a.weight * (1.0 - factor) + b.weight * factor
    return replace(first, positive=(SubPromptSchedule(weight, entries),))
