"""Where a prompt came from, in picture metadata: Template / Negative Template (the extension's keys), themes, styles."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from sfumato.infotext import parse_infotext, recipe_from_infotext, recipe_to_infotext
from sfumato.picture import BatchPosition, Picture
from sfumato.picture_file import describe, read_metadata, write_picture
from sfumato.recipe import Recipe

# As A1111 v1.10.1 with sd-dynamic-prompts writes it: the extension's keys among extra_generation_params, and
# Negative Template whenever the negative prompt is not empty.
A1111_WITH_EXTENSION = (
    "a red owl\nNegative prompt: blurry\n"
    "Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 1, Size: 512x512, "
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Template: "a {red|blue} owl, __moods__", '
    "Negative Template: blurry, Version: v1.10.1"
)


def test_the_extensions_infotext_reads_into_the_template_fields() -> None:
    recipe = recipe_from_infotext(A1111_WITH_EXTENSION)
    assert (recipe.prompt, recipe.prompt_template) == ("a red owl", "a {red|blue} owl, __moods__")
    assert recipe.negative_prompt_template == "blurry"
    assert recipe.extra == (("Version", "v1.10.1"),)
    assert recipe_from_infotext(recipe_to_infotext(recipe)) == recipe


def test_written_like_the_extension_and_quoted_like_a1111() -> None:
    recipe = Recipe(prompt="a red owl", prompt_template="a {red|blue} owl", negative_prompt="noisy",
                    negative_prompt_template="{blurry|noisy}", theme="owl", theme_hash="0123456789ab")
    text = recipe_to_infotext(recipe)
    assert ", Template: a {red|blue} owl, Negative Template: {blurry|noisy}, Theme: owl, Theme hash: 0123456789ab, " \
        in text
    parsed = parse_infotext(text)
    assert parsed["Template"] == "a {red|blue} owl" and parsed["Prompt"] == "a red owl"
    quoted = recipe_to_infotext(recipe.replace(prompt_template="an owl: {red|blue}, at night"))
    assert 'Template: "an owl: {red|blue}, at night"' in quoted


def test_styles_live_in_the_json_and_sidecar_not_in_infotext(tmp_path: Path) -> None:
    recipe = Recipe(prompt="an owl, watercolor", styles=("Watercolor", "Night"), theme="owl",
                    theme_hash="0123456789ab")
    picture = Picture(Image.new("RGB", (8, 8)), recipe, BatchPosition(recipe.seed, 1, 0))
    path = write_picture(tmp_path / "owl.png", picture)
    meta = read_metadata(path)
    assert meta.recipe == recipe and meta.source == "sfumato-json"
    assert read_metadata(path.with_suffix(".yaml")).recipe == recipe
    with Image.open(path) as image:
        infotext = image.text["parameters"]
    assert "Watercolor" not in infotext and recipe_from_infotext(infotext).styles == ()
    assert "styles applied: Watercolor, Night" in describe(meta) and "Theme: owl" in describe(meta)
