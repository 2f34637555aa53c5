"""load_pipeline: tiny single files and folders load offline with their original weights; pickles refused."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

from sfumato.errors import BadInput, ModelNotFound, UnsafeCheckpoint
from sfumato.models import loading
from sfumato.models.families import FAMILIES, Family
from sfumato.models.identify import Identification
from sfumato.models.ldm_layout import save_single_file, to_original_state_dict
from sfumato.models.loading import load_pipeline
from sfumato.models.tiny import build_tiny_pipeline

FAMILIES_UNDER_TEST = (Family.SD1, Family.SD2_V, Family.SDXL)
WEIGHTED = ("unet", "vae", "text_encoder", "text_encoder_2")


def _identification(family: Family, *, prediction_type: str | None = None) -> Identification:
    return Identification(
        family=family,
        is_inpainting=False,
        prediction_type=prediction_type or FAMILIES[family].prediction_type,  # type: ignore[arg-type]
        layout="single-file",
        evidence="test",
    )


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[Family, tuple[object, Path, Path]]:
    """Per family: (original tiny pipeline, its single file, its diffusers folder)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny")
    out = {}
    for family in FAMILIES_UNDER_TEST:
        pipe = build_tiny_pipeline(family, seed=3)
        single = save_single_file(pipe, family, root / f"{family.value}.safetensors")
        pipe.save_pretrained(root / family.value)
        out[family] = (pipe, single, root / family.value)
    return out


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """An empty HF_HOME, offline flags, and a tripwire on every outgoing connection."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


def _assert_same_weights(expected: object, loaded: object) -> None:
    for name in WEIGHTED:
        want, got = getattr(expected, name, None), getattr(loaded, name, None)
        assert (want is None) == (got is None), name
        if want is None:
            continue
        want_sd, got_sd = want.state_dict(), got.state_dict()
        assert set(want_sd) == set(got_sd), name
        for key, tensor in want_sd.items():
            assert torch.equal(tensor, got_sd[key]), f"{name}.{key}"


@pytest.mark.parametrize("family", FAMILIES_UNDER_TEST, ids=str)
def test_single_file_loads_with_the_original_weights(
    family: Family, tiny_models: dict, capfd: pytest.CaptureFixture[str]
) -> None:
    pipe, single, _ = tiny_models[family]
    loaded = load_pipeline(single, _identification(family), torch_dtype=torch.float32)
    assert type(loaded).__name__ == FAMILIES[family].pipeline
    assert loaded.scheduler.config.prediction_type == FAMILIES[family].prediction_type
    assert type(loaded.scheduler) is type(pipe.scheduler)
    _assert_same_weights(pipe, loaded)
    assert loaded.tokenizer("a photo of a cat").input_ids == pipe.tokenizer("a photo of a cat").input_ids
    assert capfd.readouterr().out == ""


@pytest.mark.parametrize("family", FAMILIES_UNDER_TEST, ids=str)
def test_folder_loads_with_the_original_weights(family: Family, tiny_models: dict) -> None:
    pipe, _, folder = tiny_models[family]
    loaded = load_pipeline(folder, _identification(family), torch_dtype=torch.float32)
    assert type(loaded).__name__ == FAMILIES[family].pipeline
    _assert_same_weights(pipe, loaded)


def test_identified_prediction_type_wins_over_the_config(tiny_models: dict) -> None:
    _, single, folder = tiny_models[Family.SD2_V]  # saved as v_prediction
    for path in (single, folder):
        loaded = load_pipeline(
            path, _identification(Family.SD2_V, prediction_type="epsilon"), torch_dtype=torch.float32
        )
        assert loaded.scheduler.config.prediction_type == "epsilon"


def _bundle_configs(folder: Path, root: Path, family: Family, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-in for sfumato/models/configs/<family>: the tiny folder's config files only."""
    bundled = root / str(FAMILIES[family].config_folder)
    for source in folder.rglob("*.json"):
        if source.parent.name.startswith("tokenizer"):
            continue
        target = bundled / source.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    monkeypatch.setattr(loading, "CONFIGS_ROOT", root)


