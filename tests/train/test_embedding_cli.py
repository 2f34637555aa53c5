"""`sfumato train embedding` end to end on the built-in tiny model: the file lands in <home>/embeddings, a prompt
with the token uses it at once (the picture records it in its TI hashes), samples land in the run's collection."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image

from sfumato.cli import main


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "dataset"
    root.mkdir()
    Image.new("RGB", (64, 64), "red").save(root / "0.png")
    Image.new("RGB", (64, 48), "blue").save(root / "1.png")
    (root / "0.txt").write_text("a red square")  # 1.png has no caption: a warning, [filewords] is empty
    return root


def test_train_embedding_then_generate_with_the_token(dataset: Path, home: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "embedding", str(dataset), "--token", "zkz", "--vectors", "2", "--init-word", "red",
                 "--steps", "2", "--resolution", "32", "--min-image-size", "32", "--sample-every", "1",
                 "--sample-steps", "2"])
    assert code == 0, capsys.readouterr().err
    embedding = home / "embeddings" / "zkz.safetensors"
    assert f"embedding: {embedding}" in capsys.readouterr().out
    pictures = sorted((home / "library" / "embedding-zkz").glob("*.png"))
    assert len(pictures) == 2  # the default sample prompt ("a photo of a zkz") at step 1 and at the end
    assert main(["train", "status", "embedding-zkz"]) == 0
    status = capsys.readouterr().out
    assert "embedding-zkz: finished, step 2/2" in status and "(embedding)" in status  # the kind, from plan.json

    assert main(["generate", "a photo of zkz", "--seed", "1", "--steps", "2", "--size", "64x64"]) == 0
    (path,) = [Path(line) for line in capsys.readouterr().out.splitlines()]
    short_hash = hashlib.sha256(embedding.read_bytes()).hexdigest()[:12]
    with Image.open(path) as image:
        assert f'TI hashes: "zkz: {short_hash}"' in image.text["parameters"]


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--resume"], 2, "no run named 'embedding-x'"),
    (["--template", "no-such-template"], 2, "neither a built-in template"),
    (["--base", "no-such-model"], 3, "no-such-model"),
    (["--vectors", "0"], 2, "vectors"),
])
def test_bad_plans_fail_before_training(dataset: Path, home: Path, capsys: pytest.CaptureFixture[str],
                                        args: list[str], code: int, message: str) -> None:
    assert main(["train", "embedding", str(dataset), "--token", "x", "--steps", "1", "--resolution", "32",
                 "--min-image-size", "32", *args]) == code
    assert message in " ".join(capsys.readouterr().err.split())
    assert not (home / "embeddings" / "x.safetensors").exists()


def test_an_embedding_of_that_name_from_elsewhere_is_not_overwritten(dataset: Path, home: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (home / "embeddings").mkdir(parents=True)
    (home / "embeddings" / "x.safetensors").write_bytes(b"downloaded")
    assert main(["train", "embedding", str(dataset), "--token", "x", "--steps", "1"]) == 2
    assert "already exists" in " ".join(capsys.readouterr().err.split())
    assert (home / "embeddings" / "x.safetensors").read_bytes() == b"downloaded"
