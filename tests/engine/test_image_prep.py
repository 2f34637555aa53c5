"""Init image and mask preparation: resize modes, mask invert and blur, "only masked" crops, A1111's fill."""

from __future__ import annotations

import numpy as np
from PIL import Image

from sfumato.engine.image_prep import SourceImages, fill_masked, prepare_images
from sfumato.recipe import recipe_from


def _stripes() -> Image.Image:
    """128x64: red left quarter, blue right quarter, green middle."""
    pixels = np.zeros((64, 128, 3), dtype=np.uint8)
    pixels[:, :32] = (255, 0, 0)
    pixels[:, 32:96] = (0, 255, 0)
    pixels[:, 96:] = (0, 0, 255)
    return Image.fromarray(pixels, "RGB")


def test_resize_modes() -> None:
    def fitted(mode: str) -> np.ndarray:
        recipe = recipe_from({"width": 64, "height": 64, "resize_mode": mode, "denoising_strength": 0.5})
        return np.asarray(prepare_images(recipe, SourceImages(_stripes())).init)

    crop, stretch, fill = fitted("crop and resize"), fitted("just resize"), fitted("resize and fill")
    assert crop.shape == stretch.shape == fill.shape == (64, 64, 3)
    assert (crop[:, :, 1] > 200).all()  # the green middle fills the square; red and blue were cut off
    assert stretch[32, 2, 0] > 200 and stretch[32, 61, 2] > 200  # squeezed: all three stripes are there
    assert fill[2, 2, 0] > 200 and fill[32, 2, 0] > 200  # letterboxed, the bands filled from the edges


def test_mask_is_inverted_blurred_and_cropped_for_only_masked() -> None:
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (24, 24, 40, 40))
    recipe = recipe_from({"width": 64, "height": 64, "denoising_strength": 0.5, "mask_blur": 2,
                          "inpaint_area": "only masked", "inpaint_padding": 4})
    prepared = prepare_images(recipe, SourceImages(_stripes(), mask))
    assert prepared.crop is not None
    x1, y1, x2, y2 = prepared.crop
    assert x1 <= 20 and y1 <= 20 and x2 >= 44 and y2 >= 44 and (x2 - x1) == (y2 - y1) < 64
    assert prepared.mask is not None and prepared.mask.size == (64, 64)  # the crop, upscaled to the full size
    assert 0 < np.asarray(prepared.overlay_mask)[23, 32] < 255  # blurred edge
    inverted = prepare_images(recipe.replace(invert_mask=True, inpaint_area="whole picture"),
                              SourceImages(_stripes(), mask))
    assert np.asarray(inverted.mask)[32, 32] == 0 and np.asarray(inverted.mask)[2, 2] == 255


def test_fill_takes_colours_from_around_the_mask() -> None:
    picture = Image.new("RGB", (32, 32), (200, 40, 10))
    picture.paste((0, 0, 0), (8, 8, 24, 24))  # what the mask hides must not leak into the fill
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (8, 8, 24, 24))
    filled = np.asarray(fill_masked(picture, mask), dtype=np.int16)
    assert np.abs(filled - np.array([200, 40, 10])).max() <= 1
