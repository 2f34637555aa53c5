"""LoRA files identified from their headers: format, base family, rank; listed by the library and `models list`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sfumato.cli import main
from sfumato.errors import BadInput, UnsafeCheckpoint
from sfumato.models.families import Family
from sfumato.models.lora_files import LoraFormat, family_mismatch, identify_lora
from sfumato.models.tiny import build_tiny_pipeline
from tests.models.tiny_loras import build_lora, save_lora


@pytest.fixture(scope="module")
def pipes() -> dict[Family, object]:
    return {family: build_tiny_pipeline(family) for family in (Family.SD1, Family.SDXL)}


@pytest.mark.parametrize(("family", "layout", "metadata", "expected_format", "expected_family"), [
    (Family.SD1, "kohya", {"ss_base_model_version": "sd_v1"}, LoraFormat.KOHYA, Family.SD1),
    (Family.SD1, "kohya", {"ss_base_model_version": "sd_v2", "ss_v2": "True"}, LoraFormat.KOHYA, Family.SD2),
    (Family.SD1, "locon", None, LoraFormat.LOCON, None),  # tiny widths say nothing: checked when loaded
    (Family.SD1, "peft", {"modelspec.architecture": "stable-diffusion-v1/lora"}, LoraFormat.PEFT, Family.SD1),
    (Family.SD1, "loha", None, LoraFormat.LOHA, None),
    (Family.SDXL, "kohya", None, LoraFormat.KOHYA, Family.SDXL),  # lora_te2_ keys
    (Family.SDXL, "peft", None, LoraFormat.PEFT, Family.SDXL),  # text_encoder_2 keys
    (Family.SD1, "kohya", {"sfumato_family": "sfumato-tiny"}, LoraFormat.KOHYA, Family.SD1),
    (Family.SD1, "kohya", {"ss_base_model_version": "sfumato-emoji"}, LoraFormat.KOHYA, Family.SFUMATO_EMOJI),
])
def test_format_and_family_from_the_header(pipes: dict[Family, object], tmp_path: Path, family: Family,
                                           layout: str, metadata: dict[str, str] | None,
                                           expected_format: LoraFormat, expected_family: Family | None) -> None:
    path = save_lora(build_lora(pipes[family], layout, seed=0, rank=3), tmp_path / "x.safetensors",  # type: ignore[arg-type]
                     metadata=metadata)
    info = identify_lora(path)
    assert (info.format, info.family) == (expected_format, expected_family)
    assert info.is_loadable is (expected_format not in (LoraFormat.LOHA, LoraFormat.LOKR))
    if layout != "loha":
        assert info.rank == 3 and info.has_text_encoder


def test_sdxl_kohya_unet_only_is_known_by_its_sgm_key_names(pipes: dict[Family, object], tmp_path: Path) -> None:
    path = save_lora(build_lora(pipes[Family.SDXL], "kohya", seed=0, text_encoder=False), tmp_path / "x.safetensors")
    info = identify_lora(path)
    assert info.family is Family.SDXL and "SGM naming" in info.evidence and not info.has_text_encoder


def test_full_size_widths_decide_the_family(tmp_path: Path) -> None:
    def lora(context: int, text: int) -> Path:
        tensors = {
            "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": torch.zeros(4, context),
            "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight": torch.zeros(8, 4),
            "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": torch.zeros(4, text),
            "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": torch.zeros(text, 4),
        }
        return save_lora(tensors, tmp_path / f"{context}.safetensors")

    assert identify_lora(lora(768, 768)).family is Family.SD1
    assert identify_lora(lora(1024, 1024)).family is Family.SD2
    assert identify_lora(lora(2048, 768)).family is Family.SDXL
    assert identify_lora(lora(384, 384)).family is Family.SFUMATO_EMOJI
    info = identify_lora(lora(2048, 768))
    assert family_mismatch(info, Family.SDXL_TURBO) is None
    assert "made for Stable Diffusion XL base (sdxl)" in str(family_mismatch(info, Family.SD1))


def test_not_a_lora_and_pickles_are_refused(tmp_path: Path) -> None:
    path = save_lora({"model.diffusion_model.out.2.weight": torch.zeros(2, 2)}, tmp_path / "ckpt.safetensors")
    with pytest.raises(BadInput, match="no LoRA, LoCon, LoHa or LoKr tensors"):
        identify_lora(path)
    (tmp_path / "old.pt").write_bytes(b"not read")
    with pytest.raises(UnsafeCheckpoint):
        identify_lora(tmp_path / "old.pt")


def test_models_list_shows_loras_with_family_and_refusals(pipes: dict[Family, object], home: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    save_lora(build_lora(pipes[Family.SD1], "kohya", seed=0), home / "models" / "Lora" / "ink.safetensors",
              metadata={"ss_base_model_version": "sd_v1"})
    save_lora(build_lora(pipes[Family.SDXL], "kohya", seed=0), home / "models" / "loras" / "xl.safetensors")
    save_lora(build_lora(pipes[Family.SD1], "loha", seed=0), home / "models" / "Lora" / "loha.safetensors")
    code = main(["models", "list", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    loras = {e["name"]: e for e in json.loads(out) if e["kind"] == "lora"}
    assert (loras["ink"]["family"], loras["xl"]["family"]) == ("sd1", "sdxl")
    assert "kohya" in loras["ink"]["evidence"] and "rank 2" in loras["ink"]["evidence"]
    assert loras["loha"]["family"] is None and "LoHa" in loras["loha"]["error"]
