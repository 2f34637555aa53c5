"""Infotext as A1111 v1.10.1 writes and parses it (reference/a1111_infotext_format.md), and other tools' text."""

from __future__ import annotations

import pytest

from sfumato.errors import BadInput, RecipeError
from sfumato.infotext import parse_infotext, quote, recipe_from_infotext, recipe_to_infotext
from sfumato.recipe import AdapterRef, Recipe

# Reference doc, "Example written by the real function (case create_infotext #3)".
A1111_EXAMPLE = (
    "portrait of a knight, <lora:add_detail:0.5> <lora:epiNoiseoffset_v2:1>\n"
    "Negative prompt: easynegative, blurry\n"
    "Steps: 20, Sampler: DPM++ 2M SDE, Schedule type: Karras, CFG scale: 7.0, Seed: 42, Size: 512x512, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Hires sampler: Euler a, "
    'Hires prompt: "hires version, sharp", Hires schedule type: Exponential, Hires resize: 1024x1536, '
    "Hires steps: 15, Hires upscaler: 4x-UltraSharp, "
    'Lora hashes: "add_detail: 7c6bad76eb54, epiNoiseoffset_v2: d1131f7207d6", '
    'TI hashes: "easynegative: c74b4e810b03", Emphasis: Original, Version: v1.10.1'
)


def test_a1111_example_parses_to_strings_in_order() -> None:
    assert list(parse_infotext(A1111_EXAMPLE).items()) == [
        ("Steps", "20"), ("Sampler", "DPM++ 2M SDE"), ("Schedule type", "Karras"), ("CFG scale", "7.0"),
        ("Seed", "42"), ("Size", "512x512"), ("Model hash", "6ce0161689"), ("Model", "v1-5-pruned-emaonly"),
        ("Denoising strength", "0.45"), ("Hires sampler", "Euler a"), ("Hires prompt", "hires version, sharp"),
        ("Hires schedule type", "Exponential"), ("Hires resize", "1024x1536"), ("Hires steps", "15"),
        ("Hires upscaler", "4x-UltraSharp"),
        ("Lora hashes", "add_detail: 7c6bad76eb54, epiNoiseoffset_v2: d1131f7207d6"),
        ("TI hashes", "easynegative: c74b4e810b03"), ("Emphasis", "Original"), ("Version", "v1.10.1"),
        ("Prompt", "portrait of a knight, <lora:add_detail:0.5> <lora:epiNoiseoffset_v2:1>"),
        ("Negative prompt", "easynegative, blurry"),
    ]


def test_a1111_example_to_recipe() -> None:
    recipe = recipe_from_infotext(A1111_EXAMPLE)
    assert recipe.prompt == "portrait of a knight, <lora:add_detail:0.5> <lora:epiNoiseoffset_v2:1>"
    assert recipe.negative_prompt == "easynegative, blurry"
    assert (recipe.steps, recipe.sampler, recipe.schedule_type) == (20, "DPM++ 2M SDE", "Karras")
    assert (recipe.guidance_scale, recipe.seed, recipe.width, recipe.height) == (7.0, 42, 512, 512)
    assert (recipe.model_hash, recipe.model) == ("6ce0161689", "v1-5-pruned-emaonly")
    assert recipe.denoising_strength == 0.45
    assert recipe.noise_source == "device"  # no RNG key: A1111's default, GPU noise
    assert recipe.clip_skip == 1
    assert recipe.adapters == (
        AdapterRef(name="add_detail", weight=0.5, hash="7c6bad76eb54"),
        AdapterRef(name="epiNoiseoffset_v2", weight=1.0, hash="d1131f7207d6"),
        AdapterRef(name="easynegative", kind="embedding", hash="c74b4e810b03"),  # from TI hashes
    )
    assert [key for key, _ in recipe.extra] == [
        # TI hashes, as Lora hashes, is what the adapters give, so it is not kept in extra (written back in place).
        "Emphasis", "Version",
    ]
    # The hires pass's own sampler, schedule type and prompt are Recipe fields (issue #7).
    assert (recipe.hires_sampler, recipe.hires_schedule_type, recipe.hires_negative_prompt) == (
        "Euler a", "Exponential", None)
    assert (recipe.hires_width, recipe.hires_height, recipe.hires_steps) == (1024, 1536, 15)
    assert recipe.hires_upscaler == "4x-UltraSharp"
    assert recipe.hires_prompt == "hires version, sharp"


