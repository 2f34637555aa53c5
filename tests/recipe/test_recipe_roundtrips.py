"""Recipe -> infotext / JSON / YAML / PNG -> Recipe is exact, for any valid recipe (hypothesis)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from sfumato.infotext import (
    A1111_FIXED_KEYS,
    RE_PARAM,
    parse_infotext,
    recipe_from_infotext,
    recipe_to_infotext,
)
from sfumato.picture import BatchPosition, Picture
from sfumato.picture_file import picture_payload, read_metadata, sidecar_yaml, write_picture
from sfumato.recipe import MAX_SEED, AdapterRef, Recipe, recipe_from
from sfumato.sampler_names import SAMPLER_NAMES, SCHEDULE_TYPE_NAMES

# Keys sfumato reads into Recipe fields (module docstring of sfumato/infotext.py) and positional A1111 keys.
INTERPRETED_KEYS = frozenset({
    *A1111_FIXED_KEYS, "Lora hashes", "TI hashes", "Adapters", "Exact prompt", "Exact negative prompt", "Model sha256",
    "Device", "Dtype", "Batch size", "Batch count", "Mask hash", "Schema version", "Version", "User",
    "Prompt", "Negative prompt", "Template", "Negative Template", "Theme", "Theme hash", "Mix prompt", "Mix factor",
    # img2img, inpainting, hires fix (issue #7)
    "Resize mode", "Mask mode", "Mask blur", "Inpaint area", "Masked area padding", "Masked content",
    "Hires upscale", "Hires resize", "Hires steps", "Hires upscaler",
})

# Characters that stress the format: separators, quotes, escapes, line ends, non-Latin-1, A1111 tag syntax.
SPECIAL = st.sampled_from(list(',:"\\\n\r\t <>{}[]()|') + [
    "Negative prompt:", "<lora:", "猫", "é", "🎨", "\u2028", "\x85", "\x00", "\ufeff",
])
TEXT = st.lists(st.one_of(SPECIAL, st.characters(exclude_categories=("Cs",))), max_size=30).map("".join)
SHORT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)
KEY = st.from_regex(r"\A[A-Za-z][A-Za-z0-9 _\-/]{1,14}\Z").filter(lambda key: key not in INTERPRETED_KEYS)
FLOAT_WEIGHT = st.floats(-10, 10, allow_nan=False)


@st.composite
def adapters(draw: st.DrawFn) -> AdapterRef:
    return AdapterRef(
        name=draw(st.one_of(st.from_regex(r"\A[a-z_]{1,8}\Z"), SHORT)),
        weight=draw(st.one_of(st.sampled_from([1.0, 0.5, 0.8]), FLOAT_WEIGHT)),
        kind=draw(st.sampled_from(["lora", "lora", "embedding"])),
        hash=draw(st.one_of(st.none(), st.from_regex(r"\A[0-9a-f]{12}\Z"), SHORT)),
    )


def _prompt_with_tags(draw: st.DrawFn, used: list[AdapterRef]) -> str:
    prompt = draw(TEXT)
    if used and draw(st.booleans()):  # write some adapters as A1111 prompt tags, as A1111 users do
        tagged = draw(st.lists(st.sampled_from(used), max_size=len(used)))
        prompt += " " + " ".join(f"<lora:{a.name}:{draw(st.sampled_from([a.weight, 1.0]))}>" for a in tagged)
    return prompt


@st.composite
def recipes(draw: st.DrawFn) -> Recipe:
    used = draw(st.lists(adapters(), max_size=3))
    extra_keys = draw(st.lists(KEY, max_size=4, unique=True))
    extra = [(key, value) for key in extra_keys if (value := draw(TEXT)) != key]
    optional_text = st.one_of(st.none(), TEXT)
    return recipe_from({
        "model": draw(SHORT),
        "model_hash": draw(st.one_of(st.none(), st.from_regex(r"\A[0-9a-f]{10}\Z"), TEXT)),
        "model_sha256": draw(st.one_of(st.none(), st.from_regex(r"\A[0-9a-f]{64}\Z"))),
        "prompt": _prompt_with_tags(draw, used),
        "negative_prompt": draw(TEXT),
        "seed": draw(st.integers(0, MAX_SEED)),
        "sampler": draw(st.sampled_from(list(SAMPLER_NAMES))),
        "schedule_type": draw(st.sampled_from(SCHEDULE_TYPE_NAMES)),
        "steps": draw(st.integers(1, 150)),
        "guidance_scale": draw(st.floats(0, 30, allow_nan=False)),
        "width": 8 * draw(st.integers(1, 1024)),
        "height": 8 * draw(st.integers(1, 1024)),
        "batch_size": draw(st.integers(1, 64)),
        "batch_count": draw(st.integers(1, 1000)),
        "clip_skip": draw(st.integers(1, 12)),
        "adapters": used,
        "device": draw(st.sampled_from([None, "cpu", "mps", "cuda", "cuda:0", "cuda:12"])),
        "dtype": draw(st.sampled_from([None, "fp32", "fp16", "bf16"])),
        "noise_source": draw(st.sampled_from(["cpu", "device"])),
        "init_image_hash": draw(optional_text),
        "mask_hash": draw(optional_text),
        "denoising_strength": draw(st.one_of(st.none(), st.floats(0, 1, allow_nan=False))),
        "schema_version": draw(st.sampled_from([1, 1, 1, 0, 2])),
        "extra": extra,
        # issue #5: where the prompt came from
        "prompt_template": draw(optional_text),
        "negative_prompt_template": draw(optional_text),
        "styles": draw(st.lists(st.one_of(SHORT, TEXT), max_size=3)),
        "theme": draw(st.one_of(st.none(), SHORT)),
        "theme_hash": draw(st.one_of(st.none(), st.from_regex(r"\A[0-9a-f]{12}\Z"), TEXT)),
        **_variation_fields(draw),
        **draw(image_fields()),
    })


def without_styles(recipe: Recipe) -> Recipe:
    """What infotext keeps: A1111 writes no style names, so neither does sfumato (they live in the JSON)."""
    return recipe.replace(styles=())


def _variation_fields(draw: st.DrawFn) -> dict[str, Any]:
    """Variation seed and prompt mixing (issue #7): absent, or any valid combination."""
    subseed = draw(st.one_of(st.none(), st.integers(0, MAX_SEED)))
    strength = 0.0 if subseed is None else draw(st.one_of(st.sampled_from([0.0, 0.2, 1.0]), st.floats(0, 1)))
    mix_prompt = draw(st.one_of(st.none(), TEXT))
    factor = 0.0 if mix_prompt is None else draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0, 1)))
    resize = draw(st.one_of(st.none(), st.tuples(st.integers(8, 8192), st.integers(8, 8192))))
    return {"subseed": subseed, "subseed_strength": strength, "mix_prompt": mix_prompt, "mix_factor": factor,
            "seed_resize_from_width": None if resize is None else resize[0],
            "seed_resize_from_height": None if resize is None else resize[1]}


