"""Sample pictures during textual-inversion training: the plan's prompts, encoded with the learnt vectors in by
sfumato's prompt encoder (diffusers' own encoding would not know the token), drawn by the pipeline being trained.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from sfumato.prompt.encode import PromptComponents
from sfumato.train.embedding.objective import encode_prompts
from sfumato.train.embedding.plan import EmbeddingPlan
from sfumato.train.lora.samples import SamplePicture

def _embeds(components: PromptComponents, prompt: str) -> dict[str, Any]:
    text, empty = encode_prompts(components, [prompt]), encode_prompts(components, [""])
    if components.force_zeros_for_empty_negative:  # SDXL: an empty negative prompt is zeros, as generation does
        empty = {key: torch.zeros_like(value) for key, value in empty.items()}
    # Equal lengths for classifier-free guidance: the negative repeats its empty chunk (one chunk here).
    repeat = text["context"].shape[1] // empty["context"].shape[1]
    kwargs = {"prompt_embeds": text["context"], "negative_prompt_embeds": empty["context"].repeat(1, repeat, 1)}
    if "pooled" in text:
        kwargs |= {"pooled_prompt_embeds": text["pooled"], "negative_pooled_prompt_embeds": empty["pooled"]}
    return kwargs

def draw_embedding_samples(pipe: Any, components: PromptComponents, plan: EmbeddingPlan, *, step: int, device: str,
                           scheduler: Callable[[Any], Any] | None = None) -> list[SamplePicture]:
    """One picture per (prompt, seed), each seed's generator on the CPU as the engine draws its noise."""
    pipe.set_progress_bar_config(disable=True)
    base_scheduler = pipe.scheduler
    if scheduler is not None:
        pipe.scheduler = scheduler(base_scheduler.config)
    pictures = []
    try:
        with torch.no_grad():
            for prompt in plan.sample_prompts:
                kwargs = _embeds(components, prompt)
                for seed in plan.sample_seeds:
                    image = pipe(num_inference_steps=plan.sample_steps, guidance_scale=plan.sample_guidance,
                                 height=plan.resolution, width=plan.resolution,
                                 generator=torch.Generator().manual_seed(seed), **kwargs).images[0]
                    pictures.append(SamplePicture(prompt, seed, step, image, device))
    finally:
        pipe.scheduler = base_scheduler
    return pictures