def test_a1111_example_is_written_back_byte_identical() -> None:
    assert recipe_to_infotext(recipe_from_infotext(A1111_EXAMPLE)) == A1111_EXAMPLE


@pytest.mark.parametrize(("value", "written"), [
    ("Euler a", "Euler a"),
    ("4x-UltraSharp", "4x-UltraSharp"),
    ("sd_xl_refiner_1.0 [7440042bbd]", "sd_xl_refiner_1.0 [7440042bbd]"),
    ("a, b", '"a, b"'),
    ("key: value", '"key: value"'),
    ("two\nlines", '"two\\nlines"'),
    ('say "hi", then \\ go', '"say \\"hi\\", then \\\\ go"'),
    ("猫, 犬", '"猫, 犬"'),  # ensure_ascii=False: non-ASCII stays as typed
    ('no "special" marks', 'no "special" marks'),
])
def test_quote_follows_a1111(value: str, written: str) -> None:
    assert quote(value) == written


def test_extra_values_are_quoted_like_a1111_and_parse_back() -> None:
    # Template is the sd-dynamic-prompts key, read into Recipe.prompt_template (issue #5); the rest are unknown.
    recipe = Recipe(prompt_template="a, {b|c}: d", extra=(("Emphasis", "Original"), ("Note", "line\nbreak")))
    text = recipe_to_infotext(recipe)
    assert 'Template: "a, {b|c}: d", Emphasis: Original, Note: "line\\nbreak", Version: sfumato-' in text
    assert recipe_from_infotext(text) == recipe


def test_written_layout_and_key_order() -> None:
    recipe = Recipe(
        prompt="a cat", negative_prompt="dog", seed=7, steps=30, sampler="Euler a", guidance_scale=6.5,
        width=512, height=768, model="m", model_hash="0123456789", clip_skip=2, denoising_strength=0.5,
        init_image_hash="abcd1234",
    )
    assert recipe_to_infotext(recipe).split("\n") == [
        "a cat",
        "Negative prompt: dog",
        (
            "Steps: 30, Sampler: Euler a, Schedule type: Automatic, CFG scale: 6.5, Seed: 7, Size: 512x768, "
            "Model hash: 0123456789, Model: m, Denoising strength: 0.5, Clip skip: 2, Init image hash: abcd1234, "
            "RNG: CPU, Version: sfumato-0.1.0"
        ),
    ]


def test_no_negative_line_when_negative_prompt_is_empty() -> None:
    text = recipe_to_infotext(Recipe(prompt="a cat"))
    assert "Negative prompt" not in text
    assert text.startswith("a cat\nSteps: 20, ")


def test_negative_prompt_takes_every_later_line() -> None:
    text = (
        "first line\n  second line  \nNegative prompt:  bad hands\nblurry\nTemplate: {a|b}\n"
        "Steps: 20, Sampler: Euler, Seed: 1"
    )
    parsed = parse_infotext(text)
    assert parsed["Prompt"] == "first line\nsecond line"
    assert parsed["Negative prompt"] == "bad hands\nblurry\nTemplate: {a|b}"
    assert recipe_from_infotext(text).negative_prompt == "bad hands\nblurry\nTemplate: {a|b}"


def test_last_line_is_parameters_only_with_three_pairs() -> None:
    text = "a prompt\nSteps: 20, Seed: 1"
    assert parse_infotext(text) == {"Prompt": "a prompt\nSteps: 20, Seed: 1", "Negative prompt": ""}
    with pytest.raises(BadInput, match="no parameter line"):
        recipe_from_infotext(text)


def test_parse_adds_no_a1111_ui_defaults() -> None:
    parsed = parse_infotext("x\nSteps: 20, Sampler: Euler, Seed: 3")
    assert list(parsed) == ["Steps", "Sampler", "Seed", "Prompt", "Negative prompt"]


