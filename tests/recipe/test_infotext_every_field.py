"""Infotext round trip of one recipe using every field issues #5, #7 and #8 added, all at once."""

from __future__ import annotations

from sfumato.infotext import recipe_from_infotext, recipe_to_infotext
from sfumato.recipe import AdapterRef, Recipe


def _everything() -> Recipe:
    return Recipe(
        prompt="a <lora:ink:0.5:0.8> owl, inkstyle", negative_prompt="blurry", seed=3, steps=4, width=64, height=64,
        model="sfumato-tiny",
        adapters=(AdapterRef(name="ink", weight=0.5, unet_weight=0.8, hash="749e222a824f"),
                  AdapterRef(name="inkstyle", kind="embedding", hash="a43dfb2f40e9")),
        prompt_template="a {red|blue} owl, inkstyle", negative_prompt_template="{blurry|ugly}",
        theme="birds", theme_hash="0123456789ab",
        subseed=7, subseed_strength=0.3, seed_resize_from_width=32, seed_resize_from_height=48,
        mix_prompt="a cat", mix_factor=0.25,
        init_image_hash="ab" * 32, mask_hash="cd" * 32, denoising_strength=0.6, resize_mode="crop and resize",
        mask_blur=2, inpaint_area="only masked", inpaint_padding=8, masked_content="fill", invert_mask=True,
        hires_upscaler="Lanczos", hires_scale=1.5, hires_width=96, hires_height=0, hires_steps=3,
        hires_sampler="Euler", hires_schedule_type="Karras", hires_prompt="x, sharp", hires_negative_prompt="y",
        # The A1111 hires key sfumato keeps in extra is written ahead of Lora hashes / TI hashes.
        extra=(("Hires checkpoint", "other"), ("Foo", "bar")),
    )


def test_every_new_field_at_once_round_trips_byte_for_byte() -> None:
    recipe = _everything()
    text = recipe_to_infotext(recipe)
    back = recipe_from_infotext(text)
    # Regression: TI hashes after a hires key kept in extra were taken for another tool's key and kept in extra.
    assert back.extra == recipe.extra
    assert back == recipe
    assert recipe_to_infotext(back) == text


def test_styles_are_not_written_in_infotext_as_a1111() -> None:
    recipe = _everything().replace(styles=("ink", "dark"))
    assert recipe_from_infotext(recipe_to_infotext(recipe)) == recipe.replace(styles=())
