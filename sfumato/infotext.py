"""A1111 infotext (the PNG `parameters` text) <-> Recipe, written and parsed as A1111 v1.10.1 does.

Layout and quoting follow `create_infotext` / `parse_generation_parameters` (reference/a1111_infotext_format.md).
A1111 keys used: Steps, Sampler, Schedule type, CFG scale, Seed, Size, Model hash, Model, Denoising strength,
Clip skip (only > 1), Init image hash, RNG (`CPU` for noise_source "cpu"; absent or `GPU` means "device"),
Lora hashes ("name: hash" for LoRA adapters with a hash), TI hashes (the same for embedding adapters: the
textual inversions a prompt used; these and `Adapters` are in `sfumato.infotext_adapters`). sfumato's own keys,
written only when needed:
  Adapters               every adapter as "kind:name:weight[:hash]" (`%`, `:`, `,` in name/hash %-escaped;
                         weight "TE/UNET" when a LoRA's UNet weight differs), or
                         "none"; written when the `<lora:NAME:WEIGHT>` tags in the prompt (with Lora hashes)
                         do not already give exactly `Recipe.adapters`. Absent -> adapters come from those tags.
  Exact prompt / Exact negative prompt   the prompt as typed, when A1111's line format would alter it
                         (whitespace at line ends, a line starting "Negative prompt:", ...).
  Model sha256, Device, Dtype, Mask hash, Batch size / Batch count (when not 1), Schema version (when not 1).
  Template / Negative Template (the sd-dynamic-prompts extension's keys), Theme, Theme hash (issue #5); style
  names are not written (A1111 writes none): they live in the JSON chunk and YAML sidecar only.
  Mix prompt / Mix factor  a second prompt mixed into the conditioning (latent walks), when there is one.
Variation seed / Variation seed strength are A1111's; sfumato writes them whenever the recipe has a subseed
(A1111 only when the strength is not 0), so a subseed kept at strength 0 survives the round trip.
Seed resize from (`WxH`) is A1111's too.
  img2img / inpainting / hires fix: A1111's Mask mode, Mask blur, Inpaint area, Masked area padding, Masked
  content, Hires upscale / resize / steps / upscaler, and sfumato's Resize mode (see `sfumato.infotext_image`).
Then `Recipe.extra` in order (A1111 fixed-slot keys such as `VAE hash` take their fixed slot, as in A1111),
then `Version: sfumato-<version>` unless extra carries a `Version` (kept from another tool's text).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from sfumato import __version__
from sfumato.errors import BadInput, RecipeError
from sfumato.infotext_adapters import (
    adapters_from_prompt,
    decode_adapters,
    embeddings_from_ti_hashes,
    encode_adapters,
    lora_hashes_of,
    ti_hashes_of,
)
from sfumato.infotext_image import HIRES_EXTRA_KEYS, RE_IMAGESIZE, image_values, read_image_key
from sfumato.recipe import SCHEMA_VERSION, Recipe, recipe_from

# A1111's own pattern (modules/infotext_utils.py), kept verbatim so other tools' text parses the same.
RE_PARAM: Final = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')

# create_infotext's dict literal, in order; keys from extra_generation_params that are listed here keep this slot.
A1111_FIXED_KEYS: Final[tuple[str, ...]] = (
    "Steps", "Sampler", "Schedule type", "CFG scale", "Image CFG scale", "Seed", "Face restoration", "Size",
    "Model hash", "Model", "FP8 weight", "Cache FP16 weight for LoRA", "VAE hash", "VAE", "Variation seed",
    "Variation seed strength", "Seed resize from", "Denoising strength", "Conditional mask weight", "Clip skip",
    "ENSD", "Token merging ratio", "Token merging ratio hr", "Init image hash", "RNG", "Tiling",
)

# Infotext key -> Recipe field, for values pydantic converts from the string as they are.
_FIELD_KEYS: Final[Mapping[str, str]] = MappingProxyType({
    "Steps": "steps", "Sampler": "sampler", "Schedule type": "schedule_type", "CFG scale": "guidance_scale",
    "Seed": "seed", "Model hash": "model_hash", "Model": "model", "Denoising strength": "denoising_strength",
    "Clip skip": "clip_skip", "Init image hash": "init_image_hash", "Model sha256": "model_sha256",
    "Device": "device", "Dtype": "dtype", "Batch size": "batch_size", "Batch count": "batch_count",
    "Mask hash": "mask_hash", "Schema version": "schema_version",
    "Exact prompt": "prompt", "Exact negative prompt": "negative_prompt",
    # prompt templates and themes (issue #5)
    "Template": "prompt_template", "Negative Template": "negative_prompt_template", "Theme": "theme",
    "Theme hash": "theme_hash",
    # Variations and latent walks (issue #7)
    "Variation seed": "subseed", "Variation seed strength": "subseed_strength",
    "Mix prompt": "mix_prompt", "Mix factor": "mix_factor",
})
_NOISE_SOURCES: Final[Mapping[str, str]] = MappingProxyType({"CPU": "cpu", "GPU": "device"})
_SFUMATO_VERSION_PREFIX: Final = "sfumato-"


def quote(value: str) -> str:
    """A1111's `infotext_utils.quote`: JSON-quote a value holding `,`, a newline or `:`; else as is."""
    if "," not in value and "\n" not in value and ":" not in value:
        return value
    return json.dumps(value, ensure_ascii=False)


