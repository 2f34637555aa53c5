"""Themes: structured prompt files (YAML/JSON) -> prompt, negative prompt and settings; lookup; errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sfumato.errors import BadInput
from sfumato.prompt.dynamic import resolve_random
from sfumato.prompt.request import PromptOptions, with_theme_and_styles
from sfumato.prompt.themes import ThemeError, load_theme, parse_theme, theme_prompt

NEGATIVE = ("cars, ugly, poor quality, bad anatomy, bad hands, text, error, missing fingers, extra digit, fewer "
            "digits, cropped, worst quality, low quality, jpeg artifacts, signature, watermark, username, artist name")
# The hobbyist's own structured prompt (shared/seeds/001_97004e53811b1706.txt), as written in their notebook.
HOBBYIST_OWL = {
    "theme": "owl",
    "prompt": {
        "subject": ["owl", "anthropomorphic"],
        "outfit": ["groceries", "(headphones)++"],
        "environment": ["(sunset)++", "busy city street"],
        "emotions": ["normcore", "cozy", "happy"],
        "style": ["(pointillism)+", "backlit", "high quality"],
    },
    "negative_prompt": NEGATIVE,
}


def test_the_hobbyists_owl_theme_becomes_their_prompt(tmp_path: Path) -> None:
    (tmp_path / "owl.json").write_text(json.dumps(HOBBYIST_OWL), encoding="utf-8")
    theme = load_theme(str(tmp_path / "owl.json"), tmp_path)
    assert theme.prompt == ("owl, anthropomorphic, groceries, (headphones)++, (sunset)++, busy city street, "
                            "normcore, cozy, happy, (pointillism)+, backlit, high quality")
    assert theme.negative_prompt == NEGATIVE and theme.name == "owl" and len(theme.hash) == 12
    # The same theme as YAML is the same theme: same hash.
    (tmp_path / "owl.yaml").write_text(yaml.safe_dump(HOBBYIST_OWL, sort_keys=False), encoding="utf-8")
    assert load_theme(str(tmp_path / "owl.yaml"), tmp_path).hash == theme.hash
    # Section order makes the prompt, so another order is another theme.
    reordered = {**HOBBYIST_OWL, "prompt": dict(reversed(HOBBYIST_OWL["prompt"].items()))}
    assert theme_prompt(parse_theme(reordered, source="x"), name="owl").hash != theme.hash


def test_sections_in_any_order_variants_and_settings(tmp_path: Path) -> None:
    theme = parse_theme({
        "prompt": {"style": "watercolor", "subject": ["otter", {"one_of": ["cowboy hat", "denim jacket"]}],
                   "technique": {"one_of": ["ink", "marker", "pastel"], "pick": 2}},
        "negative_prompt": ["blurry", "text"],
        "settings": {"steps": 30, "cfg": 12, "size": "768x512", "sampler": "UniPC", "schedule": "Karras"},
    }, source="otter.yaml")
    made = theme_prompt(theme, name="otter")
    assert made.prompt == "watercolor, otter, {cowboy hat|denim jacket}, {2$$, $$ink|marker|pastel}"
    assert made.negative_prompt == "blurry, text" and made.name == "otter"
    assert dict(made.settings) == {"steps": 30, "guidance_scale": 12.0, "width": 768, "height": 512,
                                   "sampler": "UniPC", "schedule_type": "Karras"}
    drawn = resolve_random(made.prompt, list(range(12)), tmp_path)
    assert {d.split(", ")[2] for d in drawn} == {"cowboy hat", "denim jacket"}


@pytest.mark.parametrize(("data", "expected"), [
    ({"prompt": {"subject": 3}}, "prompt: section 'subject' must be a string, a list of strings"),
    ({"prompt": {}}, "prompt: Dictionary should have at least 1 item"),
    ({"prompt": {"a": "x"}, "settings": {"stepz": 3}}, "settings.stepz: Extra inputs are not permitted"),
    ({"prompt": {"a": "x"}, "settings": {"steps": 0}}, "settings.steps: Input should be greater than or equal to 1"),
    ({"prompt": {"a": {"one_of": []}}}, "section 'a': variants {'one_of': []}: one_of: Tuple should have at least"),
    ({"prompt": {"a": "x"}, "colour": "red"}, "colour: Extra inputs are not permitted"),
    (["not", "a", "mapping"], "must be a mapping with a 'prompt' of sections, got list"),
])
def test_a_bad_theme_names_the_file_section_and_rule(data: object, expected: str) -> None:
    with pytest.raises(ThemeError) as caught:
        parse_theme(data, source="'owl.yaml'")
    assert caught.value.message.startswith("theme 'owl.yaml': ") and expected in caught.value.message
    assert caught.value.exit_code == 2 and caught.value.http_status == 422


def test_themes_by_name_from_the_home(tmp_path: Path) -> None:
    (tmp_path / "themes").mkdir()
    (tmp_path / "themes" / "owl.yaml").write_text(yaml.safe_dump(HOBBYIST_OWL, sort_keys=False), encoding="utf-8")
    assert load_theme("owl", tmp_path).prompt.startswith("owl, anthropomorphic")
    with pytest.raises(BadInput, match="no owls.yaml/.yml/.json in") as caught:
        load_theme("owls", tmp_path)
    assert "themes there: owl" in (caught.value.hint or "")
    (tmp_path / "themes" / "bad.yaml").write_text("prompt: [unclosed", encoding="utf-8")
    with pytest.raises(ThemeError, match="bad.yaml'?: not readable as yaml"):
        load_theme("bad", tmp_path)


def test_theme_mixed_with_extra_text_and_request_settings_win(tmp_path: Path) -> None:
    (tmp_path / "owl.json").write_text(json.dumps({**HOBBYIST_OWL, "settings": {"steps": 30, "cfg": 12}}))
    fields = with_theme_and_styles({"prompt": "at night", "negative_prompt": "rain", "steps": 5, "seed": -1},
                                   PromptOptions(theme=str(tmp_path / "owl.json")), home=tmp_path)
    assert fields["prompt"].startswith("owl, anthropomorphic,") and fields["prompt"].endswith("high quality, at night")
    assert fields["negative_prompt"] == f"{NEGATIVE}, rain"
    assert fields["steps"] == 5 and fields["guidance_scale"] == 12.0  # given wins; the theme fills the rest
    assert fields["theme"] == "owl" and len(fields["theme_hash"]) == 12
