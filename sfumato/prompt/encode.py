"""Prompt -> conditioning tensors, as A1111 builds them: chunked CLIP encoding, emphasis, SDXL's two encoders.

SD 1.x/2.x: one CLIP encoder, clip skip as A1111 (layer -n, then the final layer norm). SDXL: the penultimate
layer of both encoders (no final norm), concatenated to 768 + 1280 = 2048, and the second encoder's pooled output
from the first chunk. Weights use A1111's "Original" emphasis: scale token states, then restore the chunk's mean.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from sfumato.errors import RecipeError
from sfumato.prompt.chunks import PromptChunk, chunk_fragments
from sfumato.prompt.embedding_words import EmbeddingLookup, TextualInversions
from sfumato.prompt.inversion import inserted_vectors
from sfumato.prompt.parse import ParsedPrompt
from sfumato.prompt.wordpiece import wordpiece_tokens


@dataclass(frozen=True)
class EncoderSlot:
    """One CLIP text encoder of a pipeline and how its states are read."""

    tokenizer: Any
    model: Any
    sdxl: bool  # penultimate layer without final norm (SDXL) vs last layer / clip skip with final norm (SD)
    pooled: bool  # the encoder whose projected EOS state is SDXL's pooled embedding

    @property
    def part(self) -> str:
        """Which vectors of a textual-inversion file this encoder takes: SDXL's clip_l / clip_g, or the one tensor."""
        return ("clip_g" if self.pooled else "clip_l") if self.sdxl else ""


@dataclass(frozen=True)
class PromptComponents:
    """The text side of a loaded pipeline: the encoders, and SDXL's "zeros for an empty negative prompt"."""

    encoders: tuple[EncoderSlot, ...]
    force_zeros_for_empty_negative: bool = False
    # A BERT-style encoder (the embedded model's MiniLM): no 75-token CLIP chunks, an attention mask instead.
    wordpiece: bool = False
    embeddings: TextualInversions | None = None  # textual-inversion words a prompt may use

    @classmethod
    def from_pipeline(cls, pipe: Any, embeddings: TextualInversions | None = None) -> PromptComponents:
        """Read the tokenizer(s) and text encoder(s) from a diffusers SD or SDXL pipeline."""
        second = getattr(pipe, "text_encoder_2", None)
        if second is None:
            wordpiece = getattr(pipe.tokenizer, "cls_token_id", None) is not None
            return cls((EncoderSlot(pipe.tokenizer, pipe.text_encoder, sdxl=False, pooled=False),), wordpiece=wordpiece,
                       embeddings=None if wordpiece else embeddings)
        slots = []
        if getattr(pipe, "text_encoder", None) is not None:
            slots.append(EncoderSlot(pipe.tokenizer, pipe.text_encoder, sdxl=True, pooled=False))
        slots.append(EncoderSlot(pipe.tokenizer_2, second, sdxl=True, pooled=True))
        zeros = bool(getattr(pipe.config, "force_zeros_for_empty_prompt", False))
        return cls(tuple(slots), force_zeros_for_empty_negative=zeros, embeddings=embeddings)

    def embedding_lookup(self) -> EmbeddingLookup | None:
        """Trigger words -> token ids with the first encoder's tokenizer (all of them share CLIP's BPE)."""
        if self.embeddings is None or not self.embeddings.words:
            return None
        return EmbeddingLookup(self.embeddings.words, self.encoders[0].tokenizer)

    @property
    def is_sdxl(self) -> bool:
        return any(slot.pooled for slot in self.encoders)


@dataclass(frozen=True)
class Conditioning:
    """Token states (1, 77 * chunks, hidden) and, for SDXL, the pooled embedding (1, projection)."""

    embeds: torch.Tensor
    pooled: torch.Tensor | None = None
    embeddings: frozenset[str] = frozenset()  # textual-inversion names whose vectors went in

    @property
    def length(self) -> int:
        return int(self.embeds.shape[1])


def _chunk_ids(chunk: PromptChunk, slot: EncoderSlot, device: torch.device) -> torch.Tensor:
    ids = list(chunk.tokens)
    pad = slot.tokenizer.pad_token_id
    if pad is not None and pad != slot.tokenizer.eos_token_id:
        # SD2 / SDXL's second tokenizer pad with "!" (id 0) after the first EOS, as OpenCLIP was trained.
        end = ids.index(slot.tokenizer.eos_token_id)
        ids = ids[:end + 1] + [pad] * (len(ids) - end - 1)
    return torch.tensor([ids], dtype=torch.long, device=device)  # (1, 77)


