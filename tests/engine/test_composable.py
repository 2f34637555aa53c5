"""Composable diffusion (A1111 `AND`) on tiny SD1 and SDXL: the pipeline's result equals A1111's formula by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from sfumato.engine.composable import composable_unet
from sfumato.engine.conditioning import PromptPlan, plan_prompt
from sfumato.engine.samplers import make_scheduler
from sfumato.models.families import Family
from sfumato.models.tiny import build_tiny_pipeline
from sfumato.recipe import Recipe
from sfumato.settings import Settings
from sfumato.studio import Studio

STEPS = 3


@pytest.fixture(scope="module")
def pipes() -> dict[Family, Any]:
    torch.set_num_threads(1)
    return {family: build_tiny_pipeline(family) for family in (Family.SD1, Family.SDXL)}


def _plan(pipe: Any, prompt: str, guidance: float, batch_size: int = 1) -> PromptPlan:
    recipe = Recipe(prompt=prompt, negative_prompt="blurry", steps=STEPS, guidance_scale=guidance, sampler="Euler")
    return plan_prompt(recipe, pipe, batch_size=batch_size, model_calls=STEPS)


# Batched vs one-by-one UNet calls differ in float rounding (~2e-4 on latents of size ~15).
def _noise(batch_size: int) -> torch.Tensor:
    return torch.randn(batch_size, 4, 32, 32, generator=torch.Generator().manual_seed(11))  # (B, 4, h, w)


def _run_pipeline(pipe: Any, plan: PromptPlan, batch_size: int = 1) -> torch.Tensor:
    pipe.scheduler = make_scheduler("Euler", "Automatic", pipe.scheduler.config)
    with torch.inference_mode(), composable_unet(pipe, plan):
        return pipe(**plan.arguments(), num_inference_steps=STEPS, width=64, height=64, latents=_noise(batch_size),
                    output_type="latent", callback_on_step_end=lambda p, i, t, kw: plan.step_outputs(p, i),
                    callback_on_step_end_tensor_inputs=plan.tensor_inputs).images


def _time_ids(pipe: Any, batch_size: int) -> dict[str, torch.Tensor]:
    return {"time_ids": torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]]).repeat(batch_size, 1)}


@torch.inference_mode()
def _by_hand(pipe: Any, plan: PromptPlan, guidance: float, batch_size: int = 1) -> torch.Tensor:
    """A1111's combine_denoised with the UNet called once per member: uncond + sum w_i cfg (cond_i - uncond)."""
    scheduler = make_scheduler("Euler", "Automatic", pipe.scheduler.config)
    scheduler.set_timesteps(STEPS)
    latents = _noise(batch_size) * scheduler.init_noise_sigma
    sdxl = plan.is_sdxl
    for call, timestep in enumerate(scheduler.timesteps):
        model_input = scheduler.scale_model_input(latents, timestep)
        step = plan.schedule.at_step(call)

        def eps(conditioning: Any) -> torch.Tensor:
            rows = plan.repeat_rows
            added = {"text_embeds": rows(conditioning.pooled), **_time_ids(pipe, batch_size)} if sdxl else None
            return pipe.unet(model_input, timestep, encoder_hidden_states=rows(conditioning.embeds),
                             added_cond_kwargs=added).sample

        uncond = eps(step.negative)
        denoised = uncond + sum(weight * guidance * (eps(cond) - uncond) for cond, weight in step.positives)
        latents = scheduler.step(denoised, timestep, latents).prev_sample
    return latents


@pytest.mark.parametrize(("prompt", "weights"), [
    ("a red cat AND a blue sky", (1.0, 1.0)),
    ("a red cat :0.5 AND a blue sky :1.5", (0.5, 1.5)),
    ("a [red:green:0.5] cat AND a [blue|grey] sky AND an owl :-0.3", (1.0, 1.0, -0.3)),  # editing per member
])
@pytest.mark.parametrize("family", [Family.SD1, Family.SDXL], ids=lambda f: f.value)
def test_and_equals_a1111_formula_by_hand(pipes: dict[Family, Any], family: Family, prompt: str,
                                          weights: tuple[float, ...]) -> None:
    pipe = pipes[family]
    plan = _plan(pipe, prompt, 7.0)
    assert tuple(member.weight for member in plan.schedule.positive) == weights
    ours = _run_pipeline(pipe, plan)
    torch.testing.assert_close(ours, _by_hand(pipe, plan, 7.0), atol=1e-3, rtol=1e-3)
    assert not pipe.unet._forward_hooks and not pipe.unet._forward_pre_hooks  # nothing stays on the cached UNet


def test_and_without_cfg_and_in_a_batch_of_two(pipes: dict[Family, Any]) -> None:
    pipe = pipes[Family.SD1]
    unguided = _plan(pipe, "a red cat AND a blue sky :0.7", 1.0)  # cfg 1: the pipeline runs no uncond half
    torch.testing.assert_close(_run_pipeline(pipe, unguided), _by_hand(pipe, unguided, 1.0), atol=1e-3, rtol=1e-3)
    batch = _plan(pipe, "a red cat AND a blue sky :0.7", 5.0, batch_size=2)
    torch.testing.assert_close(_run_pipeline(pipe, batch, 2), _by_hand(pipe, batch, 5.0, 2), atol=1e-3, rtol=1e-3)


def test_one_member_keeps_the_plain_pipeline_path(pipes: dict[Family, Any]) -> None:
    pipe = pipes[Family.SD1]
    plan = _plan(pipe, "a red cat :0.5", 7.0)
    with composable_unet(pipe, plan) as guidance:
        assert guidance is None and not pipe.unet._forward_pre_hooks
    # The weight of a lone member scales CFG, bit for bit the plain prompt at half the scale (A1111: w * cfg).
    assert torch.equal(_run_pipeline(pipe, plan), _run_pipeline(pipe, _plan(pipe, "a red cat", 3.5)))


def test_halves_of_the_same_prompt_make_the_same_picture(tmp_path: Any) -> None:
    torch.set_num_threads(1)
    studio = Studio.open(Settings(home=tmp_path / "home"))
    try:
        def pixels(prompt: str) -> np.ndarray:
            recipe = studio.new_recipe({"prompt": prompt, "seed": 5, "steps": 3, "sampler": "Euler"})
            (picture,) = studio.engine.run(recipe)
            assert picture.warnings == ()
            return np.asarray(picture.image, dtype=np.int16)

        single, halves = pixels("an owl"), pixels("an owl :0.5 AND an owl :0.5")
        assert np.abs(single - halves).max() <= 1
        assert np.abs(single - pixels("an owl AND a lake")).max() > 1
    finally:
        studio.close()
