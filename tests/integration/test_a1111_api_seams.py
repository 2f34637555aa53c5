"""The A1111 API with the merged features together: `<lora:...>` tags and a style that adds one, in one request."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from sfumato.infotext import recipe_from_infotext
from sfumato.server.app import create_app
from sfumato.settings import Settings


def test_txt2img_with_lora_tags_and_styles(seam_home: Path) -> None:
    with TestClient(create_app(Settings(home=seam_home))) as client:
        payload = {"steps": 2, "width": 32, "height": 32, "seed": 3}
        styled = client.post("/sdapi/v1/txt2img", json={"prompt": "an owl", "styles": ["Ink"], **payload})
        tagged = client.post("/sdapi/v1/txt2img", json={"prompt": "an owl <lora:ink:0.7>", **payload})
        plain = client.post("/sdapi/v1/txt2img", json={"prompt": "an owl", **payload})
    assert styled.status_code == tagged.status_code == plain.status_code == 200, styled.text
    info = json.loads(styled.json()["info"])
    assert info["styles"] == ["Ink"]
    recipe = recipe_from_infotext(info["infotexts"][0])
    assert recipe.prompt == "an owl, <lora:ink:0.7>" and recipe.negative_prompt == "blurry"
    assert [(a.name, a.weight, a.hash is not None) for a in recipe.adapters] == [("ink", 0.7, True)]
    # The tag the style adds is applied (and hashed) as a typed one is.
    assert styled.json()["images"] != plain.json()["images"]
    tagged_recipe = recipe_from_infotext(json.loads(tagged.json()["info"])["infotexts"][0])
    assert tagged_recipe.adapters == recipe.adapters
