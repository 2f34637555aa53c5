"""Issue #8's whole loop on the embedded model, on a CPU: a style LoRA and a DreamBooth subject, each scored
before and after by `sfumato train eval` with a judge that knows the held-out style and subjects.

The data is what `sfumato data build-emoji DATA --holdouts` writes: the OpenMoji style and 20 subjects that the
embedded model's base training never saw. Every step is the product's own CLI, run as a person would run it,
in a throwaway sfumato home under WORK; wall times are recorded beside the scores.

    .venv/bin/python benchmarks/teaching_loop.py --data ./emoji-ds --work /tmp/loop \
        --out benchmarks/results/teaching_loop.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from recorded import report  # benchmarks/recorded.py, beside this script

SUBJECT = "croissant"  # a held-out subject (sfumato/train/emoji/holdouts.py)
SUBJECT_CLASS = "bread"  # a class the base model knows
TOKEN = "zkz"
STYLE_WORDS = "openmoji style"
# Base-set concepts drawn in the new style: the LoRA must carry the style to subjects it did see in OpenMoji.
STYLE_PROBES = ("cat face", "red apple", "rocket", "pizza", "house", "sun", "guitar", "penguin")


def sfumato(home: Path, *args: str) -> float:
    """Run one CLI command in the loop's home; its wall time in seconds."""
    env = {**os.environ, "SFUMATO_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("SFUMATO_DEFAULT_MODEL", None)
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "sfumato"), *args], env=env, check=True)
    return time.perf_counter() - started


def rows(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines() if line.strip()]


def copy_subset(source: Path, chosen: list[dict[str, Any]], dest: Path, *, captioned: bool = True) -> Path:
    """Pictures with their same-named .txt captions (the layout `train lora` reads), or without any."""
    dest.mkdir(parents=True, exist_ok=True)
    for index, row in enumerate(chosen):
        image = dest / f"{index:04d}.png"
        shutil.copyfile(source / row["file_name"], image)
        if captioned:
            image.with_suffix(".txt").write_text(row["text"], encoding="utf-8")
    return dest


def paraphrase_file(path: Path, entries: list[tuple[str, str]]) -> Path:
    path.write_text(json.dumps({"paraphrases": [{"prompt": p, "label": label} for p, label in entries]}))
    return path


def evaluate(home: Path, model: Path, judge_data: list[Path], out: Path, prompts: Path, judge_cache: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    for name in ("judge.safetensors", "judge.json"):  # one judge for every score: trained once
        if (judge_cache / name).is_file() and not (out / name).is_file():
            shutil.copyfile(judge_cache / name, out / name)
    args = ["train", "eval", str(model), "--out", str(out), "--paraphrases", str(prompts)]
    for folder in judge_data:
        args += ["--dataset", str(folder)]
    sfumato(home, *args)
    if not (judge_cache / "judge.json").is_file():
        judge_cache.mkdir(parents=True, exist_ok=True)
        for name in ("judge.safetensors", "judge.json"):
            shutil.copyfile(out / name, judge_cache / name)
    scores: dict = json.loads((out / "report.json").read_text())
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="build-emoji OUT (with --holdouts)")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--style-pictures", type=int, default=200)
    parser.add_argument("--lora-steps", type=int, default=1500)
    parser.add_argument("--dreambooth-steps", type=int, default=800)
    parser.add_argument("--out", type=Path, default=None, help="Append the result as a JSON line here.")
    args = parser.parse_args()
    work, home = args.work, args.work / "home"
    home.mkdir(parents=True, exist_ok=True)
    style_rows = rows(args.data / "openmoji-style")
    step = max(1, len(style_rows) // args.style_pictures)
    style_set = copy_subset(args.data / "openmoji-style", style_rows[::step][:args.style_pictures],
                            work / "openmoji-200")
    subject_rows = [r for r in rows(args.data / "holdout-concepts") if r["label"] == SUBJECT]
    # DreamBooth's pictures go uncaptioned, so they train on the instance prompt ("a photo of zkz bread") only.
    subject_set = copy_subset(args.data / "holdout-concepts", subject_rows, work / SUBJECT, captioned=False)
    judge_data = [args.data / "base", args.data / "openmoji-style", args.data / "holdout-concepts"]
    style_prompts = paraphrase_file(work / "style-prompts.json", [(f"{c}, {STYLE_WORDS}", c) for c in STYLE_PROBES])
    instance = f"a photo of {TOKEN} {SUBJECT_CLASS}"
    subject_prompts = paraphrase_file(work / "subject-prompts.json", [(instance, SUBJECT)])
    base_model = home.parent / "base-model.safetensors"
    from sfumato.models.library import EMBEDDED_MODEL_FILE

    shutil.copyfile(EMBEDDED_MODEL_FILE, base_model)
    judge_cache = work / "judge"
    result: dict[str, Any] = {"benchmark": "teaching_loop", "cpu": platform.processor() or platform.machine(),
                              "threads": os.environ.get("OMP_NUM_THREADS"), "style_pictures": len(style_rows[::step][:args.style_pictures]),
                              "subject_pictures": len(subject_rows), "subject": SUBJECT}
    result["lora_seconds"] = sfumato(home, "train", "lora", str(style_set), "--name", "openmoji", "--steps",
                                     str(args.lora_steps), "--batch", "8", "--lr", "5e-4", "--rank", "16",
                                     "--sample-prompt", f"a cat face, {STYLE_WORDS}", "--sample-every", "0")
    result["dreambooth_seconds"] = sfumato(home, "train", "dreambooth", str(subject_set), "--token", TOKEN,
                                           "--class-noun", SUBJECT_CLASS, "--name", "zkz", "--steps",
                                           str(args.dreambooth_steps), "--batch", "2", "--lr", "5e-4",
                                           "--class-images", "20")
    result["style_before"] = evaluate(home, base_model, judge_data, work / "eval-style-before", style_prompts, judge_cache)
    result["subject_before"] = evaluate(home, base_model, judge_data, work / "eval-subject-before", subject_prompts,
                                        judge_cache)
    checkpoints = home / "models" / "Stable-diffusion"
    sfumato(home, "models", "fuse", "sfumato-emoji", "--lora", "openmoji:1", "--name", "emoji-openmoji")
    sfumato(home, "models", "fuse", "sfumato-emoji", "--lora", "zkz:1", "--name", "emoji-zkz")
    result["style_after"] = evaluate(home, checkpoints / "emoji-openmoji.safetensors", judge_data,
                                     work / "eval-style-after", style_prompts, judge_cache)
    result["subject_after"] = evaluate(home, checkpoints / "emoji-zkz.safetensors", judge_data,
                                       work / "eval-subject-after", subject_prompts, judge_cache)
    report(result, args.out)


if __name__ == "__main__":
    main()
