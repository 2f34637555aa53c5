"""Training runs in the native API and the web studio's queue (issue #8 item 5): a real tiny LoRA run, finished,
and a running DreamBooth run written by the trainer's own run-folder writers, resumed once (the ETA uses the
latest session's step rate). Screenshot in test-artifacts/ (look at it)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from sfumato.cli import main
from sfumato.settings import Settings
from sfumato.train.base.reporting import append_log
from sfumato.train.lora.plan import make_plan, read_plan
from sfumato.train.lora.run import start_run, write_status
from sfumato.train.runs import run_kind
from tests.server.live import LiveServer, serve_in_thread
from tests.server.test_web_studio import page  # noqa: F401 (the Chromium page fixture)


def _running_dreambooth(home: Path) -> None:
    """A run at step 4 of 10: 3 slow steps (4 s each), stopped, resumed from its step-2 checkpoint at 0.5 s a step."""
    finished = read_plan(home / "training" / "owls" / "plan.json").to_json()
    plan = make_plan({**finished, "name": "zkz-man", "steps": 10, "instance_prompt": "a photo of zkz man"})
    folder = home / "training" / "zkz-man"
    start_run(folder, plan, resume=False)
    write_status(folder, state="running", step=0, steps=10)
    for step, seconds, loss in ((1, 4.0, 0.9), (2, 8.0, 0.8), (3, 12.0, 0.7), (3, 0.5, 0.6), (4, 1.0, 0.5)):
        append_log(folder, {"phase": "lora", "step": step, "loss": loss, "lr": 1e-4, "seconds": seconds})
    with (folder / "log.jsonl").open("a", encoding="utf-8") as log:
        log.write('{"phase": "lora", "step": 5, "lo')  # the trainer is writing this line right now


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A home with a real 2-step LoRA run on the tiny model and a running DreamBooth run; a server without a worker."""
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("trainings")
    home, dataset = root / "home", root / "dataset" / "2_owl"
    dataset.mkdir(parents=True)
    for index, colour in enumerate(("red", "blue")):
        Image.new("RGB", (64, 64), colour).save(dataset / f"{index}.png")
        (dataset / f"{index}.txt").write_text(f"owl, {colour}")
    code = main(["--home", str(home), "train", "lora", str(dataset.parent), "--name", "owls", "--steps", "2",
                 "--rank", "2", "--resolution", "32", "--sample-steps", "1"])
    assert code == 0
    _running_dreambooth(home)
    for url in serve_in_thread(Settings(home=home), run_jobs=False):
        yield LiveServer(url, home)


def test_the_api_lists_finished_and_running_trainings(trained: LiveServer) -> None:
    with trained.client() as client:
        response = client.get("/api/trainings")
        schema = client.get("/openapi.json").json()
    assert response.status_code == 200, response.text
    runs = {run["name"]: run for run in response.json()}
    assert [run["name"] for run in response.json()] == ["zkz-man", "owls"]  # most recently updated first

    owls = runs["owls"]
    assert (owls["kind"], owls["state"], owls["step"], owls["steps"], owls["eta_s"]) == ("lora", "finished", 2, 2, None)
    assert owls["output"] == str(trained.home / "models" / "Lora" / "owls.safetensors")
    assert Path(owls["output"]).is_file()
    log = [json.loads(line) for line in (trained.home / "training" / "owls" / "log.jsonl").read_text().splitlines()]
    assert owls["last_loss"] == pytest.approx(log[-1]["loss"])
    assert datetime.fromisoformat(owls["started_at"]) <= datetime.fromisoformat(owls["updated_at"])

    zkz = runs["zkz-man"]
    # The step comes from the log (status.json still says 0), the loss from its last whole line, and the ETA from
    # the resumed session alone: 0.5 s a step x 6 steps left (the first session's 4 s a step would say 24 s).
    assert (zkz["kind"], zkz["state"], zkz["step"], zkz["steps"]) == ("dreambooth", "running", 4, 10)
    assert (zkz["last_loss"], zkz["eta_s"], zkz["output"]) == (0.5, 3.0, None)

    operation = schema["paths"]["/api/trainings"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["items"] == {
        "$ref": "#/components/schemas/Training"}
    assert {"kind", "state", "eta_s", "started_at"} <= set(schema["components"]["schemas"]["Training"]["properties"])


def test_train_status_shows_the_same_runs(trained: LiveServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(trained.home), "train", "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "zkz-man: running, step 4/10, loss 0.5000, about 3 s left (dreambooth)"
    assert lines[1].startswith("owls: finished, step 2/2, loss ") and "(lora)" in lines[1]


@pytest.mark.parametrize(("plan", "kind"), [
    ({"kind": "embedding", "token": "zkz"}, "embedding"),
    ({"name": "x", "instance_prompt": "a photo of zkz man"}, "dreambooth"),
    ({"name": "x", "instance_prompt": ""}, "lora"),
    ({}, "lora"),
])
def test_run_kind_from_the_plan(plan: dict[str, str], kind: str) -> None:
    assert run_kind(plan) == kind


def test_the_queue_view_lists_trainings(trained: LiveServer, page, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    page.goto(trained.url + "/")
    page.get_by_role("button", name="Queue").click()
    row = page.locator("#trainings-table tbody tr", has_text="zkz-man")
    row.wait_for()
    cells = [row.locator("td").nth(i).inner_text() for i in range(6)]
    assert cells == ["zkz-man", "dreambooth", "running", "4/10 (40%)", "0.5000", "about 3 s"]
    owls = page.locator("#trainings-table tbody tr", has_text="owls")
    assert owls.locator("td").nth(2).inner_text() == "finished"
    assert owls.locator("td").last.inner_text() == "owls.safetensors"
    page.screenshot(path=str(artifacts_dir / "web-queue-trainings.png"))

    # The list refreshes like the job list: a run that starts while the view is open shows up by itself.
    late = trained.home / "training" / "late"
    try:
        late.mkdir()
        write_status(late, state="running", step=0, steps=8)
        page.locator("#trainings-table tbody tr", has_text="late").wait_for()
    finally:
        shutil.rmtree(late)
