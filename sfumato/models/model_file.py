"""Write a whole pipeline as a new model file the library finds: the original (LDM/A1111) single-file layout for
SD-shaped families, the embedded model's own file for sfumato-emoji. Used by `models fuse` and full fine-tunes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sfumato.errors import BadInput, UnknownArchitecture
from sfumato.models.emoji_model import read_emoji_config, save_emoji_model
from sfumato.models.families import Family
from sfumato.models.ldm_layout import TEXT_ENCODERS, save_single_file


def save_model(pipe: Any, family: Family, dest: Path, *, source: Path | None,
               records: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write `pipe` (fp32 weights as they are) to `dest`; returns it.

    `source` is the base model's file (the embedded model takes its scheduler config and token count from it).
    Each record lands in the metadata: single files as `sfumato_<key>` JSON entries, the embedded model's file
    under its config's `training` object.
    """
    if family is Family.SFUMATO_EMOJI:
        if source is None:
            raise BadInput("base model: an embedded (sfumato-emoji) model is saved from its base file, got none")
        config = read_emoji_config(source)
        save_emoji_model(dest, unet=pipe.unet, vae=pipe.vae, scheduler_config=config["scheduler"],
                         max_tokens=int(config["text_encoder"]["max_tokens"]), extra=dict(records))
        return dest
    if family not in TEXT_ENCODERS:
        raise UnknownArchitecture(f"family: {family.value} models cannot be saved as one file yet")
    metadata = {f"sfumato_{key}": json.dumps(record, sort_keys=True) for key, record in records.items()}
    return save_single_file(pipe, family, dest, metadata=metadata)
