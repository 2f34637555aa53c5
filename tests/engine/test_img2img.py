"""img2img and inpainting on tiny real models of every family: strength 0 and 1, paste-back, masks, `again`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from sfumato.errors import RecipeError
from sfumato.models.emoji_model import save_emoji_model
from sfumato.models.families import Family
from sfumato.models.tiny import build_tiny_inpainting_pipeline, build_tiny_pipeline
from sfumato.settings import Settings
from sfumato.studio import Studio
from sfumato.train.base.config import PRESETS, SCHEDULER_CONFIG, build_unet, build_vae

PLAIN = ("tiny-sd1", "tiny-sd2-v", "tiny-sdxl", "tiny-ssd-1b", "emoji")
INPAINTING = ("tiny-sd1-inpainting", "tiny-sdxl-inpainting")
SIZE = 64


def _emoji_model(path: Path) -> None:
    config = PRESETS["tiny"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        unet, vae = build_unet(config), build_vae(config)
    save_emoji_model(path, unet=unet, vae=vae, scheduler_config=SCHEDULER_CONFIG, max_tokens=config.max_tokens)


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    root = tmp_path_factory.mktemp("img2img-models")
    checkpoints = root / "models" / "Stable-diffusion"
    checkpoints.mkdir(parents=True)
    for family in (Family.SD1, Family.SD2_V, Family.SDXL, Family.SSD1B, Family.SDXL_REFINER):
        build_tiny_pipeline(family, seed=1).save_pretrained(checkpoints / f"tiny-{family.value}")
    for family in (Family.SD1, Family.SDXL):
        build_tiny_inpainting_pipeline(family, seed=1).save_pretrained(checkpoints / f"tiny-{family.value}-inpainting")
    _emoji_model(checkpoints / "emoji.safetensors")
    opened = Studio.open(Settings(home=tmp_path_factory.mktemp("home"), model_dirs=(root,)))
    yield opened
    opened.close()


def _noise_picture(seed: int, size: tuple[int, int] = (SIZE, SIZE)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def _square_mask() -> Image.Image:
    mask = Image.new("L", (SIZE, SIZE), 0)
    mask.paste(255, (20, 16, 44, 40))
    return mask


def _run(studio: Studio, model: str, **fields: object) -> np.ndarray:
    recipe = studio.new_recipe({"prompt": "a red apple", "model": model, "seed": 11, "steps": 4,
                                "width": SIZE, "height": SIZE, **fields})
    pictures = studio.engine.run(recipe)
    assert pictures[0].warnings == ()
    return np.asarray(pictures[0].image, dtype=np.int16)


def _vae_round_trip(studio: Studio, model: str, image: Image.Image) -> np.ndarray:
    """The picture through the model's VAE (encoder mode, decoder), done here with diffusers' own calls."""
    pipe = studio.engine.load(studio.new_recipe({"model": model, "width": SIZE, "height": SIZE})).pipe
    with torch.inference_mode():
        pixels = pipe.image_processor.preprocess(image).to(pipe.vae.dtype)
        latents = pipe.vae.encode(pixels).latent_dist.mode()
        out = pipe.image_processor.postprocess(pipe.vae.decode(latents).sample, output_type="pil")[0]
    return np.asarray(out, dtype=np.int16)


def _untouched(mask: Image.Image, blur: int) -> np.ndarray:
    """Pixels the blurred mask does not reach at all: paste-back must leave them exactly as the init image."""
    blurred = mask.filter(ImageFilter.GaussianBlur(blur)) if blur else mask
    return np.asarray(blurred) == 0


def _check_inpainting(studio: Studio, model: str, content: str) -> None:
    init, mask = _noise_picture(4), _square_mask()
    picture = _run(studio, model, init_image_hash=studio.inputs.put(init, kind="image"),
                   mask_hash=studio.inputs.put(mask, kind="mask"), denoising_strength=0.75, masked_content=content)
    keep = _untouched(mask, 4)
    original = np.asarray(init, dtype=np.int16)
    np.testing.assert_array_equal(picture[keep], original[keep])
    inside = np.asarray(mask) == 255
    assert np.abs(picture[inside] - original[inside]).mean() > 5  # the masked square was painted anew


# One test per model, so each tiny model loads once (the engine holds one model at a time).
@pytest.mark.parametrize("model", [*PLAIN, "tiny-sdxl-refiner", *INPAINTING])
def test_strength_and_inpainting_on_every_family(studio: Studio, model: str) -> None:
    init = _noise_picture(1)
    first, second = (studio.inputs.put(_noise_picture(seed), kind="image") for seed in (1, 3))
    # Strength 0: the init image back, through the VAE.
    picture = _run(studio, model, init_image_hash=first, denoising_strength=0.0)
    assert np.abs(picture - _vae_round_trip(studio, model, init)).max() <= 1  # float rounding in the decoder
    # Partial strength depends on the init image ...
    partial = _run(studio, model, init_image_hash=first, denoising_strength=0.6)
    assert np.abs(partial - _run(studio, model, init_image_hash=second, denoising_strength=0.6)).max() > 0
    if model == "tiny-sdxl-refiner":
        return  # a refiner only refines: no text-to-image to compare with, no inpaint variant
    # ... strength 1 ignores it.
    whole = _run(studio, model, init_image_hash=first, denoising_strength=1.0)
    np.testing.assert_array_equal(whole, _run(studio, model, init_image_hash=second, denoising_strength=1.0))
    _check_inpainting(studio, model, "original")


@pytest.mark.parametrize("model", ["tiny-sd1", "tiny-sdxl-inpainting"])
def test_every_masked_content_keeps_unmasked_pixels(studio: Studio, model: str) -> None:
    for content in ("fill", "latent noise", "latent nothing"):
        _check_inpainting(studio, model, content)


@pytest.mark.parametrize("model", ["tiny-sd1", "tiny-sdxl", "tiny-sd1-inpainting"])
def test_only_masked_inpaints_a_crop_and_pastes_it_back(studio: Studio, model: str) -> None:
    init, mask = _noise_picture(5), _square_mask()
    common = {"init_image_hash": studio.inputs.put(init, kind="image"), "denoising_strength": 0.75,
              "mask_hash": studio.inputs.put(mask, kind="mask"), "mask_blur": 2}
    only = _run(studio, model, inpaint_area="only masked", inpaint_padding=4, **common)
    whole = _run(studio, model, **common)
    keep = _untouched(mask, 2)
    np.testing.assert_array_equal(only[keep], np.asarray(init, dtype=np.int16)[keep])
    assert np.abs(only - whole).max() > 0  # the crop was sampled at full size: another picture


def test_inverted_mask_keeps_the_masked_area(studio: Studio) -> None:
    init, mask = _noise_picture(6), _square_mask()
    picture = _run(studio, "tiny-sd1", init_image_hash=studio.inputs.put(init, kind="image"), mask_blur=0,
                   mask_hash=studio.inputs.put(mask, kind="mask"), denoising_strength=0.75, invert_mask=True)
    inside = np.asarray(mask) == 255
    np.testing.assert_array_equal(picture[inside], np.asarray(init, dtype=np.int16)[inside])
    assert np.abs(picture[~inside] - np.asarray(init, dtype=np.int16)[~inside]).mean() > 5


@pytest.mark.parametrize("mode", ["just resize", "crop and resize", "resize and fill", "latent upscale"])
def test_resize_modes_fit_any_init_size(studio: Studio, mode: str) -> None:
    init = studio.inputs.put(_noise_picture(7, (96, 48)), kind="image")
    picture = _run(studio, "tiny-sd1", init_image_hash=init, denoising_strength=0.5, resize_mode=mode)
    assert picture.shape == (SIZE, SIZE, 3)


def test_image_fields_that_need_each_other_are_refused_before_loading(studio: Studio) -> None:
    mask = studio.inputs.put(_square_mask(), kind="mask")
    with pytest.raises(RecipeError, match="mask_hash: a mask needs an init image"):
        studio.engine.run(studio.new_recipe({"model": "tiny-sd1", "mask_hash": mask}))
    init = studio.inputs.put(_noise_picture(1), kind="image")
    with pytest.raises(RecipeError, match="denoising_strength: an init image needs"):
        studio.engine.run(studio.new_recipe({"model": "tiny-sd1", "init_image_hash": init}))


def test_again_remakes_an_img2img_picture_from_its_file(studio: Studio, tmp_path: Path) -> None:
    init, mask = _noise_picture(8), _square_mask()
    recipe = studio.new_recipe({
        "prompt": "an owl", "model": "tiny-sd1", "seed": 5, "steps": 3, "width": SIZE, "height": SIZE,
        "init_image_hash": studio.inputs.put(init, kind="image"), "mask_hash": studio.inputs.put(mask, kind="mask"),
        "denoising_strength": 0.7, "masked_content": "fill", "inpaint_area": "only masked",
    })
    saved = studio.generate(recipe)[0]
    assert saved.recipe.init_image_hash == recipe.init_image_hash
    # A second studio on the same home knows the picture only from its file and the library's .inputs.
    other = Studio.open(studio.settings)
    try:
        report = other.again(saved.path)
    finally:
        other.close()
    assert report.matches, report
