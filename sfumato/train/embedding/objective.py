"""The textual-inversion loss: the LoRA objective (noise, timesteps, Min-SNR, SDXL time ids) with captions made
from A1111 templates and encoded by sfumato's own prompt encoder, the learnt vectors in the token's positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from sfumato.prompt.a1111 import parse_prompt_attention
from sfumato.prompt.encode import PromptComponents, encode_fragments, pad_with_empty
from sfumato.train.embedding.plan import EmbeddingPlan
from sfumato.train.embedding.templates import fill
from sfumato.train.lora.examples import Example
from sfumato.train.lora.objective import Objective

Tensors = dict[str, torch.Tensor]


def encode_prompts(components: PromptComponents, prompts: Sequence[str]) -> Tensors:
    """{"context": (B, 77 * chunks, D)} (+ SDXL's "pooled"), as generation encodes each prompt (A1111 syntax)."""
    conditionings = [encode_fragments(components, tuple((str(text), float(weight)) for text, weight
                                                        in parse_prompt_attention(prompt))) for prompt in prompts]
    longest = max(c.length for c in conditionings)
    if any(c.length != longest for c in conditionings):  # long captions: pad the others as A1111 pads cond/uncond
        with torch.no_grad():
            empty = encode_fragments(components, (("", 1.0),))
        conditionings = [pad_with_empty(c, longest, empty) for c in conditionings]
    text = {"context": torch.cat([c.embeds for c in conditionings])}
    pooled = [c.pooled for c in conditionings if c.pooled is not None]
    if pooled:
        text["pooled"] = torch.cat(pooled)
    return text


@dataclass(frozen=True)
class EmbeddingObjective(Objective):
    plan: EmbeddingPlan  # type: ignore[assignment]  # the fields Objective.loss reads are the same
    components: PromptComponents

    def captions(self, examples: Sequence[Example], generator: torch.Generator) -> list[str]:
        """Each picture's caption (shuffled, dropped) as [filewords] in a template line drawn from the run's RNG."""
        filewords = super().captions(examples, generator)
        lines = self.plan.template_lines
        drawn = torch.randint(0, len(lines), (len(filewords),), generator=generator).tolist()
        return [fill(lines[i], token=self.plan.token, filewords=words)
                for i, words in zip(drawn, filewords, strict=True)]

    def text(self, captions: Sequence[str]) -> Tensors:
        return encode_prompts(self.components, captions)
