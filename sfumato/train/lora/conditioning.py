"""Text conditioning for training, per family layout: one CLIP (SD 1.x/2.x), two CLIPs plus SDXL's
micro-conditioning (add_time_ids), or MiniLM (the embedded model). Prompts go through the pipeline's own
`encode_prompt`, so training sees exactly what generation will.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class TextModels:
    """The pipeline's text encoders, by the attribute name diffusers gives them."""

    names: tuple[str, ...]  # ("text_encoder",) or ("text_encoder", "text_encoder_2")
    is_sdxl: bool


def text_models(pipe: Any) -> TextModels:
    names = tuple(n for n in ("text_encoder", "text_encoder_2") if getattr(pipe, n, None) is not None)
    return TextModels(names, is_sdxl=hasattr(pipe, "text_encoder_2"))


def encode_captions(pipe: Any, captions: Sequence[str], *, device: torch.device, sdxl: bool) -> Tensors:
    """{"context": (B, T, D)} and, for SDXL, {"pooled": (B, P)}; gradients flow where encoders train."""
    if sdxl:
        context, _, pooled, _ = pipe.encode_prompt(prompt=list(captions), device=device, num_images_per_prompt=1,
                                                   do_classifier_free_guidance=False)
        return {"context": context, "pooled": pooled}
    context, _ = pipe.encode_prompt(list(captions), device, 1, False)
    return {"context": context}


def sdxl_time_ids(original: tuple[int, int], crop: tuple[int, int], target: tuple[int, int]) -> torch.Tensor:
    """SDXL's micro-conditioning (Podell et al. 2023, 2.2): original (h, w), crop (top, left), target (h, w)."""
    return torch.tensor([*original, *crop, *target], dtype=torch.float32)


def unet_kwargs(text: Tensors, time_ids: torch.Tensor | None, *, dtype: torch.dtype) -> dict[str, Any]:
    """The keywords UNet2DConditionModel.forward takes besides (sample, timestep)."""
    kwargs: dict[str, Any] = {"encoder_hidden_states": text["context"].to(dtype)}
    if "pooled" in text and time_ids is not None:
        kwargs["added_cond_kwargs"] = {"text_embeds": text["pooled"].to(dtype), "time_ids": time_ids.to(dtype)}
    return kwargs
