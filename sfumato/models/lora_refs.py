"""`<lora:NAME:WEIGHT>` tags -> Recipe adapters, each with its A1111 hash: run once at the edge, torch-free.

A1111 keeps the tags in the prompt text and records `Lora hashes` in the infotext; sfumato does the same, and
the engine applies `Recipe.adapters` only, so a Recipe says everything the picture used.
"""

from __future__ import annotations

from sfumato.errors import RecipeError
from sfumato.infotext_adapters import adapters_from_prompt
from sfumato.models.library import ModelKind, ModelLibrary
from sfumato.recipe import AdapterRef, Recipe


def with_prompt_loras(recipe: Recipe, library: ModelLibrary) -> Recipe:
    """`recipe` with a LoRA adapter for every tag in its prompt (given adapters win), each LoRA hashed.

    Raises ModelNotFound for a LoRA the library does not have, RecipeError for one it cannot apply.
    """
    # The same reading of the tags as the infotext parser's, so a saved picture's Recipe round-trips exactly.
    given = {adapter.name for adapter in recipe.adapters}
    tags = tuple(tag for tag in adapters_from_prompt(recipe.prompt, None) if tag.name not in given)
    adapters = tuple(_hashed(adapter, library) for adapter in (*recipe.adapters, *tags))
    _check_mix_tags(recipe.mix_prompt, adapters)
    _check_mix_tags(recipe.hires_prompt, adapters, field="hires_prompt", rule="LoRAs apply to both passes of a "
                    "hires fix, put the tag in the prompt")
    return recipe if adapters == recipe.adapters else recipe.replace(adapters=adapters)


def _check_mix_tags(mix_prompt: str | None, adapters: tuple[AdapterRef, ...], *, field: str = "mix_prompt",
                    rule: str = "LoRAs are not mixed, put the tag in the prompt") -> None:
    # A LoRA is applied to the whole picture, so a tag in the mixed-in prompt (a walk's --to-prompt) or the hires
    # pass's prompt cannot apply to it alone; refuse one the picture would not apply rather than ignore it. The
    # prompt's own tags are fine there.
    applied = {(a.name, a.weight, a.unet_weight) for a in adapters if a.kind == "lora"}
    for tag in adapters_from_prompt(mix_prompt or "", None):
        if (tag.name, tag.weight, tag.unet_weight) not in applied:
            raise RecipeError(
                f"{field}: LoRA tag <lora:{tag.name}:{tag.weight}> is not among the LoRAs the picture applies "
                f"({', '.join(f'{n}:{w}' for n, w, _ in sorted(applied)) or 'none'}); {rule}", field=field)


def _hashed(adapter: AdapterRef, library: ModelLibrary) -> AdapterRef:
    if adapter.kind != "lora":
        return adapter
    entry = library.find(adapter.name, ModelKind.LORA, with_hashes=True)
    if entry.error is not None:
        raise RecipeError(f"adapters: LoRA {adapter.name!r} ({entry.path}) cannot be applied: {entry.error}",
                          field="adapters")
    if adapter.hash is not None or entry.hashes is None:
        return adapter
    return adapter.model_copy(update={"hash": entry.hashes.lora_hash})
