"""CLIP text encoding with A1111's clip skip for single-encoder (SD 1.x / 2.x) models.

diffusers 0.42 reaches for `text_encoder.text_model.final_layer_norm` when clip skip is on, an
attribute transformers 5 removed; this does the same computation through the public module.
"""

from __future__ import annotations

from typing import Any

import torch


def encode_clip_prompts(tokenizer: Any, text_encoder: Any, prompts: list[str], *, clip_skip: int,
                        device: torch.device) -> torch.Tensor:
    """(B, 77, hidden) token states; clip_skip n stops at the n-th last layer (A1111 counts the last as 1)."""
    tokens = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                       return_tensors="pt")
    ids = tokens.input_ids.to(device)
    if clip_skip <= 1:
        return text_encoder(ids)[0]
    hidden = text_encoder(ids, output_hidden_states=True).hidden_states[-clip_skip]
    # A1111 and diffusers both re-apply the final layer norm to the earlier layer's output.
    return text_encoder.final_layer_norm(hidden)
