"""Caption token states for training: every unique caption encoded once by the frozen MiniLM, cached on disk.

The cache file is keyed by the caption list and token count, so a resumed run reuses it and a changed dataset
re-encodes. States are kept in fp16 (about 25 KB per caption at 32 tokens).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from sfumato.atomic_write import atomic_write_bytes
from sfumato.models.minilm import encode_captions, load_minilm

BATCH = 64  # captions per encoder call: ~0.6 s on one CPU core at 32 tokens


def _key(captions: Sequence[str], max_tokens: int) -> str:
    return hashlib.sha256(json.dumps([max_tokens, list(captions)]).encode()).hexdigest()


def caption_states(captions: Sequence[str], *, max_tokens: int, cache: Path,
                   on_progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """(C, max_tokens, 384) fp16 token states of `captions`, read from `cache` when it matches."""
    key = _key(captions, max_tokens)
    if cache.is_file():
        try:
            stored = load_file(str(cache))
        except SafetensorError:
            stored = {}
        if "states" in stored and bytes(stored["key"].tolist()).decode() == key:
            return stored["states"]
    encoder, tokenizer = load_minilm(max_tokens=max_tokens)
    chunks = []
    for start in range(0, len(captions), BATCH):
        chunks.append(encode_captions(encoder, tokenizer, captions[start:start + BATCH]).half())
        if on_progress is not None:
            on_progress(min(start + BATCH, len(captions)), len(captions))
    states = torch.cat(chunks)
    key_tensor = torch.tensor(list(key.encode()), dtype=torch.uint8)
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(cache, save({"states": states, "key": key_tensor}))
    return states