def _quote_exact(value: str) -> str:
    # A1111's quote(), plus JSON-quoting the values A1111's own parser would change: empty (its parser drops
    # the key), edge whitespace (eaten by re_param and strip), or a leading '"' (decoded as JSON).
    if value == "" or value != value.strip() or value.startswith('"'):
        return json.dumps(value, ensure_ascii=False)
    return quote(value)


def _unquote(value: str) -> str:
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    try:
        decoded = json.loads(value)
    except json.JSONDecodeError:
        return value
    return decoded if isinstance(decoded, str) else value


# --- writing ---------------------------------------------------------------------------------------------

def recipe_to_infotext(recipe: Recipe) -> str:
    """The infotext A1111 would write for `recipe`, plus sfumato's keys for what A1111 cannot say."""
    pairs = ", ".join(
        key if key == value else f"{key}: {_quote_exact(value)}"
        for key, value in _parameters(recipe).items() if value is not None
    )
    negative = f"\nNegative prompt: {recipe.negative_prompt}" if recipe.negative_prompt else ""
    return f"{recipe.prompt}{negative}\n{pairs}".strip()


def _parameters(recipe: Recipe) -> dict[str, str | None]:
    extra = dict(recipe.extra)
    lora_hashes = extra.get("Lora hashes", lora_hashes_of(recipe.adapters))
    ti_hashes = extra.get("TI hashes", ti_hashes_of(recipe.adapters))
    a1111 = _a1111_values(recipe)
    ours = _sfumato_values(recipe, lora_hashes, ti_hashes) | image_values(recipe)  # (both checked for clashes below)
    if "Lora hashes" in extra:
        ours.pop("Lora hashes")  # another tool's text put it among its own keys; write it there again
    if "TI hashes" in extra:
        ours.pop("TI hashes")
    written = {key for key, value in (a1111 | ours | _template_values(recipe)).items() if value is not None}
    # A key sfumato writes or reads back into a field cannot also ride in extra: one of the two would be lost.
    if clashes := [key for key, value in recipe.extra if key in written or _read_known(key, value, {})]:
        raise RecipeError(
            f"extra: keys {clashes} stand for Recipe fields in infotext; set the field instead of an extra "
            "pair", field="extra",
        )
    params: dict[str, str | None] = dict.fromkeys(A1111_FIXED_KEYS)
    # dict.update keeps a key's first slot: as A1111's `{..., **extra_generation_params}`.
    params.update(a1111)
    # A1111 writes Hires sampler / prompt / ... (kept in extra) just before the hires keys sfumato models.
    params.update((key, value) for key, value in recipe.extra if key in HIRES_EXTRA_KEYS)
    params.update(image_values(recipe))
    params.update(ours)
    params.update(_template_values(recipe))
    params.update(recipe.extra)
    params.setdefault("Version", f"{_SFUMATO_VERSION_PREFIX}{__version__}")
    return params


