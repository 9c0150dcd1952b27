"""The README shows the API example exactly as docs/api_example.py (which test_convrec runs)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_api_example_is_the_tested_file() -> None:
    code = (ROOT / "docs" / "api_example.py").read_text().split('"""', 2)[2].strip()
    readme = (ROOT / "README.md").read_text()
    assert f"```python\n{code}\n```" in readme


def test_readme_has_no_unfilled_placeholders() -> None:
    assert "<!--" not in (ROOT / "README.md").read_text()
