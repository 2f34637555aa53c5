"""`prompt parse` / `prompt explain` through typer's CliRunner (the lead mounts prompt_app as `sfumato prompt`)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sfumato.cli.prompt import prompt_app


def test_parse_json_has_a1111_schedule_structure() -> None:
    result = CliRunner().invoke(prompt_app, ["parse", "--steps", "10", "--json",
                                             "a (red:1.2) [cat:dog:0.5] <lora:film:0.6> AND sky :0.5"])
    assert result.exit_code == 0, result.output
    (parsed,) = json.loads(result.output)
    assert parsed["stripped_prompt"] == "a (red:1.2) [cat:dog:0.5]  AND sky :0.5"
    assert parsed["adapters"] == [{"kind": "lora", "name": "film", "weight": 0.6}]
    first, second = parsed["sub_prompts"]
    assert second["weight"] == 0.5
    assert first["schedule"] == [[5, "a (red:1.2) cat", [["a ", 1.0], ["red", 1.2], [" cat", 1.0]]],
                                 [10, "a (red:1.2) dog", [["a ", 1.0], ["red", 1.2], [" dog", 1.0]]]]


def test_parse_text_and_error_exit() -> None:
    runner = CliRunner()
    assert "sub-prompt 1" in runner.invoke(prompt_app, ["parse", "a cat", "a dog++"]).output
    failed = runner.invoke(prompt_app, ["parse", "a (cat:1,2)"])
    assert failed.exit_code != 0 and "not a number" in str(failed.exception)


def test_explain_shows_chunks_and_weights() -> None:
    result = CliRunner().invoke(prompt_app, ["explain", "a (red:1.5) cat BREAK sky <lora:film:0.6>"])
    assert result.exit_code == 0, result.output
    assert "2 chunk(s)" in result.output and "red@1.5" in result.output and "<lora:film:0.6>" in result.output


def test_explain_on_the_embedded_model_shows_minilm_tokens_and_what_the_window_cuts() -> None:
    runner = CliRunner()
    short = runner.invoke(prompt_app, ["explain", "a (kitty:1.3), 3d style", "--model", "sfumato-emoji"])
    assert short.exit_code == 0, short.output
    assert "MiniLM reads 30 in one window" in short.output and "kitty@1.3" in short.output
    assert "not read" not in short.output
    long_prompt = "a cat face, " + ", ".join(f"word{n}" for n in range(20))
    long = runner.invoke(prompt_app, ["explain", long_prompt, "--model", "sfumato-emoji"])
    assert long.exit_code == 0, long.output
    assert "tokens past the window are not read" in long.output and "##19" in long.output.split("not read:")[1]
    # CLIP models still show 75-token chunks
    clip = runner.invoke(prompt_app, ["explain", "a kitty", "--model", "sfumato-tiny"])
    assert "chunk(s) of 75" in clip.output and "MiniLM" not in clip.output
