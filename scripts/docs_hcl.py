#!/usr/bin/env python3
"""Checks that the HCL in the docs works as written: every HCL code block of README.md,
docs/ and templates/ (and the .tf / .tfquery.hcl files of examples/) goes through
`terraform fmt`, and each whole configuration through `terraform validate` against the
schema of the debug build (a dev override, as scripts/docs.py uses). `make docs-check` runs it.

    python scripts/docs_hcl.py                  # the whole tree
    python scripts/docs_hcl.py FILE...          # only these files (Markdown, .tmpl, .tf, .hcl)

Each problem is printed as `FILE:LINE: fmt|validate|CLI configuration: ...`, where LINE is the snippet's opening
fence (or 1 for a .tf file), followed by Terraform's own message and the line it names in the
file; the exit status is 1 when there is any.

What counts as HCL
  Code blocks fenced as ```hcl, ```terraform or ```tf. A ```diff block is a change to a file
  shown in part: its new side (context and `+` lines, the one-character margin removed) must
  be formatted as `terraform fmt` would, and it is never validated. Other languages (sh,
  json, unlabelled output) are not HCL.

fmt
  Every snippet, as written, less the indentation all its lines share: a block inside a list
  item, or blocks shown as they sit inside a resource (`  canary { ... }`), are formatted as
  if they stood at the top level. A snippet that Terraform cannot parse fails with Terraform's
  message and line; one that parses but is not formatted fails with the first line that
  differs and a short diff.

validate
  A snippet is validated when it is a configuration: at least one top-level block of
  resource, data, provider, action, list, import, removed, moved, module, terraform,
  variable, output, locals or check. Everything else is fmt-only and the run says why:
  blocks shown in part (`canary { ... }`), arguments alone (a .tfvars file), Terraform's CLI
  configuration (`provider_installation`), a diff.

  The .tf and .tfquery.hcl files of one folder under examples/ are one configuration and are
  validated together; every other snippet is validated alone.

  What the snippet does not declare is supplied, so an example can stay short and readable:
  - `var.NAME` that no `variable "NAME"` declares: a stub `variable "NAME" {}`; validate
    treats every variable as unknown, so values never matter.
  - `local.NAME` that no locals block declares: a stub local set from a stub variable.
  - a reference to an ecsx resource the snippet does not declare (an action's
    `deployment = ecsx_canary_deployment.web`, an `import` block's `to`): the registry
    example examples/resources/<type>/resource.tf is validated with it, so the address must
    match the name used there.
  - `required_providers` for ecsx (source ecsx/ecsx) when the snippet has none.

  hashicorp/aws cannot be installed here (no registry), so its part of a snippet is checked
  by fmt only: top-level `resource "aws_..."`, `data "aws_..."` and `provider "aws"` blocks and
  an `aws` entry of `required_providers` are blanked out before validate (line numbers are
  kept), and each reference to an aws_* resource or data source becomes a stub variable. The
  run names the snippets this applies to.

  A snippet that is a configuration but deliberately shows one in part (say, a resource with
  its required arguments left out) is marked on the line right above its fence:

      <!-- docs-check: fmt-only: the required arguments are left out -->

  The reason is printed with each run. In .tf files under examples/, which docs.py inlines
  into docs/, no marker is possible: they must validate.

Snippets repeated verbatim (a template and the page generated from it, an example and the
page that inlines it) are checked once, under the first path, with the others named.
Validation runs two Terraform processes at a time; the whole tree takes about 5 s.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs import PROVIDER_SOURCE, terraform_command  # noqa: E402

HCL_LANGS = {"hcl", "terraform", "tf"}
CLI_BLOCKS = {"provider_installation", "credentials", "credentials_helper", "host"}
CONFIG_BLOCKS = {
    "resource", "data", "provider", "action", "list", "import", "removed", "moved", "module",
    "terraform", "variable", "output", "locals", "check",
}
MARKER = re.compile(r"^\s*<!--\s*docs-check:\s*fmt-only:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([A-Za-z0-9_+-]*)\s*$")
TOP_BLOCK = re.compile(r'^([a-z_]+)((?:\s+"[^"]*")*)\s*\{')
AWS_REF = re.compile(r"(?<![\w.\"])(data\.)?(aws_[a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)")
ECSX_REF = re.compile(r"(?<![\w.\"])(ecsx_[a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)")
VAR_REF = re.compile(r"(?<![\w.])var\.([A-Za-z_][A-Za-z0-9_-]*)")
LOCAL_REF = re.compile(r"(?<![\w.])local\.([A-Za-z_][A-Za-z0-9_-]*)")
JOBS = 2


@dataclasses.dataclass
class Snippet:
    path: str  # relative to the root, for messages
    line: int  # 1-based line of the opening fence (1 for a whole file)
    lang: str
    text: str  # the HCL (for a diff: its new side), without the fence's indentation
    body_line: int  # the source line of the snippet's first line
    query: bool = False  # a .tfquery.hcl file (list blocks)
    group: str = ""  # for a file under examples/: its folder, validated as one configuration
    fmt_only: str = ""  # why it is not validated, when it is not
    cli: bool = False  # Terraform's CLI configuration, HCL 1: loaded by Terraform, not fmt-checked
    also: list[str] = dataclasses.field(default_factory=list)
    # Source line of each snippet line; differs from body_line + i only for diffs.
    line_map: list[int] = dataclasses.field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def source_line(self, n: int) -> int:
        """The source line of line n (1-based) of the snippet."""
        if 1 <= n <= len(self.line_map):
            return self.line_map[n - 1]
        return self.body_line + n - 1


# --- finding the snippets -------------------------------------------------------------------


def default_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for pattern in ("examples/**/*.tf", "examples/**/*.tfquery.hcl", "templates/**/*.tmpl", "templates/**/*.md"):
        files += sorted(root.glob(pattern))
    files.append(root / "README.md")
    files += sorted((root / "examples").rglob("*.md")) + sorted((root / "docs").rglob("*.md"))
    return [f for f in files if f.is_file()]


def snippets_of(path: Path, rel: str) -> list[Snippet]:
    text = path.read_text()
    if path.suffix == ".tf" or path.name.endswith(".tfquery.hcl"):
        n = text.count("\n") + 1
        return [Snippet(rel, 1, "tf", text, 1, query=path.name.endswith(".tfquery.hcl"),
                        group=os.path.dirname(rel), line_map=list(range(1, n + 1)))]
    out = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = len(m.group(1)), m.group(2), m.group(3).lower()
        start = i
        body: list[tuple[int, str]] = []
        i += 1
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                break
            body.append((i + 1, lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i]))
            i += 1
        i += 1
        marker = MARKER.match(lines[start - 1]) if start > 0 else None
        if lang in HCL_LANGS:
            s = Snippet(rel, start + 1, lang, textwrap.dedent("\n".join(b for _, b in body)) + "\n",
                        start + 2, line_map=[n for n, _ in body])
        elif lang == "diff":
            new = [(n, b[1:]) for n, b in body if b[:1] in (" ", "+", "") and not b.startswith("+++")]
            dedented = textwrap.dedent("\n".join(b for _, b in new)).split("\n")
            s = Snippet(rel, start + 1, lang, "\n".join(dedented) + "\n", start + 2,
                        fmt_only="a diff (its new side is fmt-checked)", line_map=[n for n, _ in new])
        else:
            continue
        if marker and not s.fmt_only:
            s.fmt_only = f"marked fmt-only: {marker.group(1)}"
        out.append(s)
    return out


def top_blocks(text: str) -> list[tuple[str, list[str]]]:
    blocks = []
    for line in text.split("\n"):
        m = TOP_BLOCK.match(line)
        if m:
            blocks.append((m.group(1), re.findall(r'"([^"]*)"', m.group(2))))
    return blocks


def classify(s: Snippet) -> None:
    if s.fmt_only:
        return
    kinds = {k for k, _ in top_blocks(s.text)}
    s.query = s.query or "list" in kinds
    if not kinds:
        s.fmt_only = "arguments only (a .tfvars file or the body of a block)"
    elif not kinds & CONFIG_BLOCKS and kinds & CLI_BLOCKS:
        s.cli = True
        s.fmt_only = "Terraform's CLI configuration (HCL 1: loaded by `terraform version`, not fmt-checked)"
    elif not kinds & CONFIG_BLOCKS:
        s.fmt_only = f"blocks shown in part ({', '.join(sorted(kinds))})"


def collect(root: Path, files: list[Path]) -> list[Snippet]:
    seen: dict[str, Snippet] = {}
    out = []
    for f in files:
        rel = os.path.relpath(f, root)
        for s in snippets_of(f, rel):
            key = f"{s.fmt_only}\0{s.text.strip()}"
            # A file under examples/ is always kept: its folder is validated as a whole.
            if key in seen and not s.group:
                seen[key].also.append(s.where)
                continue
            seen.setdefault(key, s)
            classify(s)
            out.append(s)
    return out


# --- terraform ------------------------------------------------------------------------------


def run_terraform(args: list[str], cwd: Path, rc_file: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env.update(TF_CLI_CONFIG_FILE=str(rc_file), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1",
               NO_COLOR="1")
    return subprocess.run(terraform_command() + args, cwd=cwd, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)


FMT_ERROR = re.compile(r"^(?:Error|Warning): (.*)\n\n  on (s\d+\.tf) line (\d+)", re.M)


def check_fmt(snippets: list[Snippet], work: Path, rc_file: Path) -> dict[int, list[str]]:
    """Problems by snippet index. `terraform fmt` formats copies; a copy that changed was not
    formatted. A file it cannot parse stops it from listing the others, so it runs again
    without those."""
    d = work / "fmt"
    d.mkdir()
    names = {f"s{i}.tf": i for i in range(len(snippets)) if not snippets[i].cli}
    for name, i in names.items():
        (d / name).write_text(snippets[i].text)
    problems: dict[int, list[str]] = {}
    todo = sorted(names)
    while todo:
        out = run_terraform(["fmt", "-no-color", "-list=false", *todo], d, rc_file)
        if out.returncode == 0:
            break
        errors = list(FMT_ERROR.finditer(out.stderr))
        if not errors:
            sys.exit(f"docs_hcl: terraform fmt failed ({out.returncode}):\n{out.stdout}{out.stderr}")
        for m in errors:
            i = names[m.group(2)]
            s = snippets[i]
            block = out.stderr[m.start():].split("\n\n\n")[0]
            detail = block.split("\n\n", 2)[-1].strip() if block.count("\n\n") >= 2 else ""
            detail = " ".join(detail.split())
            problems.setdefault(i, []).append(
                f"fmt: {m.group(1)} at {s.path}:{s.source_line(int(m.group(3)))}"
                + (f"\n    {detail}" if detail else ""))
        todo = [n for n in todo if names[n] not in problems]
    for name, i in names.items():
        if i in problems:
            continue
        before, after = snippets[i].text, (d / name).read_text()
        if before != after:
            a, b = before.split("\n"), after.split("\n")
            first = next(n for n in range(len(a)) if n >= len(b) or a[n] != b[n])
            diff = "\n".join("    " + x for x in list(difflib.unified_diff(a, b, "as written", "terraform fmt", n=0, lineterm=""))[:12])
            problems[i] = [f"fmt: not formatted as `terraform fmt` writes it, from "
                           f"{snippets[i].path}:{snippets[i].source_line(first + 1)}\n{diff}"]
    return problems


def check_cli_config(s: Snippet, work: Path, n: int) -> str:
    """Terraform reads its CLI configuration with HCL 1, where `dev_overrides` takes quoted
    keys that HCL 2 (and so `terraform fmt`) refuses: the snippet is loaded as the CLI
    configuration of `terraform version`, which reports what it cannot use."""
    rc = work / f"cli{n}.tfrc"
    rc.write_text(s.text)
    out = run_terraform(["version"], work, rc)
    if "problems with the CLI configuration" not in out.stderr and out.returncode == 0:
        return ""
    lines = [line.strip("│╷╵ ").strip() for line in out.stderr.split("\n")]
    msg = " ".join(x for x in lines if x and not x.startswith(("There are some", "As a result")))
    return f"CLI configuration: {msg or out.stderr.strip()}"


def blank_out_aws(text: str) -> tuple[str, bool]:
    """hashicorp/aws blocks and required_providers entries become empty lines."""
    lines = text.split("\n")
    touched = False
    providers_end = None  # the closing line of the required_providers block we are in
    i = 0
    while i < len(lines):
        opens = re.match(r"^(\s*)required_providers\s*\{\s*$", lines[i])
        if opens:
            providers_end = next((j for j in range(i + 1, len(lines)) if lines[j] == opens.group(1) + "}"), None)
        inside = providers_end is not None and i < providers_end
        m = TOP_BLOCK.match(lines[i])
        entry = inside and re.match(r"^(\s*)aws\s*=\s*\{", lines[i])
        if m and m.group(1) in ("resource", "data", "provider") and (re.findall(r'"([^"]*)"', m.group(2)) or [""])[0].startswith("aws"):
            end = i if lines[i].rstrip().endswith("}") and lines[i].count("{") == lines[i].count("}") else \
                next(j for j in range(i + 1, len(lines)) if lines[j].startswith("}"))
        elif entry:
            pad = entry.group(1)
            end = i if lines[i].count("{") == lines[i].count("}") else \
                next(j for j in range(i + 1, len(lines)) if lines[j].startswith(pad + "}"))
        else:
            i += 1
            continue
        for j in range(i, end + 1):
            lines[j] = ""
        touched = True
        i = end + 1
    out = "\n".join(lines)
    refs = AWS_REF.sub(lambda m: f"var.stub_{'data_' if m.group(1) else ''}{m.group(2)}_{m.group(3)}", out)
    return refs, touched or refs != out


def declared(text: str, kind: str) -> set[str]:
    return {labels[0] for k, labels in top_blocks(text) if k == kind and labels}


def declared_locals(text: str) -> set[str]:
    names, inside = set(), False
    for line in text.split("\n"):
        if re.match(r"^locals\s*\{", line):
            inside = True
        elif inside and line.startswith("}"):
            inside = False
        elif inside:
            m = re.match(r"^  ([A-Za-z_][\w-]*)\s*=", line)
            if m:
                names.add(m.group(1))
    return names


def prepare(unit: list[Snippet], d: Path, root: Path) -> tuple[dict[str, Snippet], list[str]]:
    """Writes a configuration and what it needs into d: one snippet (as main.tf, or
    main.tfquery.hcl), or the files of one examples/ folder under their own names. Returns
    which snippet each file holds, and notes on what was supplied."""
    notes: list[str] = []
    files: dict[str, str] = {}
    owner: dict[str, Snippet] = {}
    for s in unit:
        name = os.path.basename(s.path) if s.group else ("main.tfquery.hcl" if s.query else "main.tf")
        files[name], aws = blank_out_aws(s.text)
        owner[name] = s
        if aws and "hashicorp/aws parts fmt-only" not in notes:
            notes.append("hashicorp/aws parts fmt-only")
    text = "\n".join(files.values())
    resources = {f"{labels[0]}.{labels[1]}" for k, labels in top_blocks(text) if k == "resource" and len(labels) == 2}
    wanted = {f"{t}.{n}" for t, n in ECSX_REF.findall(text)} - resources
    for address in sorted(wanted):
        example = root / "examples/resources" / address.split(".")[0] / "resource.tf"
        name = f"context_{address.split('.')[0]}.tf"
        if example.exists() and name not in files:
            files[name] = blank_out_aws(example.read_text())[0]
            notes.append(f"with {os.path.relpath(example, root)}")
    everything = "\n".join(files.values())
    stubs = []
    if not re.search(r"required_providers\s*\{[^}]*\becsx\s*=", everything, re.S):
        stubs.append('terraform {\n  required_providers {\n    ecsx = { source = "ecsx/ecsx" }\n  }\n}')
    for name in sorted(set(VAR_REF.findall(everything)) - declared(everything, "variable")):
        stubs.append(f'variable "{name}" {{}}')
    missing_locals = sorted(set(LOCAL_REF.findall(everything)) - declared_locals(everything))
    if missing_locals:
        stubs += [f'variable "local_stub_{n}" {{}}' for n in missing_locals]
        stubs.append("locals {\n" + "".join(f"  {n} = var.local_stub_{n}\n" for n in missing_locals) + "}")
    files["docs_check_stubs.tf"] = "\n\n".join(stubs) + "\n"
    for name, content in files.items():
        (d / name).write_text(content)
    return owner, notes


def validate_unit(n: int, unit: list[Snippet], work: Path, rc_file: Path, root: Path) -> tuple[list[str], dict[str, list[str]]]:
    """`terraform validate` of one configuration: its notes, and problems by snippet location."""
    d = work / f"v{n}"
    d.mkdir()
    owner, notes = prepare(unit, d, root)
    query = any(s.query for s in unit)
    out = run_terraform(["validate", "-json", "-no-color"] + (["-query"] if query else []), d, rc_file)
    problems: dict[str, list[str]] = {}
    first = unit[0].where
    try:
        result = json.loads(out.stdout)
    except json.JSONDecodeError:
        return notes, {first: [f"validate: terraform printed no JSON ({out.returncode}):\n{out.stdout}{out.stderr}"]}
    for diag in result.get("diagnostics", []):
        if diag.get("severity") == "warning" and "development overrides" in diag.get("summary", ""):
            continue
        rng = diag.get("range") or {}
        filename, line = rng.get("filename", ""), rng.get("start", {}).get("line")
        s = owner.get(filename)
        if s and line:
            where, at = s.where, f"{s.path}:{s.source_line(line)}"
        elif filename and line:
            where, at = first, f"{filename} line {line} (supplied by docs_hcl.py: {', '.join(notes) or 'stubs'})"
        else:
            where, at = first, "the configuration"
        detail = " ".join((diag.get("detail") or "").split())
        problems.setdefault(where, []).append(
            f"validate: {diag.get('severity')}: {diag.get('summary')} at {at}" + (f"\n    {detail}" if detail else ""))
    if out.returncode != 0 and not problems:
        problems[first] = [f"validate: terraform failed ({out.returncode}):\n{out.stderr}"]
    return notes, problems


def check(root: Path, files: list[Path], provider_dir: Path) -> int:
    binary = provider_dir / "terraform-provider-ecsx"
    if not binary.exists():
        sys.exit(f"docs_hcl: {binary} is missing; run `cargo build` first")
    snippets = collect(root, files)
    with tempfile.TemporaryDirectory(prefix="ecsx-docs-hcl-") as tmp:
        work = Path(tmp)
        rc_file = work / "terraform.rc"
        rc_file.write_text(
            "provider_installation {\n"
            f'  dev_overrides {{ "{PROVIDER_SOURCE}" = "{provider_dir.resolve()}" }}\n'
            "  direct {}\n}\ndisable_checkpoint = true\n"
        )
        problems = check_fmt(snippets, work, rc_file)
        for i, s in enumerate(snippets):
            if s.cli:
                p = check_cli_config(s, work, i)
                if p:
                    problems[i] = [p]
        # One configuration per snippet, or per examples/ folder; one that fmt could not
        # parse is not validated (its fmt problem says enough).
        units: dict[str, list[int]] = {}
        for i, s in enumerate(snippets):
            if not s.fmt_only:
                units.setdefault(s.group or s.where, []).append(i)
        todo = [u for u in units.values() if not any(i in problems for i in u)]
        index = {s.where: i for i, s in enumerate(snippets)}
        aws: list[str] = []
        with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
            results = pool.map(lambda nu: validate_unit(nu[0], [snippets[i] for i in nu[1]], work, rc_file, root),
                               enumerate(todo))
            for unit, (notes, found) in zip(todo, results):
                aws += [snippets[i].where for i in unit if blank_out_aws(snippets[i].text)[1]]
                for where, p in found.items():
                    problems.setdefault(index[where], []).extend(p)
    for i, s in enumerate(snippets):
        also = f" (also {', '.join(s.also)})" if s.also else ""
        if i in problems:
            for problem in problems[i]:
                print(f"{s.where}: {problem}{also}")
    skipped = [s for s in snippets if s.fmt_only]
    validated = [i for i in range(len(snippets)) if not snippets[i].fmt_only]
    cli = sum(s.cli for s in snippets)
    print(f"docs_hcl: {len(snippets)} HCL snippets: {len(snippets) - cli} fmt-checked, "
          f"{len(validated)} of them validated, {cli} loaded as CLI configuration; "
          f"{len(problems)} with problems")
    reasons: dict[str, list[str]] = {}
    for s in skipped:
        reasons.setdefault(s.fmt_only, []).append(s.where)
    for reason, where in sorted(reasons.items()):
        print(f"  not validated, {reason}: {', '.join(where)}")
    if aws:
        print("  hashicorp/aws cannot be installed here: its blocks are fmt-checked only and references "
              f"to it stubbed in {', '.join(aws)}")
    return 1 if problems else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path, help="check only these files")
    ap.add_argument("--root", type=Path, default=ROOT, help="the tree (default: this project)")
    ap.add_argument("--provider-dir", type=Path, default=ROOT / "target/debug")
    args = ap.parse_args()
    root = args.root.resolve()
    files = [f.resolve() for f in args.files] or default_files(root)
    return check(root, files, args.provider_dir)


if __name__ == "__main__":
    sys.exit(main())
