"""Composable diffusion (A1111's `AND`) on an unchanged diffusers pipeline, through hooks on its UNet call.

A1111 (sd_samplers_cfg_denoiser.combine_denoised): denoised = uncond + sum_i w_i * cfg * (cond_i - uncond).
The pipeline computes uncond + cfg * (cond - uncond) from the two halves of its CFG batch, so the hooks run
every member in one batch [uncond, member_1, ..., member_n] and hand back, as the "cond" half,
uncond + sum_i w_i * (eps_i - uncond): the pipeline's own guidance formula then gives A1111's result. Each member
(and the negative) takes its conditioning for the current model call, so prompt editing switches per step, and
SDXL members each bring their own pooled embedding, as A1111 stacks each member's "vector". The hooks live only
for one pipeline call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from sfumato.engine.conditioning import PromptPlan
from sfumato.prompt.schedule import StepConditioning


@dataclass
class ComposableGuidance:
    """Job-local state of one batch's sampling: which model call this is, and the members' weights in it."""

    plan: PromptPlan
    calls: int = 0
    weights: tuple[float, ...] = field(default=())
    guided: bool = True

    def before_unet(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Widen the UNet's batch from [uncond, cond] (or [cond] without CFG) to [uncond, member_1, ..., member_n]."""
        sample, timestep, *rest = args
        size = self.plan.batch_size
        self.guided = sample.shape[0] == 2 * size
        step: StepConditioning = self.plan.schedule.at_step(self.calls)
        self.weights = tuple(weight for _, weight in step.positives)
        members = len(step.positives)
        latents = sample[-size:]  # (B, C, h, w): the same latents in both halves
        widened = torch.cat([sample[:size], *[latents] * members])
        rows = self.plan.repeat_rows
        kwargs = dict(kwargs)
        like = kwargs["encoder_hidden_states"]  # the pipeline's own: its device and dtype are the UNet's
        kwargs["encoder_hidden_states"] = torch.cat(
            [rows(step.negative.embeds), *[rows(cond.embeds) for cond, _ in step.positives]]).to(like)
        added = kwargs.get("added_cond_kwargs")
        if added:
            time_ids, pooled = added["time_ids"], added["text_embeds"]
            kwargs["added_cond_kwargs"] = {
                **added,
                "text_embeds": torch.cat([rows(step.negative.pooled),
                                          *[rows(cond.pooled) for cond, _ in step.positives]]).to(pooled),
                "time_ids": torch.cat([time_ids[:size], *[time_ids[-size:]] * members]),
            }
        if isinstance(timestep, torch.Tensor) and timestep.dim() > 0 and timestep.shape[0] == sample.shape[0]:
            timestep = torch.cat([timestep[:size], *[timestep[-size:]] * members])
        return (widened, timestep, *rest), kwargs

    def after_unet(self, module: Any, args: Any, kwargs: Any, output: Any) -> Any:
        """Fold the members back into the batch the pipeline expects (see the module docstring for the formula)."""
        self.calls += 1
        predicted = output[0] if isinstance(output, tuple) else output.sample
        size = self.plan.batch_size
        uncond, members = predicted[:size], predicted[size:].split(size)
        combined = uncond + sum(w * (eps - uncond) for w, eps in zip(self.weights, members, strict=True))
        if self.guided:
            folded = torch.cat([uncond, combined])
        else:  # the pipeline applies no guidance without CFG: apply A1111's cfg here
            folded = uncond + self.plan.guidance_scale * (combined - uncond)
        if isinstance(output, tuple):
            return (folded, *output[1:])
        output.sample = folded
        return output


@contextmanager
def composable_unet(pipe: Any, plan: PromptPlan) -> Iterator[ComposableGuidance | None]:
    """While inside, `pipe.unet` runs A1111's composable diffusion; a prompt without several members is untouched."""
    if len(plan.schedule.positive) < 2:
        yield None
        return
    guidance = ComposableGuidance(plan)
    handles = [pipe.unet.register_forward_pre_hook(guidance.before_unet, with_kwargs=True),
               pipe.unet.register_forward_hook(guidance.after_unet, with_kwargs=True)]
    try:
        yield guidance
    finally:
        for handle in handles:
            handle.remove()
