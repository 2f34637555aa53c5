"""Architecture contracts: import layers, torch-free edges, module docstrings, documented CLI commands."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sfumato"


def test_import_layers_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is a test dependency: scripts/setup --test installs it"
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module", ["sfumato.cli", "sfumato.studio", "sfumato.recipe", "sfumato.catalog"])
def test_edges_do_not_import_torch(module: str) -> None:
    code = f"import {module}, sys; heavy = {{'torch', 'diffusers', 'transformers'}} & set(sys.modules); " \
           "assert not heavy, heavy"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_every_module_opens_with_a_docstring() -> None:
    missing = [
        str(path.relative_to(ROOT)) for path in PACKAGE.rglob("*.py")
        if ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None
    ]
    assert not missing, f"modules without a docstring: {missing}"


def _command_paths() -> list[str]:
    import typer.main

    from sfumato.cli import app

    group = typer.main.get_command(app)
    paths: list[str] = []

    def walk(command: object, prefix: str) -> None:
        children = getattr(command, "commands", None)
        if not children:
            paths.append(prefix.strip())
            return
        for name, child in children.items():
            walk(child, f"{prefix} {name}")

    walk(group, "")
    return paths


def test_every_cli_command_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    undocumented = []
    for path in _command_paths():
        words = path.split()
        if f"sfumato {path}" in readme:
            continue
        # 'sfumato models list | scan | show' documents a group's commands on one line
        if not any(line.strip().startswith(f"sfumato {words[0]}") and words[-1] in line
                   for line in readme.splitlines()):
            undocumented.append(path)
    assert not undocumented, f"CLI commands missing from README.md: {undocumented}"


STRICT_MODULES = (
    "sfumato/recipe.py", "sfumato/errors.py", "sfumato/catalog", "sfumato/studio.py", "sfumato/sampler_names.py",
    "sfumato/infotext.py", "sfumato/infotext_image.py", "sfumato/infotext_adapters.py", "sfumato/picture_file.py", "sfumato/comfyui_graph.py", "sfumato/atomic_write.py", "sfumato/settings.py",
)


def test_light_modules_pass_mypy_strict() -> None:
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    assert mypy is not None, "mypy is a test dependency: scripts/setup --test installs it"
    # follow-imports=silent: the engine's diffusers-typed modules are checked by the tests, not by strict mypy.
    result = subprocess.run([mypy, "--strict", "--follow-imports=silent", "--no-incremental", *STRICT_MODULES],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
