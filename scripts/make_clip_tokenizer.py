"""Build the CLIP BPE tokenizer files shipped in `sfumato/models/tokenizers/` from open_clip's BPE list.

Input: `open_clip/bpe_simple_vocab_16e6.txt.gz` from the `open_clip_torch==3.3.0` wheel (MIT), fetched with
`pip download --no-deps open_clip_torch==3.3.0 -d /tmp/oc` and `unzip -j` of that one file; the package itself
is never installed (it depends on torchvision). Output: `clip/` (SD1 and SDXL's first tokenizer, pads with
`<|endoftext|>`) and `clip-pad0/` (SD2 and SDXL's `tokenizer_2`, which pad with `!`, id 0, as OpenCLIP does).

    python scripts/make_clip_tokenizer.py /tmp/oc/bpe_simple_vocab_16e6.txt.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
# CLIP's vocabulary is 49408 = 256 bytes + 256 bytes with `</w>` + 48894 merges + 2 specials, so only the first
# 48894 merges of the 16e6 list are used (line 0 is the "#version" header), as OpenAI's `simple_tokenizer.py` does.
N_MERGES = 49408 - 256 - 256 - 2
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "sfumato" / "models" / "tokenizers"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table: printable bytes map to themselves."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {byte: chr(char) for byte, char in zip(printable, chars)}


def build_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    """Token -> id in CLIP's order: bytes, bytes + `</w>`, one token per merge, then bos and eos."""
    base = list(bytes_to_unicode().values())
    tokens = [*base, *(b + "</w>" for b in base), *("".join(m) for m in merges), BOS, EOS]
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != len(tokens):  # tokenizers' BPE refuses a vocab with duplicate entries
        raise SystemExit(f"vocab has duplicate tokens: {len(tokens)} tokens, {len(vocab)} unique")
    return vocab


def tokenizer_config(pad_token: str) -> dict[str, object]:
    """The tokenizer_config.json diffusers' SD repos ship, with the given pad token."""
    return {
        "tokenizer_class": "CLIPTokenizer",
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "pad_token": pad_token,
        "model_max_length": 77,
        "do_lower_case": True,
        "errors": "replace",
        "add_prefix_space": False,
    }


def write_folder(folder: Path, vocab: dict[str, int], merges: list[tuple[str, str]], pad_token: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2", *(f"{a} {b}" for a, b in merges)]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = tokenizer_config(pad_token)
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    special = {k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token")}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bpe", type=Path, help="bpe_simple_vocab_16e6.txt.gz from the open_clip_torch wheel")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    args = parser.parse_args()
    with gzip.open(args.bpe, "rt", encoding="utf-8") as bpe:
        lines = bpe.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : N_MERGES + 1]]
    if len(merges) != N_MERGES or any(len(m) != 2 for m in merges):
        raise SystemExit(f"{args.bpe}: expected {N_MERGES} merge lines of two symbols each")
    vocab = build_vocab(merges)  # type: ignore[arg-type]
    # SD2 and SDXL's second tokenizer pad with "!" (id 0); transformers reads vocab files only from the
    # tokenizer's own folder, so each variant carries its own copy.
    write_folder(args.out / "clip", vocab, merges, EOS)  # type: ignore[arg-type]
    write_folder(args.out / "clip-pad0", vocab, merges, "!")  # type: ignore[arg-type]
    print(f"wrote {len(vocab)} tokens and {len(merges)} merges to {args.out}/clip and {args.out}/clip-pad0")


if __name__ == "__main__":
    main()
