"""From what a person asked (fields + theme, styles, template mode) to the concrete Recipes the engine runs.

Every edge (CLI, native API, A1111 API) calls `recipes_for` once, so templates are expanded in one place and
the engine never sees one. Order, as A1111 with the sd-dynamic-prompts extension: the theme gives the prompt
text, styles are applied to it, then variants and wildcards are resolved per picture from its seed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sfumato.prompt.dynamic import (
    MAX_COMBINATIONS,
    DynamicMode,
    TemplateError,
    is_template,
    resolve_combinatorial,
    resolve_random,
    wildcards_folder,
)
from sfumato.prompt.styles import apply_styles, load_styles
from sfumato.prompt.themes import load_theme
from sfumato.recipe import Recipe


@dataclass(frozen=True)
class PromptOptions:
    """How to build the prompt besides the fields: a theme, styles, the template mode, a wildcards folder."""

    styles: tuple[str, ...] = ()
    theme: str | None = None
    mode: DynamicMode | None = "random"  # None: prompts are taken as typed, braces and all (extension off)
    wildcards: Path | None = None  # default: <home>/wildcards


def _joined(first: str, second: str) -> str:
    return ", ".join(part for part in (first.strip(), second.strip()) if part)


def with_theme_and_styles(fields: Mapping[str, Any], options: PromptOptions, *, home: Path) -> dict[str, Any]:
    """Fields with the theme's prompt, negative prompt and settings merged in, then the styles applied.

    The theme's text comes first and the request's prompt text follows it (", "); settings given in the request
    win over the theme's.
    """
    result = dict(fields)
    if options.theme is not None:
        theme = load_theme(options.theme, home)
        for name, value in theme.settings.items():
            if result.get(name) is None or (name == "seed" and result.get(name) == -1):
                result[name] = value
        result["prompt"] = _joined(theme.prompt, str(result.get("prompt") or ""))
        result["negative_prompt"] = _joined(theme.negative_prompt, str(result.get("negative_prompt") or ""))
        result["theme"], result["theme_hash"] = theme.name, theme.hash
    if options.styles:
        result["prompt"], result["negative_prompt"] = apply_styles(
            str(result.get("prompt") or ""), str(result.get("negative_prompt") or ""), options.styles,
            load_styles(home))
        result["styles"] = tuple(options.styles)
    return result


def expand_recipe(recipe: Recipe, *, mode: DynamicMode, wildcards: Path) -> list[Recipe]:
    """The concrete Recipes of a template Recipe: one per picture, seed + i, with the templates kept.

    A Recipe whose prompts hold no variants or wildcards comes back as it is (batches stay batches).
    """
    prompt_is, negative_is = is_template(recipe.prompt), is_template(recipe.negative_prompt, field="negative_prompt")
    if not (prompt_is or negative_is):
        return [recipe]
    if mode == "combinatorial":
        pairs = _combinations(recipe, wildcards, prompt_is=prompt_is, negative_is=negative_is)
    else:
        pairs = _random(recipe, wildcards, prompt_is=prompt_is, negative_is=negative_is)
    templates = {"prompt_template": recipe.prompt if prompt_is else recipe.prompt_template,
                 "negative_prompt_template": recipe.negative_prompt if negative_is else recipe.negative_prompt_template}
    return [
        recipe.replace(prompt=prompt, negative_prompt=negative, seed=recipe.image_seed(index), batch_size=1,
                       batch_count=1, **templates)
        for index, (prompt, negative) in enumerate(pairs)
    ]


def _random(recipe: Recipe, folder: Path, *, prompt_is: bool, negative_is: bool) -> list[tuple[str, str]]:
    # The extension's rule: picture i's text is drawn with the generator seeded by picture i's own seed, and
    # the negative prompt with the same seeds.
    seeds = [recipe.image_seed(index) for index in range(recipe.pictures_per_recipe)]
    prompts = resolve_random(recipe.prompt, seeds, folder) if prompt_is else [recipe.prompt] * len(seeds)
    negatives = (resolve_random(recipe.negative_prompt, seeds, folder, field="negative_prompt") if negative_is
                 else [recipe.negative_prompt] * len(seeds))
    return list(zip(prompts, negatives, strict=True))


def _combinations(recipe: Recipe, folder: Path, *, prompt_is: bool, negative_is: bool) -> list[tuple[str, str]]:
    # Every prompt with every negative prompt (the extension's cross product), the whole list made
    # batch_size x batch_count times; each picture still gets its own seed.
    prompts = resolve_combinatorial(recipe.prompt, folder) if prompt_is else [recipe.prompt]
    negatives = (resolve_combinatorial(recipe.negative_prompt, folder, field="negative_prompt") if negative_is
                 else [recipe.negative_prompt])
    pairs = [(prompt, negative) for prompt in prompts for negative in negatives] * recipe.pictures_per_recipe
    if len(pairs) > MAX_COMBINATIONS:
        raise TemplateError(
            f"combinatorial mode would make {len(pairs)} pictures ({len(prompts)} prompts x {len(negatives)} "
            f"negative prompts x {recipe.pictures_per_recipe} per combination); at most {MAX_COMBINATIONS}",
            prompt=recipe.prompt, column=0)
    return pairs


def recipes_for(fields: Mapping[str, Any], options: PromptOptions, *, home: Path,
                new_recipe: Callable[[Mapping[str, Any]], Recipe]) -> list[Recipe]:
    """The Recipes to run for one request: theme and styles merged, validated by `new_recipe`, expanded."""
    recipe = new_recipe(with_theme_and_styles(fields, options, home=home))
    if options.mode is None:
        return [recipe]
    folder = options.wildcards if options.wildcards is not None else wildcards_folder(home)
    return expand_recipe(recipe, mode=options.mode, wildcards=folder)

