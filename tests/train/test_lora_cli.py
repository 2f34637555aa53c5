"""`sfumato train lora` and `sfumato train status` end to end on the built-in tiny model: the LoRA lands in the
library's Lora folder, samples land in the catalog naming the adapter, bad plans fail before training."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from sfumato.cli import main
from sfumato.models.library import ModelKind
from sfumato.settings import Settings
from sfumato.studio import Studio


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "dataset" / "3_zkz"
    root.mkdir(parents=True)
    Image.new("RGB", (96, 64), "red").save(root / "0.png")
    Image.new("RGBA", (96, 64), (0, 255, 0, 128)).save(root / "1.png")  # a warning (alpha), converted, not refused
    (root / "0.txt").write_text("zkz, red")
    return root.parent


def test_train_lora_end_to_end(dataset: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "lora", str(dataset), "--name", "zkz", "--steps", "2", "--rank", "4", "--resolution", "32",
                 "--sample-prompt", "zkz, red", "--sample-seed", "3", "--sample-every", "1", "--sample-steps", "2", "--lr", "1e-3"])
    assert code == 0, capsys.readouterr().err
    lora = home / "models" / "Lora" / "zkz.safetensors"
    assert f"lora: {lora}" in capsys.readouterr().out
    studio = Studio.open(Settings(home=home))
    try:
        assert studio.library.find("zkz", ModelKind.LORA, with_hashes=False).path == lora  # <lora:zkz:w> finds it
    finally:
        studio.close()
    pictures = sorted((home / "library" / "lora-zkz").glob("*.png"))
    assert len(pictures) == 2  # step 1 and the end (step 2)
    assert main(["info", str(pictures[0]), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert "zkz" in json.dumps(info)
    assert main(["train", "status", "--json"]) == 0
    [status] = json.loads(capsys.readouterr().out)
    assert (status["name"], status["state"], status["step"], status["output"]) == ("zkz", "finished", 2, str(lora))
    assert main(["train", "status", "zkz"]) == 0
    assert "zkz: finished, step 2/2" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--resume"], 2, "no run named"),
    (["--optimizer", "adamw8bit"], 2, "bitsandbytes"),
    (["--base", "no-such-model"], 3, "no-such-model"),
    (["--lr-scheduler", "sometimes"], 2, "lr_scheduler"),
    (["--name", "../escape"], 2, "name"),
])
def test_bad_plans_fail_before_training(dataset: Path, home: Path, capsys: pytest.CaptureFixture[str],
                                        args: list[str], code: int, message: str) -> None:
    base = ["train", "lora", str(dataset), "--name", "x", "--steps", "1", "--resolution", "32"]
    assert main([*base, *args]) == code
    assert message in " ".join(capsys.readouterr().err.split())
    assert not (home / "models" / "Lora" / "x.safetensors").exists()


def test_status_tells_a_dead_run_from_a_running_one(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sfumato.train.lora.run import write_status

    for name in ("alive", "dead"):
        (home / "training" / name).mkdir(parents=True)
        write_status(home / "training" / name, state="running", step=3, steps=10)
    status = home / "training" / "dead" / "status.json"
    status.write_text(status.read_text().replace(f'"pid": {os.getpid()}', '"pid": 999999999'))
    assert main(["train", "status", "--json"]) == 0
    states = {row["name"]: row["state"] for row in json.loads(capsys.readouterr().out)}
    assert states == {"alive": "running", "dead": "interrupted"}
    assert main(["train", "status", "nothing-here"]) == 2
