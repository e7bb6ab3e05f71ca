"""The documentation: the generated configuration reference is current, and the site
builds with no broken link or missing page."""

import subprocess
import sys
from pathlib import Path

from dqnlab.config.reference import render

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference" / "configuration.md"
README_LIMIT = 8000  # characters: a front page, the details are in the docs


def test_configuration_reference_is_generated_from_the_current_schemas_and_conf() -> None:
    assert REFERENCE.read_text() == render(), (
        "docs/reference/configuration.md is stale: regenerate it with "
        "`.venv/bin/python -m dqnlab.config.reference > docs/reference/configuration.md`"
    )


def test_reference_lists_every_key_of_a_composed_training_config(compose_config) -> None:
    page = REFERENCE.read_text()
    cfg = compose_config()
    for group in ("network", "buffer", "exploration", "agent", "trainer", "tracking"):
        for key in cfg[group]:
            assert f"`{group}.{key}`" in page, f"{group}.{key} is not in the reference"


def test_site_builds_strictly(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "configuration" / "index.html").is_file()


def test_readme_is_a_short_front_page_with_the_ci_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme) <= README_LIMIT
    ci_command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci_command in readme
