"""LoRA files: which format (kohya, LoCon, diffusers/peft, LoHa, LoKr), base family and rank, from the header only.

Torch-free: keys, shapes and metadata come from safetensors' header, so `models list` stays fast. The engine
loads the files through diffusers (`engine/lora.py`); this module only says what a file is and whether it fits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Final

from safetensors import SafetensorError, safe_open

from sfumato.errors import BadInput
from sfumato.models.families import FAMILIES, Family
from sfumato.models.identify import refuse_unsafe_file


class LoraFormat(StrEnum):
    KOHYA = "kohya"  # lora_unet_* / lora_te*_* with .lora_down/.lora_up/.alpha (A1111, kohya_ss)
    LOCON = "locon"  # kohya layout that also adapts conv layers (LyCORIS LoCon, kohya "C3Lier")
    PEFT = "peft"  # diffusers / peft: unet.….lora_A/lora_B (or the older .lora.down/.lora.up)
    LOHA = "loha"  # LyCORIS Hadamard product: .hada_w1_a …
    LOKR = "lokr"  # LyCORIS Kronecker product: .lokr_w1 …


# Formats diffusers' load_lora_weights converts for SD 1.x/2.x/XL UNets; LoHa and LoKr it does not (0.42).
LOADABLE: Final = frozenset({LoraFormat.KOHYA, LoraFormat.LOCON, LoraFormat.PEFT})
FORMAT_LABELS: Final[Mapping[LoraFormat, str]] = MappingProxyType({
    LoraFormat.KOHYA: "LoRA (kohya/A1111 layout)", LoraFormat.LOCON: "LoCon (LyCORIS, kohya layout with conv layers)",
    LoraFormat.PEFT: "LoRA (diffusers/peft layout)", LoraFormat.LOHA: "LoHa (LyCORIS)", LoraFormat.LOKR: "LoKr (LyCORIS)",
})
# The family a LoRA is trained for, by the model family it runs on: models that share a UNet layout share LoRAs.
LORA_FAMILY: Final[Mapping[Family, Family]] = MappingProxyType({
    Family.SD1: Family.SD1, Family.SFUMATO_TINY: Family.SD1,
    Family.SD2: Family.SD2, Family.SD2_V: Family.SD2, Family.SD_TURBO: Family.SD2,
    Family.SDXL: Family.SDXL, Family.SDXL_TURBO: Family.SDXL, Family.SSD1B: Family.SDXL,
    Family.SDXL_REFINER: Family.SDXL_REFINER, Family.SFUMATO_EMOJI: Family.SFUMATO_EMOJI,
})
FAMILY_METADATA_KEY: Final = "sfumato_family"  # sfumato's trainer writes the base family here
# Widths of the UNet's cross-attention context (attn2.to_k input) and of the first text encoder, per family.
_CONTEXT_WIDTHS: Final[Mapping[int, Family]] = MappingProxyType({
    768: Family.SD1, 1024: Family.SD2, 2048: Family.SDXL, 1280: Family.SDXL_REFINER, 384: Family.SFUMATO_EMOJI,
})
_TEXT_WIDTHS: Final[Mapping[int, Family]] = MappingProxyType({1024: Family.SD2})
# kohya's ss_base_model_version and ModelSpec's architecture, by prefix.
_METADATA_PREFIXES: Final = (
    ("ss_base_model_version", "sdxl_refiner", Family.SDXL_REFINER), ("ss_base_model_version", "sdxl", Family.SDXL),
    ("ss_base_model_version", "sd_v2", Family.SD2), ("ss_base_model_version", "sd_v1", Family.SD1),
    ("modelspec.architecture", "stable-diffusion-xl-v1-refiner", Family.SDXL_REFINER),
    ("modelspec.architecture", "stable-diffusion-xl", Family.SDXL),
    ("modelspec.architecture", "stable-diffusion-v2", Family.SD2),
    ("modelspec.architecture", "stable-diffusion-v1", Family.SD1),
)
_DOWN: Final = (".lora_down.weight", ".lora_A.weight", ".lora.down.weight")
_CONV_NAMES: Final = re.compile(r"resnets|in_layers|out_layers|skip_connection|conv_shortcut|_op\.|downsamplers|upsamplers|conv")


@dataclass(frozen=True)
class LoraInfo:
    """What a LoRA file is, read from its header."""

    format: LoraFormat
    family: Family | None  # the base it was trained for; None when the header does not say and shapes are unknown
    rank: int | None
    has_text_encoder: bool
    evidence: str

    @property
    def is_loadable(self) -> bool:
        return self.format in LOADABLE

    @property
    def label(self) -> str:
        return FORMAT_LABELS[self.format]


def identify_lora(path: Path) -> LoraInfo:
    """Format, base family, rank of a LoRA `.safetensors` file. Raises BadInput when it is not a LoRA at all."""
    refuse_unsafe_file(path)
    try:
        with safe_open(str(path), framework="numpy") as file:
            keys = tuple(file.keys())
            shapes = {k: tuple(file.get_slice(k).get_shape()) for k in keys if k.endswith(_DOWN)}
            metadata = dict(file.metadata() or {})
    except (SafetensorError, OSError) as e:
        raise BadInput(f"LoRA file: {path.name} is not a readable safetensors file ({e})") from e
    lora_format = _format(keys, shapes)
    if lora_format is None:
        prefixes = sorted({k.split(".")[0][:40] for k in keys})[:6]
        raise BadInput(f"LoRA file: {path.name} has no LoRA, LoCon, LoHa or LoKr tensors (key prefixes: {prefixes})")
    family, why = _family(keys, shapes, metadata)
    ranks = [shape[0] for shape in shapes.values()]
    has_te = any(k.startswith(("lora_te", "text_encoder")) for k in keys)
    parts = [FORMAT_LABELS[lora_format], f"rank {max(ranks)}" if ranks else "rank unknown",
             "UNet + text encoder" if has_te else "UNet only", why]
    return LoraInfo(lora_format, family, max(ranks) if ranks else None, has_te, "; ".join(parts))


def _format(keys: tuple[str, ...], shapes: Mapping[str, tuple[int, ...]]) -> LoraFormat | None:
    if any(".hada_w1_a" in k for k in keys):
        return LoraFormat.LOHA
    if any(".lokr_w1" in k for k in keys):
        return LoraFormat.LOKR
    if any(k.endswith((".lora_A.weight", ".lora.down.weight")) for k in keys):
        return LoraFormat.PEFT
    kohya = [k for k in keys if k.startswith(("lora_unet_", "lora_te")) and k.endswith(".lora_down.weight")]
    if not kohya:
        return None
    # A 3x3 down projection, or any resnet/sampler conv targeted, makes it LoCon.
    convs = any(len(shapes[k]) == 4 and shapes[k][2:] != (1, 1) for k in kohya)
    resnet = any(_CONV_NAMES.search(k.split(".")[0].removeprefix("lora_unet_")) for k in kohya if "lora_unet_" in k)
    return LoraFormat.LOCON if convs or resnet else LoraFormat.KOHYA


def _family(keys: tuple[str, ...], shapes: Mapping[str, tuple[int, ...]],
            metadata: Mapping[str, str]) -> tuple[Family | None, str]:
    """The base family, and why: sfumato's metadata, kohya/ModelSpec metadata, key names, then tensor widths."""
    # sfumato's trainer writes its own family names (sfumato-emoji, ...) where kohya's values have none.
    for key in (FAMILY_METADATA_KEY, "ss_base_model_version"):
        if (named := metadata.get(key)) in {f.value for f in Family}:
            return LORA_FAMILY[Family(named)], f"{key}={named!r} metadata"
    for key, prefix, family in _METADATA_PREFIXES:
        if metadata.get(key, "").lower().startswith(prefix):
            return family, f"{key}={metadata[key]!r} metadata"
    if any(k.startswith(("lora_te2_", "text_encoder_2.")) for k in keys):
        return Family.SDXL, "a second text encoder (lora_te2_ / text_encoder_2): SDXL"
    context = max((s[1] for k, s in shapes.items() if "attn2" in k and re.search(r"to_k[._]", k) and len(s) == 2),
                  default=0)
    if context in _CONTEXT_WIDTHS:
        family = _CONTEXT_WIDTHS[context]
        return family, f"cross-attention context width {context}: {FAMILIES[family].label}"
    if any(re.match(r"lora_unet_(input_blocks|output_blocks|middle_block)_", k) for k in keys):
        return Family.SDXL, "UNet keys in SGM naming (input_blocks/output_blocks), as kohya writes for SDXL"
    text = max((s[1] for k, s in shapes.items() if k.startswith(("lora_te_", "text_encoder.")) and len(s) == 2),
               default=0)
    if text in _TEXT_WIDTHS or text == 768:
        family = _TEXT_WIDTHS.get(text, Family.SD1)
        return family, f"text encoder width {text}: {FAMILIES[family].label}"
    return None, f"base family not stated and widths unknown (context {context or '-'}): checked when loaded"


def family_mismatch(info: LoraInfo, model_family: Family) -> str | None:
    """Why a LoRA of `info` cannot run on a model of `model_family`, or None when it may."""
    wanted = LORA_FAMILY.get(model_family)
    if info.family is None or wanted is None or info.family is wanted:
        return None
    return (f"it was made for {FAMILIES[info.family].label} ({info.family.value}) and the model is "
            f"{FAMILIES[model_family].label} ({model_family.value})")


def read_lora_metadata(path: Path) -> dict[str, str]:
    """The file's safetensors metadata (kohya's ss_* training settings), as A1111's /sdapi/v1/loras shows it."""
    try:
        with safe_open(str(path), framework="numpy") as file:
            return dict(file.metadata() or {})
    except (SafetensorError, OSError):
        return {}  # unreadable files are listed with their error by the library; no metadata to show
