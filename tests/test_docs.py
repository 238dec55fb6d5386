"""The documentation site: it builds strictly, every page is reachable, and what it shows is real.

The generated reference pages and the hook coverage are checked in
``test_docs_reference.py``; here, the hand-written pages are held to the code:
recipe snippets validate, the commands they show exist with the options they
use, the files they name exist, the recipe errors they quote are the ones
asrkit prints today, and the plugin guide repeats what ``asrkit list-plugins``
says about finding plugins.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml

from asrkit.cli import main
from asrkit.cli.plugins import FIND_MORE
from asrkit.errors import AsrkitError
from asrkit.recipe import TOP_LEVEL_KEYS, load_recipe, parse_recipe
from asrkit.registry import load_registry

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
# Files of the repository named in backticks; data/ holds downloads too, so only data/demo counts.
REPO_PATH = re.compile(r"`((?:asrkit|plugins|recipes|examples|bench|scripts|tests|docs|data/demo)(?:/[^`\s:<*]*)?)`")


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def code_blocks(language: str) -> Iterator[tuple[Path, str]]:
    for page in pages():
        for lang, body in FENCE.findall(page.read_text(encoding="utf-8")):
            if lang == language:
                yield page, body


def nav_files(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from nav_files(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from nav_files(value)


def test_site_builds_strictly(tmp_path):
    """Broken links or anchors, pages missing from the nav, missing snippet files: all fail the build."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "plugins" / "index.html").is_file()


def test_every_page_is_in_the_nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    in_nav = sorted(nav_files(config["nav"]))
    on_disk = sorted(str(p.relative_to(DOCS)) for p in pages())
    assert in_nav == on_disk


def test_plugin_guide_repeats_the_list_plugins_footer():
    guide = " ".join((DOCS / "plugins.md").read_text(encoding="utf-8").split())
    assert " ".join(FIND_MORE.split()) in guide
    example = tomllib.loads((ROOT / "examples" / "asrkit-plugin-example" / "pyproject.toml").read_text())
    project = example["project"]
    # The convention the footer tells users to search for is the one the example follows.
    assert "'asrkit-plugin'" in FIND_MORE and "asrkit-plugin" in project["keywords"]
    # PyPI refuses unregistered classifiers: there is no "Framework :: asrkit".
    assert "Framework :: asrkit" not in FIND_MORE and not any("asrkit" in c for c in project.get("classifiers", []))
    assert "asrkit" in example["project"]["entry-points"]


def recipe_snippets() -> list[tuple[str, dict]]:
    """YAML blocks of the docs made only of recipe sections, with an encoder added when they have none."""
    found = []
    for page, body in code_blocks("yaml"):
        data = yaml.safe_load(body)
        if isinstance(data, dict) and data and set(data) <= set(TOP_LEVEL_KEYS):
            found.append((f"{page.relative_to(DOCS)}: {body.splitlines()[0]}", {"encoder": "rescnn_bigru", **data}))
    return found


@pytest.mark.parametrize("snippet", recipe_snippets(), ids=lambda s: s[0])
def test_recipe_snippets_validate(snippet, asrkit_register_plugin, monkeypatch):
    _, data = snippet
    requires = data.pop("requires", [])
    if any(r.startswith("asrkit-plugin-example") for r in requires):
        monkeypatch.syspath_prepend(str(ROOT / "examples" / "asrkit-plugin-example" / "src"))
        import asrkit_plugin_example

        asrkit_register_plugin(asrkit_plugin_example, name="example", package="asrkit-plugin-example")
    parse_recipe(data, load_registry(autoload=False))


def test_there_are_recipe_snippets_to_check():
    assert len(recipe_snippets()) >= 5


def command_lines() -> Iterator[tuple[Path, str]]:
    """Shell commands of ``bash`` blocks, and the ``$ `` lines of ``console`` blocks, continuations joined."""
    for language in ("bash", "console"):
        for page, body in code_blocks(language):
            text = body.replace("\\\n", " ")
            for line in text.splitlines():
                if language == "console":
                    if not line.startswith("$ "):
                        continue
                    line = line[2:]
                yield page, line.strip()