def test_parse_quirks_match_a1111() -> None:
    parsed = parse_infotext(
        'Steps: 20, Sampler: Euler, Seed: 3, Bad: "not \\q json", Empty: , '
        'Civitai resources: [{"type":"checkpoint","modelVersionId":1}], Size: 512x768'
    )
    assert parsed["Bad"] == '"not \\q json"'  # JSON decoding failed: raw text kept
    assert "Empty" not in parsed  # A1111 drops a key with an empty value
    assert parsed["Civitai resources"] == '[{"type":"checkpoint"'  # unquoted: cut at the first comma
    assert parsed["Size"] == "512x768"
    split = parse_infotext("Steps: 20, Sampler: Euler, Size: 512x768, Hires resize: 1024x0", split_sizes=True)
    assert (split["Size-1"], split["Size-2"], split["Hires resize-1"], split["Hires resize-2"]) == (
        "512", "768", "1024", "0")
    assert "Size" not in split


@pytest.mark.parametrize(("written", "sampler", "schedule"), [
    ("Sampler: DPM++ 2M Karras", "DPM++ 2M", "Karras"),
    ("Sampler: DPM++ SDE Karras", "DPM++ SDE", "Karras"),
    ("Sampler: DPM++ 2M SDE Exponential", "DPM++ 2M SDE", "Exponential"),
    ("Sampler: LMS Karras", "LMS", "Karras"),
    ("Sampler: Euler a", "Euler a", "Automatic"),
    ("Sampler: k_euler_a", "Euler a", "Automatic"),
    ("Sampler: DPM++ 2M", "DPM++ 2M", "Karras"),  # Automatic resolves to the sampler's default, as A1111 writes
    ("Sampler: Euler, Schedule type: karras", "Euler", "Karras"),
])
def test_old_and_alias_sampler_spellings(written: str, sampler: str, schedule: str) -> None:
    recipe = recipe_from_infotext(f"cat\nSteps: 20, {written}, CFG scale: 7, Seed: 1, Size: 512x768")
    assert (recipe.sampler, recipe.schedule_type) == (sampler, schedule)
    assert (recipe.width, recipe.height, recipe.guidance_scale) == (512, 768, 7.0)


@pytest.mark.parametrize(("rng", "source", "extra"), [
    ("", "device", ()), (", RNG: GPU", "device", ()), (", RNG: CPU", "cpu", ()),
    (", RNG: NV", "device", (("RNG", "NV"),)),
])
def test_rng_maps_to_noise_source(rng: str, source: str, extra: tuple[tuple[str, str], ...]) -> None:
    recipe = recipe_from_infotext(f"cat\nSteps: 20, Sampler: Euler, Seed: 1{rng}")
    assert (recipe.noise_source, recipe.extra) == (source, extra)


def test_unknown_keys_of_other_tools_are_kept_in_order() -> None:
    text = (
        "1girl\nSteps: 28, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 1, Size: 832x1216, "
        "Model: animagine, ADetailer model: face_yolov8n.pt, ADetailer confidence: 0.3, "
        'Hires upscale: 1.5, Template: "1girl, {red|blue} hair", Civitai resources: "[{\\"type\\":\\"lora\\"}]", '
        "Clip skip: 2, Version: f2.0.1v1.10.1"
    )
    recipe = recipe_from_infotext(text)
    assert recipe.extra == (
        ("ADetailer model", "face_yolov8n.pt"), ("ADetailer confidence", "0.3"),
        ("Civitai resources", '[{"type":"lora"}]'), ("Version", "f2.0.1v1.10.1"),
    )
    assert recipe.prompt_template == "1girl, {red|blue} hair"  # sd-dynamic-prompts' key is a field (issue #5)
    assert recipe.clip_skip == 2
    assert recipe.hires_scale == 1.5  # a Recipe field since issue #7
    assert recipe_from_infotext(recipe_to_infotext(recipe)) == recipe


@pytest.mark.parametrize("params", [
    "Steps: 0, Sampler: Euler, Seed: 1",
    "Steps: 20, Sampler: Nonexistent Sampler, Seed: 1",
    "Steps: 20, Sampler: Euler, Seed: 1, Size: 513x512",
    "Steps: 20, Sampler: Euler, Seed: -1",
])
def test_invalid_values_raise_recipe_error(params: str) -> None:
    with pytest.raises(RecipeError):
        recipe_from_infotext(f"cat\n{params}")


