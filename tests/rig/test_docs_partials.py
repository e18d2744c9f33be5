"""README.md and the generated pages share templates/partials/ (scripts/docs.py): the README's
copy is rewritten from the partial, so a hand edit shows in `make docs-check`, and the provider
settings partial must name every provider argument of the schema.

Run: .venv/bin/python -m pytest -q tests/rig/test_docs_partials.py
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import docs  # noqa: E402


@pytest.fixture(scope="module")
def provider_schema() -> dict:
    if not (ROOT / "target/debug/terraform-provider-ecsx").exists():
        pytest.fail("target/debug/terraform-provider-ecsx is missing: run `cargo build` first")
    return docs.provider_schema(ROOT / "target/debug")["provider"]


def test_the_committed_readme_holds_the_partials_as_they_are():
    readme = (ROOT / "README.md").read_text()
    assert docs.splice_readme(readme) == readme


def test_a_hand_edit_of_the_readme_copy_is_undone_by_make_docs():
    readme = (ROOT / "README.md").read_text()
    rule = "8. Bad input is reported at validate or plan time with the attribute path."
    assert readme.count(rule) == 1
    edited = readme.replace(rule, "8. Bad input is reported at plan time.")
    assert docs.splice_readme(edited) == readme


def test_a_readme_without_a_copy_of_a_partial_is_refused():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- partial safety-rules")
    end = readme.index("<!-- end partial safety-rules -->") + len("<!-- end partial safety-rules -->")
    with pytest.raises(SystemExit, match="safety-rules"):
        docs.splice_readme(readme[:start] + readme[end:])


def test_the_settings_partial_names_every_provider_argument(provider_schema):
    docs.check_settings(provider_schema)


def test_a_provider_argument_missing_from_the_settings_partial_fails(provider_schema):
    schema = copy.deepcopy(provider_schema)
    schema["block"]["block_types"]["endpoints"]["block"]["attributes"]["xray"] = {
        "type": "string", "optional": True, "description": "Endpoint URL for X-Ray."}
    schema["block"]["attributes"]["skip_region_validation"] = {
        "type": "bool", "optional": True, "description": "Skip it."}
    with pytest.raises(SystemExit) as e:
        docs.check_settings(schema)
    assert "`endpoints.xray`" in str(e.value) and "`skip_region_validation`" in str(e.value)


def test_the_committed_readme_holds_the_layout_as_the_modules_describe_it():
    readme = (ROOT / "README.md").read_text()
    assert docs.splice_layout(readme) == readme
    tree = docs.layout()
    for rel in ("framework/resource.rs", "resources/canary/rollout/builder/phases.rs", "aws/reads/coalesce.rs"):
        assert Path(rel).name in tree, rel
    assert "tests.rs" not in tree


def test_a_module_without_a_summary_line_stops_make_docs(tmp_path):
    bare = tmp_path / "bare.rs"
    bare.write_text("use std::fmt;\n")
    with pytest.raises(SystemExit, match="no //! line"):
        docs.module_summary(bare)
    described = tmp_path / "described.rs"
    described.write_text("//! Reads `a.b` first. Then more.\n//! Still more.\n\nfn f() {}\n")
    assert docs.module_summary(described) == "Reads `a.b` first."
