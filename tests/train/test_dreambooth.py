"""DreamBooth: class pictures made through the job queue into a library collection and reused by the next run;
the prior-preservation term is added to the loss with its weight."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image
from safetensors import safe_open

from sfumato.cli import main
from sfumato.models.families import Family
from sfumato.models.tiny import build_tiny_pipeline
from sfumato.settings import Settings
from sfumato.studio import Studio
from sfumato.train.lora.trainer import train_lora
from tests.train.lora_helpers import lora_plan, make_dataset, run_in


def _subject(folder: Path) -> Path:
    folder.mkdir()
    for i, colour in enumerate(("orange", "brown")):
        Image.new("RGB", (64, 64), colour).save(folder / f"{i}.png")  # no captions: the instance prompt is used
    return folder


def _class_files(home: Path) -> dict[str, int]:
    [folder] = (home / "library").glob("class-a-photo-of-cat-face-*")
    return {p.name: os.stat(p).st_mtime_ns for p in folder.glob("*.png")}


def test_class_pictures_are_made_through_the_queue_and_reused(tmp_path: Path, home: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    subject = _subject(tmp_path / "subject")
    args = ["train", "dreambooth", str(subject), "--token", "zkz", "--class-noun", "cat face", "--steps", "1",
            "--resolution", "32", "--rank", "4", "--sample-steps", "1"]
    assert main([*args, "--name", "first", "--class-images", "2"]) == 0, capsys.readouterr().err
    first = _class_files(home)
    assert len(first) == 2
    assert main([*args, "--name", "third", "--class-images", "3"]) == 0, capsys.readouterr().err
    third = _class_files(home)
    assert len(third) == 3 and first.items() <= third.items()  # the two reused untouched; only one more made
    studio = Studio.open(Settings(home=home))
    try:
        jobs = studio.jobs.list_jobs()
        assert sorted(j.recipe.batch_count for j in jobs) == [1, 2]
        assert {j.recipe.prompt for j in jobs} == {"a photo of cat face"} and all(j.state == "done" for j in jobs)
    finally:
        studio.close()
    with safe_open(str(home / "models" / "Lora" / "third.safetensors"), framework="pt") as file:
        metadata = file.metadata()
    assert metadata["ss_num_reg_images"] == "3" and metadata["ss_prior_loss_weight"] == "1.0"
    plan = json.loads(metadata["sfumato_training_plan"])
    assert (plan["instance_prompt"], plan["class_prompt"]) == ("a photo of zkz cat face", "a photo of cat face")
    assert json.loads(metadata["ss_tag_frequency"]) == {"subject": {"a photo of zkz cat face": 2}}


def test_prior_preservation_adds_its_weighted_loss(tmp_path: Path) -> None:
    dataset = make_dataset(tmp_path / "dataset")
    classes = make_dataset(tmp_path / "classes")
    losses = {}
    for weight in (0.0, 1.0, 2.0):
        plan = lora_plan(dataset, name=f"w{weight:g}", steps=1, class_data=classes, class_prompt="a shape",
                         prior_loss_weight=weight)
        train_lora(plan, pipe=build_tiny_pipeline(Family.SD1), run=run_in(tmp_path, plan.name), cpu=True)
        losses[weight] = json.loads((tmp_path / "runs" / plan.name / "log.jsonl").read_text())["loss"]
    prior = losses[1.0] - losses[0.0]  # step 1: same weights and draws, so only the prior term differs
    assert prior > 0
    assert losses[2.0] - losses[0.0] == pytest.approx(2 * prior, rel=1e-4)
