"""Feeds the prompt stage's ConditioningSchedule to a diffusers pipeline: embeddings in, per-step switching.

Static prompts go in as `prompt_embeds`; prompt editing and alternation swap the embeddings between
steps through the step callback (the only thing a callback of ours ever returns). A single AND member
with weight w scales CFG by w, exactly A1111's composable formula for one member; several members run
through `engine/composable.py`, which conditions every member itself at every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from sfumato.engine.prompt_mix import mix_schedules
from sfumato.prompt.embedding_words import TextualInversions
from sfumato.prompt.schedule import ConditioningSchedule, StepConditioning, build_conditioning_schedule
from sfumato.recipe import Recipe


@dataclass(frozen=True)
class PromptPlan:
    """What the pipeline call needs from the prompt, for one batch."""

    schedule: ConditioningSchedule
    model_calls: int
    batch_size: int
    guidance_scale: float
    is_sdxl: bool

    def arguments(self) -> dict[str, Any]:
        """Pipeline keywords for the first step (prompt strings replaced by embeddings)."""
        first = self.schedule.at_step(0)
        positive, negative = first.positives[0][0], first.negative
        arguments: dict[str, Any] = {
            "prompt": None, "negative_prompt": None, "guidance_scale": self.guidance_scale,
            "prompt_embeds": self._repeat(positive.embeds), "negative_prompt_embeds": self._repeat(negative.embeds),
        }
        if self.is_sdxl:
            arguments["pooled_prompt_embeds"] = self._repeat(positive.pooled)
            arguments["negative_pooled_prompt_embeds"] = self._repeat(negative.pooled)
        return arguments

    @property
    def tensor_inputs(self) -> list[str]:
        return ["prompt_embeds", "add_text_embeds"] if self.is_sdxl else ["prompt_embeds"]

    @property
    def is_composable(self) -> bool:
        """Several AND members: composable diffusion (engine/composable.py) conditions the UNet itself."""
        return len(self.schedule.positive) > 1

    def step_outputs(self, pipe: Any, finished_step: int) -> dict[str, torch.Tensor]:
        """Callback outputs that switch the conditioning for the next step; empty when nothing changes."""
        if not self.schedule.changes_between_steps or self.is_composable:
            return {}
        step = self.schedule.at_step(finished_step + 1)
        return self._embeds_for(pipe, step)

    def _embeds_for(self, pipe: Any, step: StepConditioning) -> dict[str, torch.Tensor]:
        positive, negative = step.positives[0][0], step.negative
        guided = bool(pipe.do_classifier_free_guidance)
        # Pipelines keep (uncond, cond) stacked along the batch when CFG is on.
        embeds = self._stack(negative.embeds, positive.embeds, guided)
        outputs = {"prompt_embeds": embeds}
        if self.is_sdxl:
            outputs["add_text_embeds"] = self._stack(negative.pooled, positive.pooled, guided)
        return outputs

    def _stack(self, negative: torch.Tensor | None, positive: torch.Tensor | None, guided: bool) -> torch.Tensor:
        assert negative is not None and positive is not None
        return torch.cat([self._repeat(negative), self._repeat(positive)]) if guided else self._repeat(positive)

    def _repeat(self, tensor: torch.Tensor | None) -> torch.Tensor | None:
        return None if tensor is None else tensor.repeat(self.batch_size, *([1] * (tensor.dim() - 1)))

    def repeat_rows(self, tensor: torch.Tensor | None) -> torch.Tensor:
        """One row per picture of the batch: (1, ...) -> (batch_size, ...)."""
        assert tensor is not None  # pooled embeddings exist wherever the pipeline asks for them (SDXL)
        return tensor.repeat(self.batch_size, *([1] * (tensor.dim() - 1)))


def plan_prompt(recipe: Recipe, pipe: Any, *, batch_size: int, model_calls: int,
                embeddings: TextualInversions | None = None, first_pass_calls: int | None = None) -> PromptPlan:
    """Parse and encode the recipe's prompts once; `model_calls` is how many UNet calls sampling makes.

    `first_pass_calls`: this plans a hires fix's second pass, whose prompt editing counts on from the first's.

    A1111 counts prompt-editing steps in model calls (second-order samplers call twice per step), so the
    schedule is built over the calls the scheduler will actually make.
    """
    schedule = build_conditioning_schedule(pipe, recipe.prompt, recipe.negative_prompt, model_calls,
                                           clip_skip=recipe.clip_skip, embeddings=embeddings,
                                           first_pass_steps=first_pass_calls)
    if recipe.mix_prompt is not None:  # prompt walks (issue #7): mix a second prompt's conditioning in
        second = build_conditioning_schedule(pipe, recipe.mix_prompt, recipe.negative_prompt, model_calls,
                                             clip_skip=recipe.clip_skip, embeddings=embeddings,
                                             first_pass_steps=first_pass_calls)
        schedule = mix_schedules(schedule, second, recipe.mix_factor)
    # One member: its weight scales CFG. Several: the composable hooks weigh each member themselves.
    weight = schedule.positive[0].weight if len(schedule.positive) == 1 else 1.0
    is_sdxl = getattr(pipe, "text_encoder_2", None) is not None
    return PromptPlan(schedule, model_calls, batch_size, recipe.guidance_scale * weight, is_sdxl)
