"""Init image and mask -> what the img2img / inpaint pipelines get, and the paste-back after decoding (A1111's order).

Resize modes, the crop around the mask for "only masked" and the overlay that puts unmasked pixels back are
diffusers' `VaeImageProcessor` (resize, get_crop_region, apply_overlay); mask invert, blur and A1111's "fill"
masked content are done here. Pure PIL / numpy: no model is touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Protocol

import numpy as np
from diffusers.image_processor import VaeImageProcessor
from PIL import Image, ImageFilter, ImageOps
from scipy.ndimage import gaussian_filter

from sfumato.recipe import Recipe

# Recipe.resize_mode -> VaeImageProcessor.resize's mode. "latent upscale" fits the picture in latent space
# (engine/image_passes.py); its pixels are only snapped to a multiple of 8 here.
RESIZE_MODES: Final[Mapping[str, str]] = MappingProxyType({
    "just resize": "default", "crop and resize": "crop", "resize and fill": "fill", "latent upscale": "default",
})
# Radii (px) of the blurs that guess colours for A1111's "fill": nearest context first, wider ones cover the rest.
_FILL_RADII: Final = (2.0, 8.0, 32.0, 128.0)


class ImageSource(Protocol):
    """Where the engine reads init images and masks named by hash (the library's `.inputs` store)."""

    def open(self, sha256: str) -> Image.Image: ...


@dataclass(frozen=True)
class SourceImages:
    """The recipe's init image and mask as given (any size)."""

    init: Image.Image
    mask: Image.Image | None = None


@dataclass(frozen=True)
class PreparedImages:
    """What one run feeds the pipeline (at the recipe's size), and how to paste its output back."""

    init: Image.Image  # RGB, width x height: the whole picture, or the crop around the mask
    mask: Image.Image | None  # L, same size; white = regenerate (blurred; the pipeline binarises it)
    canvas: Image.Image | None  # the whole init picture at width x height, for paste-back
    overlay_mask: Image.Image | None  # the blurred mask over the whole canvas
    crop: tuple[int, int, int, int] | None  # "only masked": the region of the canvas that was inpainted

    def paste_back(self, image: Image.Image) -> Image.Image:
        """Put the unmasked pixels of the init picture back over a generated one (A1111's overlay)."""
        if self.canvas is None or self.overlay_mask is None:
            return image
        return _PROCESSOR.apply_overlay(self.overlay_mask, self.canvas, image, self.crop)


_PROCESSOR: Final = VaeImageProcessor()


def load_source_images(recipe: Recipe, source: ImageSource) -> SourceImages | None:
    """The recipe's images from `source`, or None for a picture made from the prompt alone."""
    if recipe.init_image_hash is None:
        return None
    mask = source.open(recipe.mask_hash).convert("L") if recipe.mask_hash is not None else None
    return SourceImages(source.open(recipe.init_image_hash).convert("RGB"), mask)


def fit(image: Image.Image, recipe: Recipe, *, width: int, height: int) -> Image.Image:
    """`image` at width x height by the recipe's resize mode."""
    mode = RESIZE_MODES[recipe.resize_mode]
    if recipe.resize_mode == "latent upscale":
        return image  # fitted after encoding, in latent space
    return _PROCESSOR.resize(image, height=height, width=width, resize_mode=mode)


def prepare_images(recipe: Recipe, images: SourceImages) -> PreparedImages:
    """Fit the init image (and mask) to the recipe's size; for "only masked", crop around the mask and upscale."""
    width, height = recipe.width, recipe.height
    if images.mask is None:
        return PreparedImages(fit(images.init, recipe, width=width, height=height), None, None, None, None)
    init = _PROCESSOR.resize(images.init, height=height, width=width, resize_mode=RESIZE_MODES[recipe.resize_mode])
    mask = ImageOps.invert(images.mask) if recipe.invert_mask else images.mask
    if recipe.mask_blur > 0:
        mask = mask.filter(ImageFilter.GaussianBlur(recipe.mask_blur))
    mask = _PROCESSOR.resize(mask, height=height, width=width, resize_mode=RESIZE_MODES[recipe.resize_mode])
    mask = mask.convert("L")  # the "fill" resize returns RGB
    crop = None
    work_init, work_mask = init, mask
    if recipe.inpaint_area == "only masked" and np.asarray(mask).any():
        crop = _PROCESSOR.get_crop_region(mask, width, height, pad=recipe.inpaint_padding)
        work_init = _PROCESSOR.resize(init.crop(crop), height=height, width=width, resize_mode="fill")
        work_mask = _PROCESSOR.resize(mask.crop(crop), height=height, width=width, resize_mode="fill").convert("L")
    if recipe.masked_content == "fill":
        work_init = fill_masked(work_init, work_mask)
    return PreparedImages(work_init, work_mask, init, mask, crop)


def fill_masked(image: Image.Image, mask: Image.Image) -> Image.Image:
    """A1111's "fill": masked pixels take colours guessed from the unmasked ones around them.

    Normalised convolution: blur the known colours and the known-ness alike and divide, so each masked pixel
    gets the weighted mean of its unmasked surroundings; wider blurs reach pixels far from any edge.
    """
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0  # (H, W, 3)
    known = (np.asarray(mask, dtype=np.float64) < 128).astype(np.float64)  # (H, W): 1 outside the mask
    if not known.any():
        return image.convert("RGB")
    result, done = rgb.copy(), known.astype(bool)
    for radius in _FILL_RADII:
        weight = gaussian_filter(known, radius, mode="nearest")
        colour = np.stack([gaussian_filter(rgb[..., c] * known, radius, mode="nearest") for c in range(3)], -1)
        reached = (weight > 1e-4) & ~done
        result[reached] = colour[reached] / weight[reached, None]
        done |= reached
    result[~done] = (rgb * known[..., None]).sum((0, 1)) / known.sum()
    return Image.fromarray(np.clip(result * 255.0 + 0.5, 0, 255).astype(np.uint8), "RGB")