@st.composite
def image_fields(draw: st.DrawFn) -> dict[str, Any]:
    """img2img / inpainting / hires fields (issue #7), mostly at their defaults as real recipes are."""
    if draw(st.booleans()):
        return {}
    return {
        "init_image_hash": draw(st.one_of(st.none(), st.from_regex(r"\A[0-9a-f]{64}\Z"))),
        "mask_hash": draw(st.one_of(st.none(), st.from_regex(r"\A[0-9a-f]{64}\Z"))),
        "resize_mode": draw(st.sampled_from(["just resize", "crop and resize", "resize and fill", "latent upscale"])),
        "mask_blur": draw(st.sampled_from([4, 0, 64, 7])),
        "inpaint_area": draw(st.sampled_from(["whole picture", "only masked"])),
        "inpaint_padding": draw(st.sampled_from([32, 0, 1024, 5])),
        "masked_content": draw(st.sampled_from(["original", "fill", "latent noise", "latent nothing"])),
        "invert_mask": draw(st.booleans()),
        "hires_upscaler": draw(st.one_of(st.none(), st.sampled_from(["Latent", "Lanczos", "4x-UltraSharp"]), SHORT)),
        "hires_scale": draw(st.one_of(st.just(2.0), st.floats(1, 8, allow_nan=False))),
        "hires_width": draw(st.sampled_from([0, 0, 1024, 8])),
        "hires_height": draw(st.sampled_from([0, 0, 1536, 8])),
        "hires_steps": draw(st.sampled_from([0, 0, 15, 150])),
        # The hires pass's own sampler, schedule type and prompts (None: the first pass's).
        "hires_sampler": draw(st.one_of(st.none(), st.sampled_from(list(SAMPLER_NAMES)))),
        "hires_schedule_type": draw(st.one_of(st.none(), st.sampled_from(list(SCHEDULE_TYPE_NAMES)))),
        "hires_prompt": draw(st.one_of(st.none(), TEXT.filter(bool))),
        "hires_negative_prompt": draw(st.one_of(st.none(), TEXT.filter(bool))),
    }


@given(recipes())
@settings(max_examples=400, deadline=None)
def test_infotext_round_trip_is_exact(recipe: Recipe) -> None:
    text = recipe_to_infotext(recipe)
    assert recipe_from_infotext(text) == without_styles(recipe)
    assert len(RE_PARAM.findall(text.rsplit("\n", 1)[-1])) >= 3  # A1111 sees a parameter line too
    assert parse_infotext(text)["Steps"] == str(recipe.steps)


@given(recipes())
@settings(max_examples=200, deadline=None)
def test_json_round_trip_is_exact(recipe: Recipe) -> None:
    data: Any = json.loads(json.dumps(recipe.model_dump(mode="json"), ensure_ascii=False))
    assert recipe_from(data) == recipe


@given(recipes())
@settings(max_examples=150, deadline=None)
def test_yaml_sidecar_round_trip_is_exact(recipe: Recipe) -> None:
    picture = Picture(Image.new("RGB", (8, 8)), recipe, BatchPosition(seed=recipe.seed, size=2, index=1))
    with tempfile.TemporaryDirectory() as folder:
        sidecar = Path(folder) / "picture.yaml"
        sidecar.write_text(sidecar_yaml(picture_payload(picture)), encoding="utf-8")
        meta = read_metadata(sidecar)
    assert (meta.source, meta.recipe, meta.batch) == ("yaml", recipe, picture.batch)


@given(recipes(), st.dictionaries(SHORT, st.floats(0, 1e6)), st.lists(TEXT, max_size=2))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_png_round_trip_is_exact(recipe: Recipe, timings: dict[str, float], warnings: list[str]) -> None:
    picture = Picture(Image.new("RGB", (8, 8), "blue"), recipe, BatchPosition(recipe.seed, 1, 0), timings,
                      tuple(warnings))
    with tempfile.TemporaryDirectory() as folder:
        path = write_picture(Path(folder) / "p.png", picture)
        meta = read_metadata(path)
        path.with_suffix(".yaml").unlink()
        with Image.open(path) as image:
            infotext = image.text["parameters"]
    assert (meta.source, meta.recipe, meta.batch) == ("sfumato-json", recipe, picture.batch)
    assert meta.raw["timings"] == timings and meta.raw["warnings"] == warnings
    assert infotext == recipe_to_infotext(recipe)
    assert recipe_from_infotext(infotext) == without_styles(recipe)
