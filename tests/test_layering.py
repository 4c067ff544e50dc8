"""The package layout holds: no module imports a package above its own, the framework-neutral
modules import neither JAX nor torch, and each piece of glue has one home that both frameworks
read (docs/architecture.md describes the layers)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Lowest first; a module may import its own package and any package of a lower rank.
RANKS: dict[str, int] = {
    "jaxcnn.runtime": 0,
    "jaxcnn.data": 0,
    "jaxcnn.conv": 1,
    "jaxcnn.net": 2,
    "jaxcnn.training": 3,
    "torch_ref": 3,  # the PyTorch twin of jaxcnn.net + jaxcnn.training's trainer
    "jaxcnn.studies": 4,
    "jaxcnn.parity": 4,
    "jaxcnn.bench": 5,
    "jaxcnn.devcheck": 5,
    "jaxcnn.labs": 5,
    "jaxcnn.cli": 6,
    "jaxcnn.cli.args": 0,  # argparse value types, shared by every command line (a leaf)
}
# What torch_ref may use from jaxcnn: the framework-neutral modules only.
NEUTRAL = ("jaxcnn.data", "jaxcnn.net.options", "jaxcnn.net.shapes", "jaxcnn.training.protocol",
           "jaxcnn.training.recipes")
JAX_LIBRARIES = ("jax", "jaxlib", "flax", "optax", "orbax")


def package_of(module: str) -> str | None:
    """The ranked package holding ``module`` (None: the top-level ``jaxcnn`` facade)."""
    for package in sorted(RANKS, key=len, reverse=True):
        if module == package or module.startswith(package + "."):
            return package
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of the file (function bodies included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


SOURCES = sorted([*(REPO_ROOT / "jaxcnn").rglob("*.py"), *(REPO_ROOT / "torch_ref").rglob("*.py")])


def test_every_package_has_a_rank() -> None:
    packages = {module_name(p) for p in SOURCES if p.name == "__init__.py"}
    unranked = sorted(p for p in packages if p != "jaxcnn" and package_of(p) is None)
    assert not unranked


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_module_imports_a_package_above_its_own(path: Path) -> None:
    own = package_of(module_name(path))
    if own is None:
        return  # jaxcnn/__init__.py: the public names, loaded lazily from below
    upward = sorted(
        target for target in imports_of(path)
        if (theirs := package_of(target)) is not None and RANKS[theirs] > RANKS[own])
    assert not upward, f"{module_name(path)} ({own}) imports {upward}"


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "torch_ref").rglob("*.py")),
                         ids=lambda p: p.name)
def test_torch_ref_uses_only_the_neutral_jaxcnn_modules(path: Path) -> None:
    used = {t for t in imports_of(path) if t == "jaxcnn" or t.startswith("jaxcnn.")}
    outside = sorted(t for t in used
                     if not any(t == n or t.startswith(n + ".") for n in NEUTRAL))
    assert not outside
    assert not {t for t in imports_of(path) if t.split(".")[0] in JAX_LIBRARIES}


def _loaded_after(statement: str) -> set[str]:
    """Top-level modules in ``sys.modules`` after ``statement`` in a fresh interpreter."""
    names = "' '.join(sorted({m.split('.')[0] for m in sys.modules}))"
    code = f"import sys\n{statement}\nprint({names})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO_ROOT, check=True, timeout=300)
    return set(result.stdout.split())


@pytest.mark.parametrize("path", [*SOURCES, *sorted((REPO_ROOT / "scripts").glob("*.py")),
                                  *sorted((REPO_ROOT / "tests").rglob("*.py"))],
                         ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_module_edits_sys_path(path: Path) -> None:
    """Everything imports through the installed package: no ``sys.path`` surgery."""
    edits = [node.lineno for node in ast.walk(ast.parse(path.read_text(), str(path)))
             if isinstance(node, ast.Attribute) and node.attr == "path"
             and isinstance(node.value, ast.Name) and node.value.id == "sys"]
    assert not edits, f"{path.name} uses sys.path at lines {edits}"


def test_import_jaxcnn_data_loads_neither_flax_nor_torch() -> None:
    loaded = _loaded_after("import jaxcnn.data")
    assert not loaded & {"flax", "jax", "torch", "optax"}


def test_the_train_command_loads_what_its_first_step_needs() -> None:
    """Start-up ends at the first training step: plotting (the report), checkpointing (after
    epoch 1), torch and the studies' statistics load later, when used."""
    loaded = _loaded_after("import jaxcnn.cli.train")
    assert {"jax", "flax", "optax"} <= loaded
    assert not loaded & {"matplotlib", "orbax", "torch", "scipy"}


def test_the_neutral_seam_and_torch_ref_load_no_jax() -> None:
    loaded = _loaded_after("import jaxcnn.training.protocol, jaxcnn.training.recipes, "
                           "torch_ref, torch_ref.train")
    assert "torch" in loaded
    assert not loaded & set(JAX_LIBRARIES)


def test_architectures_are_registered_once_and_read_by_every_table() -> None:
    import torch_ref.models
    from jaxcnn.net import models
    from jaxcnn.net.options import ARCHITECTURES, OPTIONS
    from jaxcnn.training.recipes import RECIPES

    assert ARCHITECTURES == tuple(OPTIONS)
    assert models.MODELS.names == torch_ref.models.MODELS.names == ARCHITECTURES
    assert tuple(RECIPES) == ARCHITECTURES


def test_loss_and_optimizer_names_have_one_home() -> None:
    import torch_ref.train
    from jaxcnn.training import losses, optim
    from jaxcnn.training.recipes import LOSSES, OPTIMIZERS, get_recipe

    assert tuple(torch_ref.train.LOSSES) == LOSSES
    assert all(callable(losses.get_loss(name)) for name in LOSSES)
    for name in OPTIMIZERS:
        recipe = get_recipe("lenet").replace(optimizer=name)
        assert optim.make_optimizer(recipe) is not None
        parameters = torch_ref.create_model("lenet").parameters()
        assert torch_ref.train.make_optimizer(recipe, parameters) is not None