def _a1111_values(recipe: Recipe) -> dict[str, str | None]:
    return {
        "Steps": str(recipe.steps),
        "Sampler": recipe.sampler,
        "Schedule type": recipe.schedule_type,
        "CFG scale": str(recipe.guidance_scale),
        "Seed": str(recipe.seed),
        "Size": f"{recipe.width}x{recipe.height}",
        "Model hash": recipe.model_hash,
        "Model": recipe.model,
        "Denoising strength": None if recipe.denoising_strength is None else str(recipe.denoising_strength),
        "Clip skip": str(recipe.clip_skip) if recipe.clip_skip > 1 else None,
        "Init image hash": recipe.init_image_hash,
        "RNG": "CPU" if recipe.noise_source == "cpu" else None,
        # Variations (issue #7): A1111 writes these only at a strength above 0; sfumato whenever a subseed is set.
        "Variation seed": None if recipe.subseed is None else str(recipe.subseed),
        "Variation seed strength": None if recipe.subseed is None else str(recipe.subseed_strength),
        "Seed resize from": None if recipe.seed_resize_from_width is None
        else f"{recipe.seed_resize_from_width}x{recipe.seed_resize_from_height}",
    }


def _sfumato_values(recipe: Recipe, lora_hashes: str | None, ti_hashes: str | None = None) -> dict[str, str | None]:
    # Would A1111's line format give the prompts back? (Only the prompt lines matter, so any 3 pairs do.)
    negative_line = f"\nNegative prompt: {recipe.negative_prompt}" if recipe.negative_prompt else ""
    parsed_prompt, parsed_negative, _ = _split(f"{recipe.prompt}{negative_line}\nSteps: 1, Seed: 1, Size: 8x8")
    from_prompt = adapters_from_prompt(recipe.prompt, lora_hashes) + embeddings_from_ti_hashes(ti_hashes)
    return {
        "Lora hashes": lora_hashes_of(recipe.adapters),
        "TI hashes": ti_hashes_of(recipe.adapters),
        "Adapters": None if from_prompt == recipe.adapters else encode_adapters(recipe.adapters),
        "Exact prompt": None if parsed_prompt == recipe.prompt else recipe.prompt,
        "Exact negative prompt": None if parsed_negative == recipe.negative_prompt else recipe.negative_prompt,
        "Model sha256": recipe.model_sha256,
        "Device": recipe.device,
        "Dtype": recipe.dtype,
        "Batch size": None if recipe.batch_size == 1 else str(recipe.batch_size),
        "Batch count": None if recipe.batch_count == 1 else str(recipe.batch_count),
        "Mask hash": recipe.mask_hash,
        "Schema version": None if recipe.schema_version == SCHEMA_VERSION else str(recipe.schema_version),
        # Prompt mixing for latent walks (issue #7)
        "Mix prompt": recipe.mix_prompt,
        "Mix factor": None if recipe.mix_prompt is None else str(recipe.mix_factor),
    }


def _template_values(recipe: Recipe) -> dict[str, str | None]:
    # Where the prompt came from (issue #5). The sd-dynamic-prompts extension writes Template/Negative Template
    # among its extra_generation_params, after the sampler keys; Theme/Theme hash are sfumato's own.
    return {
        "Template": recipe.prompt_template,
        "Negative Template": recipe.negative_prompt_template,
        "Theme": recipe.theme,
        "Theme hash": recipe.theme_hash,
    }


# --- parsing ---------------------------------------------------------------------------------------------

