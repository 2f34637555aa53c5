"""Infotext of A1111 img2img, inpainting and hires-fix pictures parses into the Recipe's image fields."""

from __future__ import annotations

from sfumato.infotext import parse_infotext, recipe_from_infotext, recipe_to_infotext
from sfumato.recipe import recipe_from

INPAINT_TEXT = (
    "a cat on a bench\nNegative prompt: blurry\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x512, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.75, Mask mode: Inpaint not masked, "
    "Mask blur: 6, Inpaint area: Only masked, Masked area padding: 48, Masked content: latent noise, Version: v1.10.1"
)
# A1111's own create_infotext output for txt2img + hires fix (reference/a1111_infotext_format.md, case #3).
HIRES_TEXT = (
    "portrait of a knight\nNegative prompt: blurry\n"
    "Steps: 20, Sampler: DPM++ 2M SDE, Schedule type: Karras, CFG scale: 7.0, Seed: 42, Size: 512x512, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Hires sampler: Euler a, "
    'Hires prompt: "hires version, sharp", Hires schedule type: Exponential, Hires resize: 1024x1536, '
    "Hires steps: 15, Hires upscaler: Lanczos, Version: v1.10.1"
)


def test_a1111_inpainting_infotext_parses() -> None:
    recipe = recipe_from_infotext(INPAINT_TEXT)
    assert recipe.denoising_strength == 0.75
    assert (recipe.mask_blur, recipe.inpaint_area, recipe.inpaint_padding) == (6, "only masked", 48)
    assert (recipe.masked_content, recipe.invert_mask) == ("latent noise", True)
    assert recipe.extra == (("Version", "v1.10.1"),)


def test_a1111_hires_infotext_parses_into_fields_and_back() -> None:
    recipe = recipe_from_infotext(HIRES_TEXT)
    assert (recipe.hires_upscaler, recipe.hires_width, recipe.hires_height) == ("Lanczos", 1024, 1536)
    assert (recipe.hires_steps, recipe.denoising_strength, recipe.width) == (15, 0.45, 512)
    assert (recipe.hires_sampler, recipe.hires_schedule_type) == ("Euler a", "Exponential")
    assert (recipe.hires_prompt, recipe.hires_negative_prompt) == ("hires version, sharp", None)
    assert recipe.extra == (("Version", "v1.10.1"),)
    assert recipe_to_infotext(recipe) == HIRES_TEXT


def test_a1111_defaults_for_unwritten_hires_keys_mean_the_first_pass() -> None:
    text = HIRES_TEXT.replace("Hires sampler: Euler a", "Hires sampler: Use same sampler, Hires checkpoint: "
                              "Use same checkpoint").replace("Exponential", "Use same scheduler")
    recipe = recipe_from_infotext(text)
    assert (recipe.hires_sampler, recipe.hires_schedule_type) == (None, None)
    assert recipe.extra == (("Hires checkpoint", "Use same checkpoint"), ("Version", "v1.10.1"))


def test_inpainting_recipe_writes_a1111_keys_in_a1111_form() -> None:
    recipe = recipe_from({"prompt": "x", "mask_hash": "a" * 64, "init_image_hash": "b" * 64,
                          "denoising_strength": 0.5, "inpaint_area": "only masked", "masked_content": "fill"})
    params = parse_infotext(recipe_to_infotext(recipe))
    assert (params["Mask blur"], params["Inpaint area"], params["Masked area padding"]) == ("4", "Only masked", "32")
    assert params["Masked content"] == "fill" and "Mask mode" not in params
    assert recipe_from_infotext(recipe_to_infotext(recipe)) == recipe

