"""LoRA adapters on a loaded pipeline: diffusers' load_lora_weights (one adapter per file) and set_adapters.

Files stay loaded in the pipeline between recipes, so running the same LoRA again costs nothing; a recipe
that does not use a loaded LoRA leaves it inactive, and one without LoRAs disables them all (base weights
bit-identical). diffusers converts kohya/A1111 and LoCon files to peft itself; nothing is converted here.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sfumato.errors import RecipeError
from sfumato.models.families import Family
from sfumato.models.library import ModelKind, ModelLibrary
from sfumato.models.lora_files import LoraInfo, family_mismatch, identify_lora
from sfumato.prompt.parse import AdapterTag
from sfumato.recipe import Recipe

MAX_LOADED: Final = 8  # files kept in one pipeline; the least recently used inactive one is deleted beyond this
# Model families whose text encoder diffusers cannot take a LoRA into (the embedded model's MiniLM is a BERT).
UNET_ONLY: Final = frozenset({Family.SFUMATO_EMOJI})


@dataclass(frozen=True)
class LoraFile:
    """One LoRA of a recipe, found in the library and checked against the model."""

    name: str  # as the recipe names it
    path: Path
    adapter_name: str  # the peft adapter name: from the file's sha256, so a changed file is loaded anew
    weight: float  # the text encoders' weight, and the UNet's unless unet_weight says otherwise
    info: LoraInfo
    unet_weight: float | None = None


@dataclass
class LoadedLoras:
    """The LoRA files loaded into one pipeline (adapter name -> file), least recently used first."""

    files: dict[str, Path] = field(default_factory=dict)
    is_broken: bool = False  # a load failed half-way: the pipeline must be rebuilt before it is used again


def resolve_loras(recipe: Recipe, library: ModelLibrary, family: Family) -> tuple[list[LoraFile], list[str]]:
    """The recipe's LoRA files, and warnings (a file that changed since its hash was recorded).

    Raises ModelNotFound for a missing file, RecipeError for a file of another family or an unloadable type.
    """
    files: list[LoraFile] = []
    warnings: list[str] = []
    for adapter in (a for a in recipe.adapters if a.kind == "lora"):
        entry = library.find(adapter.name, ModelKind.LORA, with_hashes=True)
        assert entry.path is not None and entry.hashes is not None  # LoRAs are always files
        info = identify_lora(entry.path)
        where = f"adapters: LoRA {adapter.name!r} ({entry.path.name})"
        if not info.is_loadable:
            raise RecipeError(f"{where} is a {info.label} file; sfumato applies LoRA and LoCon files only "
                              "(diffusers converts no LoHa/LoKr for Stable Diffusion)", field="adapters")
        if (why := family_mismatch(info, family)) is not None:
            raise RecipeError(f"{where} cannot be applied to model {recipe.model!r}: {why}", field="adapters")
        if family in UNET_ONLY and info.has_text_encoder:
            warnings.append(f"LoRA {adapter.name!r}: its text-encoder layers were not applied "
                            f"({family.value} models take LoRAs on the UNet only)")
        if adapter.hash is not None and adapter.hash != entry.hashes.lora_hash:
            warnings.append(f"LoRA {adapter.name!r} changed since the recipe was made "
                            f"(hash {entry.hashes.lora_hash}, recipe says {adapter.hash})")
        files.append(LoraFile(adapter.name, entry.path, f"lora_{entry.hashes.sha256[:16]}", adapter.weight, info,
                              adapter.unet_weight))
    return files, warnings


def apply_loras(pipe: Any, loaded: LoadedLoras, files: list[LoraFile], *, family: Family) -> None:
    """Make exactly `files` active on `pipe` at their weights; load the ones not loaded yet."""
    weights: dict[str, tuple[float, float]] = {}  # adapter -> (text encoders, UNet)
    for lora in files:  # the same file twice adds up, as A1111 applies each tag
        text, unet = weights.get(lora.adapter_name, (0.0, 0.0))
        unet_weight = lora.weight if lora.unet_weight is None else lora.unet_weight
        weights[lora.adapter_name] = (text + lora.weight, unet + unet_weight)
    for lora in files:
        if lora.adapter_name in loaded.files:
            loaded.files[lora.adapter_name] = loaded.files.pop(lora.adapter_name)  # most recently used last
            continue
        _evict(pipe, loaded, keep=weights.keys())
        _load(pipe, loaded, lora, family)
    if weights:
        pipe.enable_lora()
        pipe.set_adapters(list(weights), [_part_weights(pipe, text, unet) for text, unet in weights.values()])
    elif loaded.files:
        pipe.disable_lora()


def _part_weights(pipe: Any, text: float, unet: float) -> float | dict[str, float]:
    """One weight, or diffusers' per-component weights when A1111's <lora:NAME:TE:UNET> sets them apart."""
    if text == unet:
        return text
    encoders = ("text_encoder", "text_encoder_2")
    return {"unet": unet, **{name: text for name in encoders if getattr(pipe, name, None) is not None}}


def _load(pipe: Any, loaded: LoadedLoras, lora: LoraFile, family: Family) -> None:
    try:
        with warnings.catch_warnings():
            # peft warns on every adapter after the first; several adapters per model is what we want here.
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
            if family in UNET_ONLY or not lora.info.has_text_encoder:
                # The UNet part alone (diffusers' own conversion), so no "no text-encoder keys" warning either.
                state, alphas = pipe.lora_state_dict(str(lora.path), unet_config=pipe.unet.config)
                pipe.load_lora_into_unet(_unet_part(state), alphas, pipe.unet, adapter_name=lora.adapter_name,
                                         _pipeline=pipe)
            else:
                pipe.load_lora_weights(str(lora.path), adapter_name=lora.adapter_name)
    except (ValueError, RuntimeError, KeyError) as error:
        loaded.is_broken = True
        raise RecipeError(
            f"adapters: LoRA {lora.name!r} ({lora.path.name}, {lora.info.evidence}) does not fit this model: {error}",
            field="adapters",
        ) from error
    loaded.files[lora.adapter_name] = lora.path


def _unet_part(state: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in state.items() if key.startswith("unet.")}


def _evict(pipe: Any, loaded: LoadedLoras, *, keep: Any) -> None:
    while len(loaded.files) >= MAX_LOADED:
        oldest = next((name for name in loaded.files if name not in keep), None)
        if oldest is None:
            return
        pipe.delete_adapters(oldest)
        del loaded.files[oldest]


def split_weight_warnings(tags: Iterable[AdapterTag]) -> tuple[str, ...]:
    """A1111's `<lora:NAME:TE:UNET:DYN>` and `unet=`/`dyn=`: parts the Recipe cannot record, said, not dropped."""
    warnings = []
    for tag in tags:
        positional = [item for item in tag.items if "=" not in item]
        extra = positional[3:] + [item for item in tag.items if item.startswith(("unet=", "dyn="))]
        if tag.kind == "lora" and extra:
            warnings.append(f"<lora:{':'.join(tag.items)}>: {', '.join(extra)} not applied (write the UNet "
                            "weight as the third item: <lora:NAME:TE:UNET>)")
    return tuple(warnings)
