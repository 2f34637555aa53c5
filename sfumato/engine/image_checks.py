"""Rules for the img2img / inpainting / hires-fix fields that need each other, checked before any model loads."""

from __future__ import annotations

from sfumato.engine.hires import check_hires
from sfumato.errors import RecipeError
from sfumato.recipe import Recipe


def check_images(recipe: Recipe) -> None:
    """Raise RecipeError for image fields that cannot run together (the Recipe checked each one alone)."""
    if recipe.mask_hash is not None and recipe.init_image_hash is None:
        raise RecipeError(f"mask_hash: a mask needs an init image to inpaint (init_image_hash is None, mask_hash "
                          f"{recipe.mask_hash[:12]!r})", field="mask_hash")
    if recipe.init_image_hash is not None and recipe.denoising_strength is None:
        raise RecipeError("denoising_strength: an init image needs a denoising strength from 0 to 1, got None",
                          field="denoising_strength")
    check_hires(recipe)
