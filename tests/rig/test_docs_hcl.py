"""scripts/docs_hcl.py (part of `make docs-check`) fails on HCL that does not work as written,
names the file and line, and passes what does.

Each case writes a small Markdown page into a temporary tree and runs the script on it with
real Terraform and the debug build's schema, as `make docs-check` does.

Run: .venv/bin/python -m pytest -q tests/rig/test_docs_hcl.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts/docs_hcl.py"
PROVIDER_DIR = ROOT / "target/debug"

GOOD = """\
resource "ecsx_canary_deployment" "web" {
  cluster = "prod"
  service = "web"
  task_set {
    container_name = "web"
    container_port = 8080
    network_configuration { subnets = var.subnets }
  }
  stable { task_definition = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:12" }
  canary {
    task_definition = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:13"
    step {
      traffic_percent = 10
      pause           = "5m"
    }
  }
  traffic {
    primary_target_group_arn = aws_lb_target_group.blue.arn
    canary_target_group_arn  = aws_lb_target_group.green.arn
    listener_rule_arns       = [aws_lb_listener_rule.api.arn]
  }
}
"""


def page(*blocks: str) -> str:
    """A Markdown page: a title line, then each block after a blank line."""
    return "# A page\n\n" + "\n".join(blocks)


def fence(lang: str, body: str, marker: str = "") -> str:
    return (marker + "\n" if marker else "") + f"```{lang}\n{body}```\n"


def run(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    if not (PROVIDER_DIR / "terraform-provider-ecsx").exists():
        pytest.fail("target/debug/terraform-provider-ecsx is missing: run `cargo build` first")
    (tmp_path / "page.md").write_text(text)
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(tmp_path), "--provider-dir", str(PROVIDER_DIR),
         str(tmp_path / "page.md")],
        capture_output=True, text=True, timeout=300,
    )


def test_a_one_line_block_with_two_arguments_fails_at_its_line(tmp_path):
    broken = GOOD.replace(
        '    step {\n      traffic_percent = 10\n      pause           = "5m"\n    }\n',
        '    step { traffic_percent = 10  pause = "5m" }\n',
    )
    assert broken != GOOD
    out = run(tmp_path, page(fence("hcl", broken)))
    assert out.returncode == 1, out.stdout + out.stderr
    # The fence opens on line 3 of page.md; the step is line 12 of the snippet, line 15 of the page.
    assert "page.md:3: fmt: Invalid single-argument block definition at page.md:15" in out.stdout, out.stdout


def test_the_same_snippet_written_properly_passes_fmt_and_validate(tmp_path):
    out = run(tmp_path, page(fence("terraform", GOOD)))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 HCL snippets: 1 fmt-checked, 1 of them validated" in out.stdout, out.stdout
    # The aws_* references were stubbed, and the run says so.
    assert "references to it stubbed in page.md:3" in out.stdout, out.stdout


def test_an_argument_the_schema_does_not_have_fails_validate(tmp_path):
    out = run(tmp_path, page(fence("hcl", GOOD.replace('  service = "web"\n', '  servce  = "web"\n'))))
    assert out.returncode == 1, out.stdout
    assert "page.md:3: validate: error: Unsupported argument at page.md:6" in out.stdout, out.stdout
    assert "page.md:3: validate: error: Missing required argument" in out.stdout, out.stdout


def test_unformatted_hcl_names_the_first_line_terraform_fmt_would_change(tmp_path):
    out = run(tmp_path, page(fence("hcl", GOOD.replace('  service = "web"', '  service   = "web"'))))
    assert out.returncode == 1, out.stdout
    assert "page.md:3: fmt: not formatted as `terraform fmt` writes it, from page.md:6" in out.stdout, out.stdout


def test_the_new_side_of_a_diff_is_fmt_checked(tmp_path):
    good = " stable { task_definition = \"web:12\" }\n+canary {\n+  traffic_percent = 10\n+}\n"
    assert run(tmp_path, page(fence("diff", good))).returncode == 0
    out = run(tmp_path, page(fence("diff", good.replace("+  traffic_percent = 10", "+  traffic_percent=10"))))
    assert out.returncode == 1, out.stdout
    assert "page.md:3: fmt: not formatted" in out.stdout and "page.md:6" in out.stdout, out.stdout


def test_a_marked_fragment_is_fmt_checked_only_and_the_reason_printed(tmp_path):
    fragment = 'resource "ecsx_canary_deployment" "web" {\n  canary { task_definition = "web:13" }\n}\n'
    assert run(tmp_path, page(fence("hcl", fragment))).returncode == 1  # unmarked: validated, fails
    marker = "<!-- docs-check: fmt-only: the rest of the resource as above -->"
    out = run(tmp_path, page(fence("hcl", fragment, marker)))
    assert out.returncode == 0, out.stdout
    assert "marked fmt-only: the rest of the resource as above: page.md:4" in out.stdout, out.stdout


def test_cli_configuration_is_loaded_by_terraform(tmp_path):
    good = 'provider_installation {\n  dev_overrides { "registry.terraform.io/ecsx/ecsx" = "/x/debug" }\n  direct {}\n}\n'
    assert run(tmp_path, page(fence("hcl", good))).returncode == 0
    out = run(tmp_path, page(fence("hcl", good.replace("direct {}", "directly {}"))))
    assert out.returncode == 1, out.stdout
    assert 'page.md:3: CLI configuration: Error: Invalid provider_installation method block' in out.stdout, out.stdout


def run_files(tmp_path: Path, files: dict[str, str], check: list[str]) -> subprocess.CompletedProcess:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(tmp_path), "--provider-dir", str(PROVIDER_DIR),
         *(str(tmp_path / name) for name in check)],
        capture_output=True, text=True, timeout=300,
    )


def test_the_files_of_one_examples_folder_are_validated_as_one_configuration(tmp_path):
    # Each file is fine alone; together they declare the variable twice.
    files = {"examples/demo/a.tf": 'variable "v" {}\n', "examples/demo/b.tf": 'variable "v" {}\n'}
    out = run_files(tmp_path, files, list(files))
    assert out.returncode == 1, out.stdout
    assert "validate: error: Duplicate variable declaration at examples/demo/b.tf:1" in out.stdout, out.stdout


def test_an_action_is_validated_with_the_registry_example_of_the_resource_it_names(tmp_path):
    example = {"examples/resources/ecsx_canary_deployment/resource.tf": GOOD}
    action = 'action "ecsx_canary_abort" "web" {\n  config {\n    deployment = ecsx_canary_deployment.NAME\n  }\n}\n'
    ok = run_files(tmp_path, {**example, "page.md": page(fence("hcl", action.replace("NAME", "web")))}, ["page.md"])
    assert ok.returncode == 0, ok.stdout
    bad = run_files(tmp_path, {**example, "page.md": page(fence("hcl", action.replace("NAME", "shop")))}, ["page.md"])
    assert bad.returncode == 1, bad.stdout
    assert "page.md:3: validate: error: Reference to undeclared resource at page.md:6" in bad.stdout, bad.stdout