def test_adapters_without_prompt_tags_use_sfumato_key_and_lora_hashes() -> None:
    recipe = Recipe(prompt="a cat", adapters=(
        AdapterRef(name="style", weight=0.8, hash="0123456789ab"),
        AdapterRef(name="my, odd: name", weight=-1.5),
        AdapterRef(name="easyneg", kind="embedding", hash="c74b4e810b03"),
    ))
    text = recipe_to_infotext(recipe)
    assert 'Lora hashes: "style: 0123456789ab"' in text
    assert 'Adapters: "lora:style:0.8:0123456789ab, lora:my%2C odd%3A name:-1.5, embedding:easyneg:1.0:c74b4e810b03"' \
        in text
    assert recipe_from_infotext(text) == recipe


def test_adapters_already_in_prompt_are_not_repeated() -> None:
    recipe = Recipe(prompt="a cat <lora:style:0.8>", adapters=(AdapterRef(name="style", weight=0.8, hash="abc"),))
    text = recipe_to_infotext(recipe)
    assert "Adapters" not in text
    assert 'Lora hashes: "style: abc"' in text
    assert recipe_from_infotext(text) == recipe


def test_prompt_tag_without_adapter_stays_exact() -> None:
    recipe = Recipe(prompt="a cat <lora:style:0.8>")
    text = recipe_to_infotext(recipe)
    assert "Adapters: none" in text
    assert recipe_from_infotext(text) == recipe


def test_prompts_a1111_lines_cannot_hold_get_an_exact_key() -> None:
    recipe = Recipe(prompt="  indented\nNegative prompt: not really", negative_prompt="trailing  ")
    text = recipe_to_infotext(recipe)
    assert 'Exact prompt: "  indented\\nNegative prompt: not really"' in text
    assert 'Exact negative prompt: "trailing  "' in text
    assert recipe_from_infotext(text) == recipe
    assert "Exact" not in recipe_to_infotext(Recipe(prompt="plain,\nlines: fine", negative_prompt="ok\nok"))


def test_extra_that_repeats_a_field_is_refused() -> None:
    with pytest.raises(RecipeError, match="extra"):
        recipe_to_infotext(Recipe(extra=(("Steps", "30"),)))
    with pytest.raises(RecipeError, match="extra"):
        recipe_to_infotext(Recipe(noise_source="cpu", extra=(("RNG", "NV"),)))


def test_sfumato_fields_a1111_lacks_round_trip() -> None:
    recipe = Recipe(
        model_sha256="ab" * 32, device="cuda:1", dtype="bf16", batch_size=4, batch_count=3, mask_hash="m1",
        noise_source="device", schema_version=1,
    )
    text = recipe_to_infotext(recipe)
    for written in ("Model sha256: " + "ab" * 32, 'Device: "cuda:1"', "Dtype: bf16", "Batch size: 4",
                    "Batch count: 3", "Mask hash: m1"):
        assert written in text
    assert "RNG" not in text
    assert recipe_from_infotext(text) == recipe


def test_embeddings_are_written_as_ti_hashes_and_read_back() -> None:
    adapters = (AdapterRef(name="ink", weight=0.8, hash="0123456789ab"),
                AdapterRef(name="easynegative", kind="embedding", hash="c74b4e810b03"),
                AdapterRef(name="owl_style", kind="embedding", hash="00ff00ff00ff"))
    recipe = Recipe(prompt="an owl, owl_style <lora:ink:0.8>", negative_prompt="easynegative", adapters=adapters)
    text = recipe_to_infotext(recipe)
    assert 'Lora hashes: "ink: 0123456789ab", TI hashes: "easynegative: c74b4e810b03, owl_style: 00ff00ff00ff"' in text
    assert "Adapters" not in text  # the tags and the two hash keys say it all, as in A1111's own text
    assert recipe_from_infotext(text) == recipe
    unhashed = recipe.replace(adapters=(AdapterRef(name="owl_style", kind="embedding"),))
    assert "TI hashes" not in recipe_to_infotext(unhashed)
    assert recipe_from_infotext(recipe_to_infotext(unhashed)) == unhashed  # via sfumato's Adapters key