def test_bundled_config_folder_path(
    tiny_models: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file without sfumato metadata uses CONFIGS_ROOT/<family folder> and the shipped tokenizers."""
    pipe, _, folder = tiny_models[Family.SDXL]
    _bundle_configs(folder, tmp_path / "configs", Family.SDXL, monkeypatch)
    plain = tmp_path / "plain.safetensors"
    save_file(to_original_state_dict(pipe, Family.SDXL), str(plain))  # no sfumato_config metadata
    loaded = load_pipeline(plain, _identification(Family.SDXL), torch_dtype=torch.float32)
    _assert_same_weights(pipe, loaded)
    assert loaded.tokenizer.pad_token == "<|endoftext|>" and loaded.tokenizer_2.pad_token == "!"


def test_pickles_are_refused_with_the_convert_hint(tmp_path: Path, tiny_models: dict) -> None:
    ckpt = tmp_path / "model.ckpt"
    torch.save({"w": torch.zeros(1)}, ckpt)
    with pytest.raises(UnsafeCheckpoint) as caught:
        load_pipeline(ckpt, _identification(Family.SD1), torch_dtype=torch.float32)
    assert caught.value.hint == f"sfumato models convert {ckpt}"
    # A diffusers folder whose UNet has only a .bin is refused too, before diffusers sees it.
    _, _, folder = tiny_models[Family.SD1]
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    for item in folder.iterdir():
        (pickled / item.name).symlink_to(item)
    (pickled / "unet").unlink()
    (pickled / "unet").mkdir()
    (pickled / "unet" / "config.json").write_bytes((folder / "unet" / "config.json").read_bytes())
    torch.save({"w": torch.zeros(1)}, pickled / "unet" / "diffusion_pytorch_model.bin")
    with pytest.raises(UnsafeCheckpoint, match="unet"):
        load_pipeline(pickled, _identification(Family.SD1), torch_dtype=torch.float32)


def test_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound):
        load_pipeline(tmp_path / "nope.safetensors", _identification(Family.SD1), torch_dtype=torch.float32)
    with pytest.raises(ModelNotFound):
        load_pipeline(tmp_path, _identification(Family.SD1), torch_dtype=torch.float32)  # no model_index.json
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(BadInput):
        load_pipeline(onnx, _identification(Family.SD1), torch_dtype=torch.float32)


def test_metadata_cannot_name_arbitrary_classes(tmp_path: Path) -> None:
    evil = {"components": {"scheduler": {"_class_name": "Popen"}}, "model_index": {"unet": ["os", "system"]}}
    path = tmp_path / "evil.safetensors"
    save_file({"w": torch.zeros(1)}, str(path), metadata={"sfumato_config": json.dumps(evil)})
    with pytest.raises(BadInput, match="scheduler"):
        load_pipeline(path, _identification(Family.SD1), torch_dtype=torch.float32)
    sneaky = {"components": {}, "tokenizers": {"tokenizer": "../../../etc"}}
    save_file({"w": torch.zeros(1)}, str(path), metadata={"sfumato_config": json.dumps(sneaky)})
    with pytest.raises(BadInput, match="tokenizers"):
        load_pipeline(path, _identification(Family.SD1), torch_dtype=torch.float32)


@pytest.mark.slow
def test_fresh_process_with_empty_hf_home_loads_a_single_file(tiny_models: dict, tmp_path: Path) -> None:
    """No cache and hub access off at import time: nothing diffusers could have cached can help."""
    _, single, _ = tiny_models[Family.SD1]
    script = (
        "import sys, torch; from pathlib import Path;"
        "from sfumato.models.families import Family; from sfumato.models.identify import identify;"
        "from sfumato.models.loading import load_pipeline;"
        "p = Path(sys.argv[1]); pipe = load_pipeline(p, identify(p), torch_dtype=torch.float32);"
        "assert pipe.unet is not None"
    )
    env = {
        **os.environ,
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", script, str(single)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == ""
    assert not (tmp_path / "hf").exists() or not any((tmp_path / "hf").rglob("*.json"))


def test_inpainting_checkpoint_gets_the_inpaint_pipeline(tmp_path: Path) -> None:
    pipe = build_tiny_pipeline(Family.SD1, seed=4)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        pipe.register_modules(unet=UNet2DConditionModel.from_config(pipe.unet.config, in_channels=9))
    single = save_single_file(pipe, Family.SD1, tmp_path / "inpaint.safetensors")
    identification = Identification(Family.SD1, True, "epsilon", "single-file", "test")
    loaded = load_pipeline(single, identification, torch_dtype=torch.float32)
    assert type(loaded).__name__ == "StableDiffusionInpaintPipeline"
    assert loaded.unet.config.in_channels == 9
    _assert_same_weights(pipe, loaded)


def test_inpainting_with_bundled_config(
    tiny_models: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bundled UNet config says 4 input channels; an inpainting file still loads its 9-channel conv_in."""
    pipe, _, folder = tiny_models[Family.SD1]
    _bundle_configs(folder, tmp_path / "configs", Family.SD1, monkeypatch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        unet = UNet2DConditionModel.from_config(pipe.unet.config, in_channels=9)
    plain = tmp_path / "inpaint.safetensors"
    components = {**pipe.components, "unet": unet}
    save_file(to_original_state_dict(type(pipe)(**components), Family.SD1), str(plain))
    identification = Identification(Family.SD1, True, "epsilon", "single-file", "test")
    loaded = load_pipeline(plain, identification, torch_dtype=torch.float32)
    assert type(loaded).__name__ == "StableDiffusionInpaintPipeline"
    assert torch.equal(loaded.unet.conv_in.weight, unet.conv_in.weight)
