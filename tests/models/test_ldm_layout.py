"""Original single-file layout: keys and shapes as A1111/ComfyUI files have them, checked against diffusers' loader."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import torch
from diffusers import StableDiffusionPipeline
from safetensors import safe_open

from sfumato.errors import UnknownArchitecture
from sfumato.models.families import Family
from sfumato.models.ldm_layout import (
    CONFIG_METADATA_KEY,
    TEXT_ENCODERS,
    save_single_file,
    to_original_state_dict,
    unet_to_original,
)
from sfumato.models.tiny import TINY_SHAPES

from .conftest import SavedTiny


@pytest.mark.parametrize("family", list(TINY_SHAPES), ids=str)
def test_diffusers_single_file_loader_gives_back_every_tensor(
    family: Family, saved_tiny: Callable[[Family], SavedTiny]
) -> None:
    saved = saved_tiny(family)
    cls = type(saved.pipe)
    extra = {"safety_checker": None, "requires_safety_checker": False} if cls is StableDiffusionPipeline else {}
    loaded = cls.from_single_file(str(saved.single_file), config=str(saved.folder), local_files_only=True, **extra)
    compared = 0
    for name, component in saved.pipe.components.items():
        if not isinstance(component, torch.nn.Module):
            continue
        original, reloaded = component.state_dict(), getattr(loaded, name).state_dict()
        assert original.keys() == reloaded.keys(), name
        for key, tensor in original.items():
            assert torch.equal(tensor, reloaded[key]), f"{name}.{key}"
            compared += 1
    assert compared > 300


def test_sd1_keys_and_shapes(saved_tiny: Callable[[Family], SavedTiny]) -> None:
    pipe = saved_tiny(Family.SD1).pipe
    state = to_original_state_dict(pipe, Family.SD1)
    unet = "model.diffusion_model."
    for key in ("input_blocks.0.0.weight", "time_embed.0.weight", "time_embed.2.bias", "out.0.weight",
                "out.2.weight", "input_blocks.1.0.in_layers.2.weight", "input_blocks.2.0.op.weight",
                "input_blocks.3.1.transformer_blocks.0.attn2.to_k.weight", "middle_block.1.proj_in.weight",
                "middle_block.2.out_layers.3.weight", "output_blocks.0.0.skip_connection.weight",
                "output_blocks.1.2.conv.weight", "output_blocks.3.0.emb_layers.1.weight"):
        assert unet + key in state, key
    assert not any(k.startswith(unet + "label_emb") for k in state)  # SD1 has no size conditioning
    # The original VAE attention is 1x1 convolutions; diffusers' is linear.
    q = state["first_stage_model.encoder.mid.attn_1.q.weight"]
    assert q.shape == (64, 64, 1, 1)
    assert torch.equal(q[:, :, 0, 0], pipe.vae.state_dict()["encoder.mid_block.attentions.0.to_q.weight"])
    # Decoder levels count from the bottom: diffusers' first up block (64 ch) is the original's last.
    assert state["first_stage_model.decoder.up.1.upsample.conv.weight"].shape[0] == 64
    assert "first_stage_model.decoder.up.0.block.0.nin_shortcut.weight" in state
    assert "cond_stage_model.transformer.text_model.final_layer_norm.weight" in state
    assert "cond_stage_model.transformer.text_model.encoder.layers.1.self_attn.q_proj.weight" in state


def test_openclip_layout_for_sd2(saved_tiny: Callable[[Family], SavedTiny]) -> None:
    pipe = saved_tiny(Family.SD2_V).pipe
    state = to_original_state_dict(pipe, Family.SD2_V)
    prefix = "cond_stage_model.model."
    text = pipe.text_encoder.state_dict()
    fused = state[prefix + "transformer.resblocks.1.attn.in_proj_weight"]
    assert fused.shape == (96, 32)
    assert torch.equal(fused[32:64], text["encoder.layers.1.self_attn.k_proj.weight"])
    assert torch.equal(state[prefix + "positional_embedding"], text["embeddings.position_embedding.weight"])
    assert torch.equal(state[prefix + "token_embedding.weight"], text["embeddings.token_embedding.weight"])
    assert prefix + "ln_final.weight" in state and prefix + "transformer.resblocks.0.mlp.c_fc.weight" in state
    assert torch.equal(state[prefix + "text_projection"], torch.eye(32))  # stand-in: SD never uses it
    assert not any(k.startswith("cond_stage_model.transformer.") for k in state)


def test_sdxl_and_refiner_embedders(saved_tiny: Callable[[Family], SavedTiny]) -> None:
    pipe = saved_tiny(Family.SDXL).pipe
    state = to_original_state_dict(pipe, Family.SDXL)
    assert "model.diffusion_model.label_emb.0.0.weight" in state
    assert "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight" in state
    projection = state["conditioner.embedders.1.model.text_projection"]
    assert projection.shape == (64, 32)  # (width, projection): OpenCLIP computes x @ text_projection
    assert torch.equal(projection, pipe.text_encoder_2.text_projection.weight.T)
    refiner = to_original_state_dict(saved_tiny(Family.SDXL_REFINER).pipe, Family.SDXL_REFINER)
    assert "conditioner.embedders.0.model.text_projection" in refiner
    assert not any(k.startswith(("conditioner.embedders.1.", "conditioner.embedders.0.transformer.")) for k in refiner)


def test_every_tensor_is_written_once(saved_tiny: Callable[[Family], SavedTiny]) -> None:
    for family in (Family.SD1, Family.SDXL):
        pipe = saved_tiny(family).pipe
        n = sum(len(getattr(pipe, attr).state_dict()) for attr in ("unet", "vae"))
        n += sum(len(getattr(pipe, attr).state_dict()) for attr, _, _ in TEXT_ENCODERS[family])
        # OpenCLIP fuses q, k, v (3 weights + 3 biases) into in_proj_weight and in_proj_bias: 4 fewer per layer.
        n -= sum(4 * getattr(pipe, attr).config.num_hidden_layers
                 for attr, _, layout in TEXT_ENCODERS[family] if layout == "openclip")
        assert len(to_original_state_dict(pipe, family)) == n


def test_metadata_carries_the_configs_and_the_callers_entries(
    saved_tiny: Callable[[Family], SavedTiny], tmp_path: object
) -> None:
    pipe = saved_tiny(Family.SDXL).pipe
    path = save_single_file(pipe, Family.SDXL, tmp_path / "x.safetensors", metadata={"modelspec.title": "tiny"})  # type: ignore[operator]
    with safe_open(str(path), framework="pt") as file:
        metadata = file.metadata()
    assert metadata["modelspec.title"] == "tiny"
    config = json.loads(metadata[CONFIG_METADATA_KEY])
    assert config["family"] == "sdxl"
    assert config["components"]["unet"]["cross_attention_dim"] == 96
    assert config["components"]["text_encoder_2"]["hidden_size"] == 64
    assert config["components"]["scheduler"]["_class_name"] == "EulerDiscreteScheduler"
    assert config["tokenizers"] == {"tokenizer": "clip", "tokenizer_2": "clip-pad0"}
    assert config["model_index"]["unet"] == ["diffusers", "UNet2DConditionModel"]


def test_unknown_keys_and_families_are_refused(saved_tiny: Callable[[Family], SavedTiny]) -> None:
    config = saved_tiny(Family.SD1).pipe.unet.config
    with pytest.raises(UnknownArchitecture, match="'adapter.weight'"):
        unet_to_original({"adapter.weight": torch.zeros(1)}, config)
    for family in set(Family) - set(TEXT_ENCODERS):
        with pytest.raises(UnknownArchitecture, match=family.value):
            to_original_state_dict(saved_tiny(Family.SD1).pipe, family)
