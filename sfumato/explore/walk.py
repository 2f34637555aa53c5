"""Latent walk plans: N frames from a start Recipe towards another seed, another prompt, or both.

A seed walk is a run of variations: frame t keeps the seed and takes the target seed as variation seed at
strength t (A1111's slerp of the two noises). A prompt walk mixes the target prompt's conditioning in at
factor t. t goes evenly from 0 to 1, so the first frame is the start picture and the last frame the target's
(exactly, for samplers that draw no noise while sampling: an ancestral sampler keeps the start seed's noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sfumato.errors import BadInput
from sfumato.recipe import Recipe

MAX_FRAMES: Final = 600


@dataclass(frozen=True)
class WalkPlan:
    """The frames' recipes in order, and the position t in [0, 1] of each."""

    start: Recipe
    to_seed: int | None
    to_prompt: str | None
    factors: tuple[float, ...]
    frames: tuple[Recipe, ...]


def walk_factors(frames: int) -> tuple[float, ...]:
    """Evenly spaced positions from 0 to 1, both ends included (exactly 0.0 and 1.0)."""
    if not 2 <= frames <= MAX_FRAMES:
        raise BadInput(f"frames: a walk needs 2 to {MAX_FRAMES} frames, got {frames}")
    return tuple(1.0 if i == frames - 1 else i / (frames - 1) for i in range(frames))


def plan_walk(start: Recipe, *, frames: int, to_seed: int | None = None, to_prompt: str | None = None) -> WalkPlan:
    """Frame recipes of a walk from `start` to `to_seed` and/or `to_prompt` (one picture each)."""
    if to_seed is None and to_prompt is None:
        raise BadInput("a walk needs somewhere to go: a target seed (--to-seed) and/or prompt (--to-prompt)")
    if to_seed is not None and start.subseed_strength > 0:
        raise BadInput(f"the start recipe is already a variation (variation seed {start.subseed} at strength "
                       f"{start.subseed_strength}); a seed walk needs a plain seed to start from")
    if to_prompt is not None and start.mix_prompt is not None:
        raise BadInput("the start recipe already mixes in a second prompt; a prompt walk needs a plain prompt")
    factors = walk_factors(frames)
    one = start.replace(batch_size=1, batch_count=1)
    recipes = []
    for factor in factors:
        changes: dict[str, object] = {}
        if to_seed is not None:
            changes |= {"subseed": to_seed, "subseed_strength": factor}
        if to_prompt is not None:
            changes |= {"mix_prompt": to_prompt, "mix_factor": factor}
        recipes.append(one.replace(**changes))
    return WalkPlan(start, to_seed, to_prompt, factors, tuple(recipes))
