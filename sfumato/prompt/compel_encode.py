"""Compel-syntax prompts -> Conditioning with the `compel` package itself, on the pipeline's own encoders."""

from __future__ import annotations

import contextlib
import io

from sfumato.prompt.encode import Conditioning, PromptComponents


def encode_compel(components: PromptComponents, text: str, *, clip_skip: int = 1) -> Conditioning:
    """Compel's conditioning for `text`: SD (last layer, or penultimate for clip skip 2), or SDXL's two encoders."""
    from compel import (  # imports diffusers: only when a Compel prompt is encoded
        Compel,
        ReturnedEmbeddingsType,
    )

    if not components.is_sdxl:
        slot = components.encoders[0]
        layer = (ReturnedEmbeddingsType.PENULTIMATE_HIDDEN_STATES_NORMALIZED if clip_skip == 2
                 else ReturnedEmbeddingsType.LAST_HIDDEN_STATES_NORMALIZED)
        compel = Compel(tokenizer=slot.tokenizer, text_encoder=slot.model, truncate_long_prompts=False,
                        returned_embeddings_type=layer)
        return Conditioning(compel.build_conditioning_tensor(text))
    embeds = []
    pooled = None
    for slot in components.encoders:
        compel = Compel(tokenizer=slot.tokenizer, text_encoder=slot.model, truncate_long_prompts=False,
                        returned_embeddings_type=ReturnedEmbeddingsType.PENULTIMATE_HIDDEN_STATES_NON_NORMALIZED,
                        requires_pooled=slot.pooled)
        with contextlib.redirect_stdout(io.StringIO()):  # compel prints deprecation notes on stdout
            output = compel.build_conditioning_tensor(text)
        if slot.pooled:
            output, pooled = output
        embeds.append(output)
    length = max(e.shape[1] for e in embeds)
    if any(e.shape[1] != length for e in embeds):
        raise ValueError("Compel returned different lengths for the two SDXL encoders")  # same tokens: cannot happen
    import torch

    return Conditioning(torch.cat(embeds, dim=-1), pooled)
