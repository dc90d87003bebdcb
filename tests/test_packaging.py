"""What a new user reads first is true: the install lines name only what exists, the metadata
declares every distribution the package imports, the LICENSE is the one the metadata names, and
publishing is one tag away (the release workflow). The wheel ships what `runbooks` needs outside
a clone (the notebooks), built from a copy of the sources, as pip builds it."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest
from conftest import ROOT, clean_subprocess_env

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
DIST = PYPROJECT["project"]["name"]
#: Where the project lives: the repository every `git clone` line on the site names.
REPO = "https://github.com/claude-code-runbooks/runbooks"
#: Third-party tools the install lines may name: published, and not ours.
PUBLISHED_TOOLS = {"pipx", "uv"}
#: How a line that installs the distribution by name says that it is for a release to come.
NOT_YET = "not published yet"


# -- the install lines ----------------------------------------------------------------------------
_INSTALL = re.compile(r"(?:^|\s|[\\/])(?:pipx|pip|uv tool|uv pip) install(?=\s)")
_IN_WORDS = r"(?:pipx|pip|uv tool|uv pip) install(?: +-\S+)* +[^\s,;)]+"
_FENCE = re.compile(r"^([ \t]*)(```|~~~)[^\n]*\n(.*?)^\1\2", re.MULTILINE | re.DOTALL)


def install_commands(markdown: str) -> list[tuple[str, str]]:
    """Every install command in ``markdown``: (the command, the text that says what it is for:
    its own line in a code block, its paragraph in prose)."""
    out = []
    for m in _FENCE.finditer(markdown):
        for line in m.group(3).splitlines():
            hash_ = re.search(r"(?:^|\s)#", line)
            code, comment = (line[:hash_.start()], line[hash_.end():]) if hash_ else (line, "")
            out += [(part.strip(), line) for part in re.split(r"&&|;|\|", code)
                    if _INSTALL.search(" " + part)]
            # a comment a reader copies from ("# or: pip install …") counts too
            out += [(c, line) for c in re.findall(_IN_WORDS, comment)]
    prose = _FENCE.sub("", markdown)
    for paragraph in re.split(r"\n[ \t]*\n", prose):
        for span in re.findall(r"`([^`\n]+)`", paragraph):
            out += [(part.strip(), paragraph) for part in re.split(r"&&|;|\|", span)
                    if _INSTALL.search(" " + part)]
    return out


def install_targets(command: str) -> list[str]:
    """What ``command`` installs: its arguments after ``install`` that are not options."""
    words = [w.strip("'\"") for w in command.split()]
    rest = words[words.index("install") + 1:]
    return [w for w in rest if not w.startswith("-")]


def exists(target: str) -> bool:
    """A target a reader can install today: from git, a path (a clone, a folder) or a wheel,
    or a published tool that is not ours."""
    if target.startswith("git+"):
        return True
    if target.endswith(".whl") or target.startswith((".", "/", "~")) or re.search(r"[/\\]",
                                                                                    target):
        return True
    name = re.split(r"[\[<>=!~;@ ]", target, maxsplit=1)[0].lower()
    return name in PUBLISHED_TOOLS


def test_the_install_finder_reads_code_comments_and_prose():
    md = ("```bash\npipx install git+https://x/y   # or: pip install claude-code-runbooks\n"
          "py -3 -m venv .venv && .venv\\Scripts\\pip install -e .[test] && runbooks\n"
          "# uv tool install ./dist/x.whl, on another machine\n```\n\n"
          "Or `uv tool install claude-code-runbooks`, once it is on PyPI.\n\n"
          "Not published yet: `pip install claude-code-runbooks`.\n")
    found = install_commands(md)
    assert [c for c, _ in found] == [
        "pipx install git+https://x/y", "pip install claude-code-runbooks",
        ".venv\\Scripts\\pip install -e .[test]", "uv tool install ./dist/x.whl",
        "uv tool install claude-code-runbooks", "pip install claude-code-runbooks"]
    targets = [t for c, _ in found for t in install_targets(c)]
    assert targets == ["git+https://x/y", DIST, ".[test]", "./dist/x.whl", DIST, DIST]
    assert [exists(t) for t in targets] == [True, False, True, True, False, False]
    assert NOT_YET in found[-1][1].lower() and NOT_YET not in found[-2][1].lower()
    assert exists("pipx") and exists("dist/claude_code_runbooks-0.1.0-py3-none-any.whl")


@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_install_lines_name_only_what_exists(page):
    """An install line installs from the repository (git+, a clone, a wheel); one that names
    the distribution as if it were on PyPI says that it is not published yet."""
    text = (ROOT / page).read_text(encoding="utf-8")
    commands = install_commands(text)
    assert commands, f"{page} shows no install command"
    wrong = [command for command, context in commands for target in install_targets(command)
             if not exists(target) and NOT_YET not in context.lower()]
    assert not wrong, f"{page}: these install what is not published: {wrong}"
    from_git = [c for c, _ in commands if f"git+{REPO}" in c]
    assert any(c.startswith("pipx install") for c in from_git), f"{page}: no pipx install git+"
    assert any(c.startswith("uv tool install") for c in from_git), f"{page}: no uv tool install"


@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_the_repository_named_is_the_one_cloned(page):
    """The git+ URL and the `git clone` line name the same repository."""
    text = (ROOT / page).read_text(encoding="utf-8")
    urls = set(re.findall(r"git\+(https://[^\s`@#]+)", text))
    urls |= set(re.findall(r"git clone (https://\S+)", text))
    assert urls == {REPO}, urls


# -- the metadata: dependencies, licence ----------------------------------------------------------
def _requirement_name(req: str) -> str:
    return _normal(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req).group(0))


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports() -> dict[str, set[str]]:
    """Top-level names of the modules runbooks/ imports that are neither the standard library
    nor runbooks itself, anywhere in a module (functions import lazily): name → files."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "runbooks").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("runbooks", "__future__"):
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_a_declared_dependency():
    """A module the package imports comes from a distribution in [project].dependencies, not
    from whatever another dependency happens to pull in (cryptography came through trustme)."""
    from importlib.metadata import packages_distributions

    declared = {_requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    dists = packages_distributions()
    imports = third_party_imports()
    assert "cryptography" in imports and "httpx" in imports  # the walk finds lazy imports
    missing = {}
    for module, files in sorted(imports.items()):
        provided = {_normal(d) for d in dists.get(module, [])}
        assert provided, f"{module} (imported by {sorted(files)}) is not installed here"
        if not provided & declared:
            missing[module] = sorted(files)
    assert not missing, f"imported but not declared in pyproject's dependencies: {missing}"


#: The MIT licence's text after its copyright line, as opensource.org/license/mit gives it.
MIT_TERMS = """
Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def _words(text: str) -> list[str]:
    return text.split()


def test_the_license_file_is_the_license_the_metadata_names():
    lic = PYPROJECT["project"].get("license")
    spdx = lic if isinstance(lic, str) else (lic or {}).get("text")
    assert spdx == "MIT", f"pyproject's license is {lic!r}"
    path = ROOT / "LICENSE"
    assert path.is_file(), "the metadata promises a licence: LICENSE is missing"
    text = path.read_text(encoding="utf-8")
    first, copyright_line = [line for line in text.splitlines() if line.strip()][:2]
    assert first == "MIT License"
    assert re.fullmatch(r"Copyright \(c\) \d{4}(-\d{4})? .+", copyright_line), copyright_line
    assert _words(text.split(copyright_line, 1)[1]) == _words(MIT_TERMS)
    assert "LICENSE" in PYPROJECT["project"].get("license-files", []), (
        "the wheel and sdist carry LICENSE only if license-files names it")


# -- the wheel ------------------------------------------------------------------------------------
def test_the_wheel_ships_what_runbooks_needs_outside_a_clone(tmp_path):
    """Built by pip from a copy of the sources, with pyproject's build backend: the notebooks
    (`runbooks run` reads them from the package), the LICENSE, the command, the dependencies."""
    from importlib.metadata import version

    backend = version("setuptools")
    if int(backend.split(".")[0]) < 77:
        pytest.fail(f"setuptools {backend} cannot build this pyproject: install the test "
                    "extra (`make`, or pip install -e '.[test]')")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("runbooks", "notebooks"):
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    # the backend installed with the test extra: nothing is fetched (tests stay on loopback)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index",
                           "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(src)],
                          capture_output=True, text=True, timeout=110,
                          env=clean_subprocess_env(), check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = z.read(meta_name).decode()
        entry = z.read(meta_name.replace("METADATA", "entry_points.txt")).decode()
    notebooks = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert {f"runbooks/notebooks/{n}" for n in notebooks} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)[-8:]
    assert "runbooks = runbooks.cli:main" in entry
    requires = {_requirement_name(line.split(":", 1)[1].strip())
                for line in meta.splitlines() if line.startswith("Requires-Dist:")
                and "extra ==" not in line}
    assert {"cryptography", "httpx", "papermill"} <= requires
    assert "License-Expression: MIT" in meta
    py = {n for n in names if n.endswith(".py")}
    assert {str(p.relative_to(ROOT)).replace("\\", "/")
            for p in (ROOT / "runbooks").rglob("*.py")} == py


# -- the release workflow -------------------------------------------------------------------------
def test_the_release_workflow_builds_checks_and_publishes_on_a_tag():
    import yaml

    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
    assert on == {"push": {"tags": ["v*"]}}, on
    jobs = wf["jobs"]
    runs = {name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in jobs.items()}
    uses = {name: " ".join(s.get("uses", "") for s in job["steps"]) for name, job in jobs.items()}
    build = next(n for n, r in runs.items() if "python -m build" in r)
    assert "twine check --strict dist/*" in runs[build]
    assert "GITHUB_REF_NAME" in runs[build], "the tag is not checked against the version"
    publish = next(n for n, u in uses.items() if "pypa/gh-action-pypi-publish" in u)
    job = jobs[publish]
    assert build in ([job["needs"]] if isinstance(job["needs"], str) else job["needs"])
    # trusted publishing: a short-lived OIDC token, no stored password or API token
    assert job["permissions"] == {"id-token": "write"}
    assert job["environment"]["name"] == "pypi"
    step = next(s for s in job["steps"] if "pypa/gh-action-pypi-publish" in s.get("uses", ""))
    assert not {"password", "user"} & set(step.get("with", {}))
    assert wf.get("permissions") == {"contents": "read"}
    # the built wheel is installed into a fresh environment and run before anything is published
    smoke = " ".join(runs.values())
    assert "venv" in smoke and "runbooks --help" in smoke and "runbooks list" in smoke