def asrkit_invocations() -> list[tuple[str, list[str]]]:
    """Each ``asrkit ...`` call in the docs (also ``.venv/bin/asrkit`` and ``-m asrkit``), as arguments."""
    calls = []
    for page, line in command_lines():
        if "asrkit" not in line or line.startswith("#"):
            continue
        for command in re.split(r"&&|;|\|", line):
            tokens = shlex.split(command, comments=True)
            starts = [i for i, t in enumerate(tokens) if t == "asrkit" or t.endswith("/asrkit")]
            if starts:
                calls.append((f"{page.relative_to(DOCS)}: {command.strip()}", tokens[starts[0] + 1 :]))
    return calls


@pytest.mark.parametrize("call", asrkit_invocations(), ids=lambda c: c[0])
def test_documented_commands_exist_with_their_options(call):
    where, args = call
    command: click.Command = main
    path = ["asrkit"]
    while isinstance(command, click.Group) and args and args[0] in command.commands:
        command = command.commands[args[0]]
        path.append(args.pop(0))
    assert not isinstance(command, click.Group) or not args, f"{where}: no command {' '.join(path)} {args[0]}"
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    options |= {"--help", "-h"}
    for arg in args:
        if arg.startswith("-") and not arg.lstrip("-").replace(".", "").isdigit():
            assert arg.split("=")[0] in options, f"{where}: {' '.join(path)} has no option {arg}"


def test_there_are_commands_to_check():
    assert len(asrkit_invocations()) >= 20


def test_files_named_in_the_docs_exist():
    missing = [
        f"{page.relative_to(DOCS)}: {path}"
        for page in pages()
        for path in REPO_PATH.findall(page.read_text(encoding="utf-8"))
        if not (ROOT / path).exists()
    ]
    assert not missing


BASE_RECIPE = "data:\n  train: [{name: librispeech, root: data/demo, subset: train}]\nencoder: {name: rescnn_bigru}\n"
DOCUMENTED_ERRORS = [
    # (recipe file name, its text, overrides): each must give a message the docs show verbatim.
    ("typo.yaml", "encoder: {name: rescnn_bigur}\n", []),
    ("param.yaml", "encoder: {name: rescnn_bigru, rnn_dims: 256}\n", []),
    ("good.yaml", BASE_RECIPE, ["data.train.0.subst=x"]),
    ("section.yaml", "encoder: {name: rescnn_bigru}\ntrian: {epochs: 3}\n", []),
    ("good.yaml", BASE_RECIPE, ['train.epochs="3"']),
    ("good.yaml", BASE_RECIPE, ["train.optimizer.lr=fast"]),
    ("good.yaml", BASE_RECIPE, ["train.epochs=1e3"]),
    ("good.yaml", BASE_RECIPE, ["augmenters.0.time_masks=2"]),
    ("good.yaml", BASE_RECIPE, ["train.precision=fp8"]),
    ("missing.yaml", "data:\n  train: [{name: manifest}]\nencoder: {name: rescnn_bigru}\n", []),
    ("yamlerr.yaml", "encoder:\n  name: rescnn_bigru\n   rnn_dim: 256\n", []),
    ("req.yaml", "requires: [asrkit-plugin-example>=0.1]\nencoder: {name: rescnn_bigru}\n", []),
    ("evil.yaml", 'encoder: !!python/object/apply:os.system ["echo pwned"]\n', []),
    ("good.yaml", BASE_RECIPE, ["encoder.name=my_pkg.MyEncoder"]),
]


@pytest.mark.parametrize(("filename", "text", "overrides"), DOCUMENTED_ERRORS)
def test_documented_recipe_errors_are_current(filename, text, overrides, tmp_path, monkeypatch):
    """The error messages the docs quote are what `asrkit recipe validate` prints today."""
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        if name == "asrkit-plugin-example":  # as on a machine without the example installed
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    monkeypatch.chdir(tmp_path)
    (tmp_path / filename).write_text(text)
    with pytest.raises(AsrkitError) as caught:
        load_recipe(filename, overrides, load_registry(autoload=False))
    message = f"error: {caught.value}"
    docs = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "recipes.md", DOCS / "troubleshooting.md"))
    assert message in docs or f"`{caught.value!s}`" in docs, f"the docs should show: {message}"


def test_ci_runs_the_readme_test_command(repo_root):
    """CI must install and test exactly as a new user does, so that a green CI means the README works."""
    readme = (repo_root / "README.md").read_text()
    blocks = readme.split("```bash\n")[1:3]
    test_command = blocks[1].split("\n```")[0].strip()
    assert "pytest" in test_command
    ci = (repo_root / ".ci" / "run").read_text().splitlines()
    assert test_command in ci
