//! The real install path: the provider packaged as a registry release (scripts/release.py,
//! what `make release` and `make install` run), served from a filesystem mirror, found by
//! `terraform init` with no dev override, pinned in .terraform.lock.hcl, then used for a plan.

mod common;

use common::{crate_root, venv_python, Aws, Emulator, Infra, Workspace, PROVIDER_SOURCE};
use std::path::{Path, PathBuf};
use std::process::Command;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `release.py ARGS` with the project venv's interpreter; returns stdout.
fn release_py(args: &[&str]) -> String {
    let out = Command::new(venv_python())
        .arg(crate_root().join("scripts/release.py"))
        .args(args)
        .output()
        .expect("run scripts/release.py");
    assert!(
        out.status.success(),
        "release.py {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The release package of this test build, as `make release` lays it out, in `dir/dist`.
fn package(dir: &Path) -> PathBuf {
    let dist = dir.join("dist");
    release_py(&[
        "package",
        "--binary",
        env!("CARGO_BIN_EXE_terraform-provider-ecsx"),
        "--version",
        VERSION,
        "--target",
        "linux_amd64",
        "--dist",
        &dist.display().to_string(),
    ]);
    let zip = dist.join(format!("terraform-provider-ecsx_{VERSION}_linux_amd64.zip"));
    let sums =
        std::fs::read_to_string(dist.join(format!("terraform-provider-ecsx_{VERSION}_SHA256SUMS")))
            .expect("SHA256SUMS written");
    for artifact in [
        format!("terraform-provider-ecsx_{VERSION}_linux_amd64.zip"),
        format!("terraform-provider-ecsx_{VERSION}_manifest.json"),
    ] {
        assert!(
            sums.lines().any(|l| l.ends_with(&format!("  {artifact}"))),
            "{artifact} missing from SHA256SUMS:\n{sums}"
        );
    }
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            dist.join(format!("terraform-provider-ecsx_{VERSION}_manifest.json")),
        )
        .expect("manifest written"),
    )
    .expect("manifest is JSON");
    assert_eq!(manifest["metadata"]["protocol_versions"][0], "6.0");
    zip
}

/// Puts the package in a filesystem mirror under the workspace and points the workspace's
/// CLI config at that mirror only: no dev_overrides, no registry.
fn mirror(ws: &Workspace, zip: &Path, layout: &str) -> PathBuf {
    let mirror = ws.dir().join("mirror");
    let placed = release_py(&[
        "mirror",
        "--zip",
        &zip.display().to_string(),
        "--dir",
        &mirror.display().to_string(),
        "--layout",
        layout,
    ]);
    // Workspace::new pointed TF_CLI_CONFIG_FILE at this file; replace its dev override.
    ws.write(
        "terraform.rc",
        &format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"{PROVIDER_SOURCE}\"]\n  }}\n}}\ndisable_checkpoint = true\n",
            mirror.display()
        ),
    );
    PathBuf::from(placed.trim())
}

fn main_tf(body: &str) -> String {
    format!(
        "terraform {{\n  required_providers {{\n    ecsx = {{\n      source  = \"ecsx/ecsx\"\n      version = \"~> {VERSION}\"\n    }}\n  }}\n}}\n\n{body}\n"
    )
}

/// `terraform init` must install from the mirror and lock the package hash release.py computes.
fn init_and_check_lock(ws: &Workspace, zip: &Path) {
    let h1 = release_py(&["h1", &zip.display().to_string()]);
    let h1 = h1.trim();
    assert!(h1.starts_with("h1:"), "{h1}");
    ws.ok(&["init", "-input=false", "-no-color"])
        .assert_contains(&[
            &format!("Installing ecsx/ecsx v{VERSION}"),
            &format!("Installed ecsx/ecsx v{VERSION}"),
        ])
        .assert_not_contains(&["Provider development overrides are in effect"]);
    let lock = std::fs::read_to_string(ws.dir().join(".terraform.lock.hcl"))
        .expect("terraform init writes .terraform.lock.hcl");
    assert!(
        lock.contains(&format!("provider \"{PROVIDER_SOURCE}\""))
            && lock.contains(&format!("version     = \"{VERSION}\""))
            && lock.contains(&format!("\"{h1}\"")),
        "lock file without the provider, its version or hash {h1}:\n{lock}"
    );
}

#[tokio::test]
async fn init_from_a_packed_mirror_locks_the_hash_and_plans_against_aws() {
    let emu = Emulator::start();
    let infra = Infra::create(&emu, "install");
    let aws = Aws::connect(&emu).await;
    let a = aws
        .create_task_set(&infra, infra.service(), &infra.task_definitions[0])
        .await;
    let b = aws
        .create_task_set(&infra, infra.service(), &infra.task_definitions[1])
        .await;
    aws.set_primary(&infra.cluster, infra.service(), &a.arn)
        .await;

    let ws = Workspace::with_emulator("install", &emu);
    let zip = package(ws.dir());
    let placed = mirror(&ws, &zip, "packed");
    assert!(
        placed.ends_with(format!(
            "registry.terraform.io/ecsx/ecsx/terraform-provider-ecsx_{VERSION}_linux_amd64.zip"
        )),
        "{}",
        placed.display()
    );
    ws.write(
        "main.tf",
        &main_tf(&format!(
            r#"data "ecsx_task_sets" "web" {{
  cluster = "{cluster}"
  service = "{service}"
}}

resource "ecsx_primary_task_set" "web" {{
  cluster  = "{cluster}"
  service  = "{service}"
  task_set = "{task_set}"
}}

output "primary" {{
  value = data.ecsx_task_sets.web.primary_task_set_id
}}"#,
            cluster = infra.cluster,
            service = infra.service(),
            task_set = b.id,
        )),
    );

    // Without init, Terraform refuses: the provider really comes from the mirror.
    ws.fails(&["plan", "-input=false", "-no-color"])
        .assert_contains(&["terraform init"]);

    init_and_check_lock(&ws, &zip);
    let out = ws.ok(&["plan", "-input=false", "-no-color"]);
    out.assert_contains(&[
        "ecsx_primary_task_set.web will be created",
        &format!("+ task_set = \"{}\"", b.id),
        &format!("+ primary = \"{}\"", a.id),
        "1 to add, 0 to change, 0 to destroy",
    ])
    .assert_not_contains(&["Provider development overrides are in effect"]);

    // A second init with the lock file in place verifies the package against it.
    ws.ok(&["init", "-input=false", "-no-color"]);
}