def _states(slot: EncoderSlot, ids: torch.Tensor, clip_skip: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    if slot.sdxl:
        output = slot.model(ids, output_hidden_states=True)
        # A1111 counts the last layer as clip skip 1; SDXL's default is the penultimate layer (-2).
        pooled = output.text_embeds if slot.pooled else None
        return output.hidden_states[-(clip_skip + 1)], pooled
    if clip_skip <= 1:
        return slot.model(ids)[0], None
    hidden = slot.model(ids, output_hidden_states=True).hidden_states[-clip_skip]
    return slot.model.final_layer_norm(hidden), None  # A1111 re-applies the final norm to the earlier layer


def emphasize(states: torch.Tensor, multipliers: torch.Tensor) -> torch.Tensor:
    """A1111 "Original" emphasis: multiply each token's state by its weight, then restore the original mean."""
    if bool((multipliers == 1).all()):
        return states  # A1111's rescale is then a ratio of equal means: skip it (it is 0/0 when the mean is 0)
    original_mean = states.mean()
    weighted = states * multipliers.reshape(1, -1, 1)  # (1, 77, hidden)
    new_mean = weighted.mean()
    if new_mean == 0:
        return weighted  # a zero-mean chunk has no mean to restore; dividing would make NaN
    return weighted * (original_mean / new_mean)


def encode_fragments(components: PromptComponents, fragments: tuple[tuple[str, float], ...], *,
                     clip_skip: int = 1, lookup: EmbeddingLookup | None = None) -> Conditioning:
    """One scheduled text's fragments -> Conditioning; chunks are concatenated along the token axis.

    Embedding words (from `lookup`, else `components.embedding_lookup()`) get their vectors in place of token
    embeddings, before the transformer, as A1111's EmbeddingsWithFixes does.
    """
    if components.wordpiece:
        return Conditioning(_encode_wordpiece(components.encoders[0], fragments))
    lookup = lookup if lookup is not None else components.embedding_lookup()
    chunks, _ = chunk_fragments(fragments, components.encoders[0].tokenizer, lookup)
    per_encoder: list[torch.Tensor] = []
    pooled: torch.Tensor | None = None
    for slot in components.encoders:
        device = slot.model.device
        states = []
        for index, chunk in enumerate(chunks):
            with inserted_vectors(slot.model, slot.part, chunk.fixes, components.embeddings):
                hidden, chunk_pooled = _states(slot, _chunk_ids(chunk, slot, device), clip_skip)
            weights = torch.tensor(chunk.multipliers, dtype=hidden.dtype, device=device)
            states.append(emphasize(hidden, weights))
            if index == 0 and chunk_pooled is not None:
                pooled = chunk_pooled
        per_encoder.append(torch.cat(states, dim=1))  # (1, 77 * chunks, hidden_i)
    used = frozenset(name for chunk in chunks for _, name in chunk.fixes)
    return Conditioning(torch.cat(per_encoder, dim=-1), pooled, used)


def _encode_wordpiece(slot: EncoderSlot, fragments: tuple[tuple[str, float], ...]) -> torch.Tensor:
    """(1, max_tokens, hidden) for a BERT encoder: [CLS] tokens [SEP] [PAD]..., with the attention mask, as the
    embedded model saw its captions in training (prompt/wordpiece.py); weighted tokens get A1111's emphasis."""
    tokenizer, length = slot.tokenizer, slot.tokenizer.model_max_length
    tokens = wordpiece_tokens(tokenizer, fragments, length)
    padding = length - len(tokens.ids)
    device = slot.model.device
    ids = torch.tensor([[*tokens.ids, *[tokenizer.pad_token_id] * padding]], device=device)
    mask = torch.tensor([[1] * len(tokens.ids) + [0] * padding], device=device)
    states = slot.model(ids, attention_mask=mask)[0]
    if not tokens.weighted:
        return states
    return emphasize(states, torch.tensor([*tokens.weights, *[1.0] * padding], dtype=states.dtype, device=device))


def zeros_like(conditioning: Conditioning) -> Conditioning:
    """SDXL's empty negative prompt: zeros of the empty prompt's shapes (A1111 and diffusers both do this)."""
    pooled = None if conditioning.pooled is None else torch.zeros_like(conditioning.pooled)
    return Conditioning(torch.zeros_like(conditioning.embeds), pooled)


def pad_with_empty(conditioning: Conditioning, length: int, empty: Conditioning) -> Conditioning:
    """Lengthen to `length` tokens by repeating the empty prompt's 77-token chunk (A1111's pad_cond_uncond)."""
    missing = length - conditioning.length
    if missing <= 0:
        return conditioning
    repeats = empty.embeds.repeat(1, missing // empty.length, 1)
    return replace(conditioning, embeds=torch.cat([conditioning.embeds, repeats], dim=1))  # embeddings kept


def pad_with_last(conditioning: Conditioning, length: int) -> Conditioning:
    """Lengthen by repeating the last token state (A1111's stack_conds, for AND members of unequal length)."""
    missing = length - conditioning.length
    if missing <= 0:
        return conditioning
    last = conditioning.embeds[:, -1:].repeat(1, missing, 1)
    return replace(conditioning, embeds=torch.cat([conditioning.embeds, last], dim=1))


def check_clip_skip(components: PromptComponents, clip_skip: int, parsed: ParsedPrompt) -> None:
    """Compel reads the last or the penultimate layer only; refuse what it cannot do rather than change it."""
    if components.wordpiece and clip_skip != 1:
        raise RecipeError(f"clip_skip {clip_skip} is not supported by this model's text encoder (MiniLM); "
                          "allowed: 1", field="clip_skip")
    if components.wordpiece and parsed.syntax == "compel":
        raise RecipeError("Compel syntax needs a CLIP text encoder; write the weights in A1111 syntax, "
                          "e.g. (word:1.2), for this model", field="prompt")
    if parsed.syntax == "compel" and (clip_skip > 2 or (components.is_sdxl and clip_skip != 1)):
        raise RecipeError(
            f"clip_skip {clip_skip} is not supported with Compel syntax on this model (allowed: 1"
            f"{'' if components.is_sdxl else ' or 2'}); rewrite the prompt in A1111 syntax to use it",
            field="clip_skip",
        )