def _split(text: str) -> tuple[str, str, list[tuple[str, str]] | None]:
    """(prompt, negative prompt, parameter pairs or None) exactly as parse_generation_parameters splits them."""
    *lines, last = text.strip().split("\n")
    found: list[tuple[str, str]] | None = RE_PARAM.findall(last)
    if found is None or len(found) < 3:
        lines.append(last)
        found = None
    prompt, negative, in_negative = "", "", False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[16:].strip()
        if in_negative:
            negative += ("" if negative == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line
    # A1111 skips a key whose value is empty (its `v[0]` raises and the pair is dropped).
    pairs = None if found is None else [(key, _unquote(value)) for key, value in found if value]
    return prompt, negative, pairs


def parse_infotext(text: str, *, split_sizes: bool = False) -> dict[str, str]:
    """Keys and string values in order, then "Prompt" and "Negative prompt"; no A1111 UI defaults added.

    `split_sizes=True` turns `Size: 512x768` into `Size-1`/`Size-2` as A1111 does; by default it stays one key.
    """
    prompt, negative, pairs = _split(text)
    result: dict[str, str] = {}
    for key, value in pairs or ():
        size = RE_IMAGESIZE.match(value) if split_sizes else None
        if size is None:
            result[key] = value
        else:
            result[f"{key}-1"], result[f"{key}-2"] = size[1], size[2]
    result["Prompt"] = prompt
    result["Negative prompt"] = negative
    return result


def recipe_from_infotext(text: str) -> Recipe:
    """The Recipe an infotext describes; unknown keys are kept, in order, in `Recipe.extra`.

    Raises BadInput when there is no parameter line and RecipeError for values a Recipe refuses.
    """
    prompt, negative, pairs = _split(text)
    if pairs is None:
        last = text.strip().rsplit("\n", 1)[-1]
        raise BadInput(
            "infotext has no parameter line: its last line needs at least 3 'key: value' pairs such as "
            f"'Steps: 20, Sampler: Euler a, Seed: 1' (last line: {last[:80]!r})"
        )
    params = dict(pairs)
    data: dict[str, Any] = {"prompt": prompt, "negative_prompt": negative, "noise_source": "device"}
    extra: list[tuple[str, str]] = []
    for key, value in params.items():
        if not _read_known(key, value, data):
            extra.append((key, value))
    lora_hashes, ti_hashes = params.get("Lora hashes"), params.get("TI hashes")
    if "Adapters" in params:
        data["adapters"] = decode_adapters(params["Adapters"])
    else:
        data["adapters"] = adapters_from_prompt(data["prompt"], lora_hashes) + embeddings_from_ti_hashes(ti_hashes)
    lora_derived = lora_hashes is not None and _hashes_are_derived(
        "Lora hashes", params, lora_hashes_of(data["adapters"]))
    if lora_hashes is not None and lora_derived:
        extra.remove(("Lora hashes", lora_hashes))
    if ti_hashes is not None and _hashes_are_derived(
            "TI hashes", params, ti_hashes_of(data["adapters"]),
            frozenset({"Lora hashes"} if lora_derived else ())):
        extra.remove(("TI hashes", ti_hashes))
    data["extra"] = tuple(extra)
    return recipe_from(data)


def _read_known(key: str, value: str, data: dict[str, Any]) -> bool:
    """Put a key sfumato understands into `data`; False for keys that belong in `extra`."""
    if key in _FIELD_KEYS:
        data[_FIELD_KEYS[key]] = value
    elif key == "Size":
        size = RE_IMAGESIZE.match(value)
        if size is None:
            raise RecipeError(f"width: infotext 'Size' must be WIDTHxHEIGHT such as 512x768, got {value!r}",
                              field="width")
        data["width"], data["height"] = size[1], size[2]
    elif key == "Seed resize from":
        size = RE_IMAGESIZE.match(value)
        if size is None:
            raise RecipeError(f"seed_resize_from_width: infotext 'Seed resize from' must be WIDTHxHEIGHT, got "
                              f"{value!r}", field="seed_resize_from_width")
        data["seed_resize_from_width"], data["seed_resize_from_height"] = size[1], size[2]
    elif key == "RNG" and value in _NOISE_SOURCES:
        data["noise_source"] = _NOISE_SOURCES[value]
    elif key == "Adapters":
        pass  # decoded once all keys are read: it needs the final prompt
    elif read_image_key(key, value, data):
        pass
    else:
        # sfumato's own Version is rewritten on every save; another tool's Version is kept as written.
        return key == "Version" and value.startswith(_SFUMATO_VERSION_PREFIX)
    return True


def _hashes_are_derived(hashes_key: str, params: dict[str, str], derived: str | None,
                        written_before: frozenset[str] = frozenset()) -> bool:
    # sfumato writes Lora hashes, then TI hashes, from the adapters, after the A1111 fixed keys and the hires
    # keys kept in extra, ahead of every other unknown key. When another tool's text has one elsewhere, or with
    # entries the adapters do not give, keep it in extra so it is written back as it was.
    for key, value in params.items():
        if key == hashes_key:
            return derived == value
        if key in written_before or key in A1111_FIXED_KEYS or key in HIRES_EXTRA_KEYS:
            continue
        if not _read_known(key, value, {}):
            return False
    return False