#[test]
fn init_from_an_unpacked_mirror_then_a_changed_binary_fails_the_lock() {
    let ws = Workspace::new("install-unpacked");
    let zip = package(ws.dir());
    let binary = mirror(&ws, &zip, "unpacked");
    assert!(
        binary.ends_with(format!(
            "registry.terraform.io/ecsx/ecsx/{VERSION}/linux_amd64/terraform-provider-ecsx_v{VERSION}"
        )),
        "{}",
        binary.display()
    );
    ws.write("main.tf", &main_tf(""));
    init_and_check_lock(&ws, &zip);
    ws.ok(&["validate", "-no-color"]);

    // The lock file pins the package: a different binary in the mirror is refused.
    let mut bytes = std::fs::read(&binary).expect("read mirrored binary");
    bytes.push(0);
    std::fs::write(&binary, bytes).expect("write mirrored binary");
    std::fs::remove_dir_all(ws.dir().join(".terraform")).expect("remove .terraform");
    ws.fails(&["init", "-input=false", "-no-color"])
        .assert_contains(&["checksums previously recorded in the dependency lock file"]);
}

/// The linux_arm64 release binary `make release-arm64` cross-builds, or `ECSX_ARM64_BINARY`.
fn arm64_binary() -> Option<PathBuf> {
    let path = match std::env::var("ECSX_ARM64_BINARY") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => crate_root()
            .join("target/cross/aarch64-unknown-linux-gnu/release/terraform-provider-ecsx"),
    };
    path.is_file().then_some(path)
}

/// ELF `e_machine` of a binary: 62 is x86-64, 183 is AArch64.
fn elf_machine(path: &Path) -> u16 {
    let bytes = std::fs::read(path).expect("read binary");
    assert_eq!(
        &bytes[..4],
        b"\x7fELF",
        "{} is not an ELF file",
        path.display()
    );
    u16::from_le_bytes([bytes[18], bytes[19]])
}

#[test]
fn providers_lock_records_the_hashes_of_both_platforms() {
    let Some(arm64) = arm64_binary() else {
        eprintln!(
            "SKIP: no linux_arm64 build (target/cross/aarch64-unknown-linux-gnu/release/terraform-provider-ecsx \
             or ECSX_ARM64_BINARY); `make release` or `make release-arm64` builds it. `make test` does not."
        );
        return;
    };
    let amd64 = PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-ecsx"));
    assert_eq!(elf_machine(&amd64), 62, "{} is x86-64", amd64.display());
    assert_eq!(elf_machine(&arm64), 183, "{} is AArch64", arm64.display());

    let ws = Workspace::new("install-lock");
    let dist = ws.dir().join("dist");
    release_py(&[
        "package",
        "--version",
        VERSION,
        "--dist",
        &dist.display().to_string(),
        "--build",
        &format!("linux_amd64={}", amd64.display()),
        "--build",
        &format!("linux_arm64={}", arm64.display()),
    ]);
    let zip = |target: &str| dist.join(format!("terraform-provider-ecsx_{VERSION}_{target}.zip"));
    let sums =
        std::fs::read_to_string(dist.join(format!("terraform-provider-ecsx_{VERSION}_SHA256SUMS")))
            .expect("SHA256SUMS written");
    for target in ["linux_amd64", "linux_arm64"] {
        let name = format!("terraform-provider-ecsx_{VERSION}_{target}.zip");
        assert!(
            sums.lines().any(|l| l.ends_with(&format!("  {name}"))),
            "{name} missing from SHA256SUMS:\n{sums}"
        );
    }

    // Both zips in one packed mirror, as `make install` puts them.
    let mirror = ws.dir().join("mirror");
    release_py(&[
        "mirror",
        "--zip",
        &zip("linux_amd64").display().to_string(),
        "--zip",
        &zip("linux_arm64").display().to_string(),
        "--dir",
        &mirror.display().to_string(),
    ]);
    ws.write("main.tf", &main_tf(""));
    let mirror_arg = format!("-fs-mirror={}", mirror.display());
    let out = ws.ok(&[
        "providers",
        "lock",
        &mirror_arg,
        "-platform=linux_arm64",
        "-platform=linux_amd64",
        "-no-color",
    ]);
    out.assert_contains(&[
        "Obtained ecsx/ecsx checksums for linux_arm64",
        "Obtained ecsx/ecsx checksums for linux_amd64",
    ]);
    let lock = std::fs::read_to_string(ws.dir().join(".terraform.lock.hcl"))
        .expect("providers lock writes .terraform.lock.hcl");
    for target in ["linux_amd64", "linux_arm64"] {
        let h1 = release_py(&["h1", &zip(target).display().to_string()]);
        let h1 = h1.trim();
        assert!(
            lock.contains(&format!("\"{h1}\"")),
            "the lock file lacks the {target} hash {h1}:\n{lock}"
        );
    }
    assert!(
        lock.contains(&format!("version     = \"{VERSION}\"")),
        "{lock}"
    );
}
