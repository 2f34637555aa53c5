"""LoRAs on the embedded model (MiniLM text encoder): UNet LoRAs apply, text-encoder layers are skipped with a note."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from sfumato.engine.fuse import fuse_loras
from sfumato.errors import RecipeError
from sfumato.models.emoji_model import load_emoji_pipeline, save_emoji_model
from sfumato.models.families import Family
from sfumato.models.library import ModelKind
from sfumato.settings import Settings
from sfumato.studio import Studio
from sfumato.train.base.config import PRESETS, SCHEDULER_CONFIG, build_unet, build_vae
from tests.models.tiny_loras import build_lora, save_lora


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    torch.set_num_threads(1)
    home = tmp_path_factory.mktemp("emoji-home")
    config = PRESETS["tiny"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet, vae = build_unet(config), build_vae(config)
    model = home / "models" / "Stable-diffusion" / "emoji.safetensors"
    save_emoji_model(model, unet=unet, vae=vae, scheduler_config=SCHEDULER_CONFIG, max_tokens=config.max_tokens)
    pipe = load_emoji_pipeline(model)
    loras = home / "models" / "Lora"
    save_lora(build_lora(pipe, "kohya", seed=1), loras / "emoji-style.safetensors")
    save_lora(build_lora(pipe, "peft", seed=2), loras / "emoji-peft.safetensors")
    with_text = build_lora(pipe, "kohya", seed=3)
    # A BERT (MiniLM) attention layer, named as kohya names text-encoder modules.
    with_text["lora_te_encoder_layer_0_attention_self_query.lora_down.weight"] = torch.randn(2, 384) * 0.3
    with_text["lora_te_encoder_layer_0_attention_self_query.lora_up.weight"] = torch.randn(384, 2) * 0.3
    with_text["lora_te_encoder_layer_0_attention_self_query.alpha"] = torch.tensor(1.0)
    save_lora(with_text, loras / "emoji-te.safetensors")
    save_lora(build_lora(pipe, "kohya", seed=4), loras / "emoji-sd1.safetensors",
              metadata={"ss_base_model_version": "sd_v1"})  # says SD 1.x: refused on the embedded model
    opened = Studio.open(Settings(home=home))
    yield opened
    opened.close()


def _run(studio: Studio, prompt: str) -> tuple[np.ndarray, tuple[str, ...]]:
    recipe = studio.new_recipe({"model": "emoji", "prompt": prompt, "seed": 3, "steps": 3, "width": 16,
                                "height": 16})
    (picture,) = studio.engine.run(recipe)
    return np.asarray(picture.image, dtype=np.int16), picture.warnings


def test_library_names_the_embedded_family_from_the_context_width(studio: Studio) -> None:
    entry = studio.library.find("emoji-style", ModelKind.LORA)
    assert entry.family is Family.SFUMATO_EMOJI and "context width 384" in entry.evidence


def test_unet_loras_apply_to_the_embedded_model(studio: Studio) -> None:
    base, _ = _run(studio, "a red heart")
    style, notes = _run(studio, "a red heart <lora:emoji-style:1>")
    peft, _ = _run(studio, "a red heart <lora:emoji-peft:1>")
    assert not notes
    assert np.abs(style - base).max() > 0 and np.abs(peft - base).max() > 0 and np.abs(style - peft).max() > 0
    assert np.array_equal(_run(studio, "a red heart")[0], base)


def test_text_encoder_layers_are_skipped_with_a_note(studio: Studio) -> None:
    style, _ = _run(studio, "a red heart <lora:emoji-style:1>")
    with_text, notes = _run(studio, "a red heart <lora:emoji-te:1>")
    assert any("text-encoder layers were not applied" in note for note in notes)
    assert np.abs(with_text - style).max() > 0  # its own UNet layers did apply


def test_lora_for_another_family_is_refused(studio: Studio) -> None:
    with pytest.raises(RecipeError, match=r"emoji-sd1\.safetensors.*Stable Diffusion 1\.x.*sfumato-emoji"):
        _run(studio, "a red heart <lora:emoji-sd1:1>")


def test_fuse_into_the_embedded_model(studio: Studio) -> None:
    path = fuse_loras(studio.library, "emoji", [("emoji-style", 0.9)], name="emoji-fused")
    assert path.is_file()
    unfused, _ = _run(studio, "a red heart <lora:emoji-style:0.9>")
    recipe = studio.new_recipe({"model": "emoji-fused", "prompt": "a red heart", "seed": 3, "steps": 3,
                                "width": 16, "height": 16})
    fused = np.asarray(studio.engine.run(recipe)[0].image, dtype=np.int16)
    assert np.abs(fused - unfused).max() <= 3
