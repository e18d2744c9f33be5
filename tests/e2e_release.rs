//! The release package `make release` wrote to dist/, checked as a user and a registry see it:
//! SHA256SUMS against every zip (and its signature, when there is one), each zip's executable
//! name, then a provider network mirror of those zips served over HTTPS on loopback (with a
//! throwaway CA that Terraform trusts through SSL_CERT_FILE), from which real Terraform installs
//! the linux_amd64 build, runs it, and records every released platform's hash with
//! `terraform providers lock`.
//!
//! `#[ignore]`d, since `make test` builds no release: `make release-check` runs them with
//!   ECSX_RELEASE_DIST=dist  ECSX_RELEASE_PLATFORMS="linux_amd64 linux_arm64 ..."

mod common;

use base64::Engine;
use common::{crate_root, venv_python, Workspace, PROVIDER_SOURCE};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const NAME: &str = "terraform-provider-ecsx";

/// The file's SHA-256 as SHA256SUMS writes it (coreutils' `sha256sum`).
fn sha256_hex(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("run sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

struct Release {
    dist: PathBuf,
    platforms: Vec<String>,
}

fn release() -> Option<Release> {
    let dist = match std::env::var("ECSX_RELEASE_DIST") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            eprintln!("SKIP: ECSX_RELEASE_DIST is not set; `make release-check` sets it to dist/");
            return None;
        }
    };
    let platforms = std::env::var("ECSX_RELEASE_PLATFORMS")
        .unwrap_or_else(|_| {
            "linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64".into()
        })
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Some(Release { dist, platforms })
}

impl Release {
    fn zip(&self, platform: &str) -> PathBuf {
        self.dist.join(format!("{NAME}_{VERSION}_{platform}.zip"))
    }

    fn sums(&self) -> PathBuf {
        self.dist.join(format!("{NAME}_{VERSION}_SHA256SUMS"))
    }
}

/// `release.py ARGS`; returns stdout.
fn release_py(args: &[&str]) -> String {
    let out = Command::new(venv_python())
        .arg(crate_root().join("scripts/release.py"))
        .args(args)
        .output()
        .expect("run scripts/release.py");
    assert!(
        out.status.success(),
        "release.py {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The member names of a zip, from its central directory (`python -m zipfile -l`).
fn zip_members(zip: &Path) -> Vec<String> {
    let out = Command::new(venv_python())
        .args([
            "-c",
            "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))",
        ])
        .arg(zip)
        .output()
        .expect("list the zip");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
#[ignore = "needs `make release`; `make release-check` runs it"]
fn sha256sums_lists_every_platform_and_its_signature_verifies() {
    let Some(r) = release() else { return };
    let sums = std::fs::read_to_string(r.sums()).expect("SHA256SUMS in dist/");
    let mut listed: Vec<(&str, &str)> = sums
        .lines()
        .map(|l| l.split_once("  ").expect("DIGEST  NAME"))
        .collect();
    listed.sort_by_key(|(_, n)| *n);
    let mut expected: Vec<String> = r
        .platforms
        .iter()
        .map(|p| format!("{NAME}_{VERSION}_{p}.zip"))
        .chain([format!("{NAME}_{VERSION}_manifest.json")])
        .collect();
    expected.sort();
    assert_eq!(
        listed
            .iter()
            .map(|(_, n)| n.to_string())
            .collect::<Vec<_>>(),
        expected,
        "SHA256SUMS:\n{sums}"
    );
    for (digest, name) in &listed {
        assert_eq!(
            sha256_hex(&r.dist.join(name)),
            *digest,
            "{name} differs from SHA256SUMS"
        );
    }
    for p in &r.platforms {
        let exe = if p.starts_with("windows_") {
            ".exe"
        } else {
            ""
        };
        assert_eq!(
            zip_members(&r.zip(p)),
            [format!("{NAME}_v{VERSION}{exe}")],
            "{p} zip"
        );
    }

    let sig = r.dist.join(format!("{NAME}_{VERSION}_SHA256SUMS.sig"));
    if !sig.exists() {
        eprintln!("no SHA256SUMS.sig: the release was not signed (ECSX_GPG_KEY_ID unset)");
        return;
    }
    let out = Command::new("gpg")
        .args(["--batch", "--status-fd", "1", "--verify"])
        .arg(&sig)
        .arg(r.sums())
        .output()
        .expect("run gpg --verify");
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && status.contains("VALIDSIG"),
        "gpg --verify {}:\n{status}\n{}",
        sig.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stderr).trim_end());
}

/// PEM as Go and Python read it: base64 in 64-character lines between the markers.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// A throwaway CA and a certificate it signed for 127.0.0.1 and localhost, written to `dir`:
/// (ca.pem, server.pem, server.key).
fn throwaway_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "ecsx release test CA");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("self-signed CA");
    let issuer = rcgen::Issuer::from_params(&ca, &ca_key);

    let key = rcgen::KeyPair::generate().expect("server key");
    let mut leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("server params");
    leaf.subject_alt_names
        .push(rcgen::SanType::IpAddress(std::net::IpAddr::V4(
            std::net::Ipv4Addr::LOCALHOST,
        )));
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf.signed_by(&key, &issuer).expect("server cert");

    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, pem("CERTIFICATE", ca_cert.der())).expect("write CA");
    std::fs::write(&paths.1, pem("CERTIFICATE", cert.der())).expect("write cert");
    std::fs::write(&paths.2, pem("PRIVATE KEY", &key.serialize_der())).expect("write key");
    (paths.0, paths.1, paths.2)
}

/// tests/support/https_mirror.py serving `root`; killed on drop. Its request log goes to a
/// file, read by `requests`.
struct HttpsMirror {
    child: Child,
    url: String,
    log: PathBuf,
}

impl HttpsMirror {
    fn start(root: &Path, cert: &Path, key: &Path, log: PathBuf) -> Self {
        let mut child = Command::new(venv_python())
            .arg(crate_root().join("tests/support/https_mirror.py"))
            .args([root, cert, key])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("mirror log"))
            .spawn()
            .expect("start the HTTPS mirror");
        let mut port = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut port)
            .expect("the mirror's port");
        let port: u16 = port.trim().parse().unwrap_or_else(|_| {
            panic!(
                "the mirror printed no port: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        HttpsMirror {
            child,
            url: format!("https://127.0.0.1:{port}/"),
            log,
        }
    }

    fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for HttpsMirror {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs `make release`; `make release-check` runs it"]
fn network_mirror_over_https_installs_and_locks_every_platform() {
    let Some(r) = release() else { return };
    let mut ws = Workspace::new("release-netmirror");
    let root = ws.dir().join("mirror");
    let zips: Vec<PathBuf> = r.platforms.iter().map(|p| r.zip(p)).collect();
    let mut args = vec![
        "netmirror".to_string(),
        "--dir".into(),
        root.display().to_string(),
    ];
    for z in &zips {
        args.push("--zip".into());
        args.push(z.display().to_string());
    }
    release_py(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // The protocol's two documents, as release.py wrote them.
    let base = root.join("registry.terraform.io/ecsx/ecsx");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("index.json")).expect("index"))
            .expect("index.json is JSON");
    assert_eq!(index["versions"][VERSION], serde_json::json!({}), "{index}");
    let archives: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(base.join(format!("{VERSION}.json"))).expect("VERSION.json"),
    )
    .expect("VERSION.json is JSON");
    let h1 = |p: &str| {
        release_py(&["h1", &r.zip(p).display().to_string()])
            .trim()
            .to_string()
    };
    for p in &r.platforms {
        let entry = &archives["archives"][p];
        assert_eq!(
            entry["url"],
            format!("{NAME}_{VERSION}_{p}.zip"),
            "{archives}"
        );
        assert_eq!(
            entry["hashes"],
            serde_json::json!([h1(p), format!("zh:{}", sha256_hex(&r.zip(p)))]),
            "{p}"
        );
    }

    let (ca, cert, key) = throwaway_pki(ws.dir());
    let mirror = HttpsMirror::start(&root, &cert, &key, ws.dir().join("mirror.log"));
    // Terraform (Go) on Linux reads its trusted roots from SSL_CERT_FILE when it is set.
    ws.set_env("SSL_CERT_FILE", &ca.display().to_string());
    ws.write(
        "terraform.rc",
        &format!(
            "provider_installation {{\n  network_mirror {{\n    url     = \"{}\"\n    include = [\"{PROVIDER_SOURCE}\"]\n  }}\n}}\ndisable_checkpoint = true\n",
            mirror.url
        ),
    );
    ws.write(
        "main.tf",
        &format!(
            "terraform {{\n  required_providers {{\n    ecsx = {{\n      source  = \"ecsx/ecsx\"\n      version = \"{VERSION}\"\n    }}\n  }}\n}}\n"
        ),
    );

    let init = ws.run(&["init", "-input=false", "-no-color"]);
    assert!(
        init.success(),
        "init from {}:\n{}\nrequests:\n{}",
        mirror.url,
        init.text(),
        mirror.requests()
    );
    init.assert_contains(&[
        &format!("Installing ecsx/ecsx v{VERSION}"),
        &format!("Installed ecsx/ecsx v{VERSION}"),
    ])
    .assert_not_contains(&["Provider development overrides are in effect"]);
    let requests = mirror.requests();
    for path in [
        "/registry.terraform.io/ecsx/ecsx/index.json".to_string(),
        format!("/registry.terraform.io/ecsx/ecsx/{VERSION}.json"),
        format!("/registry.terraform.io/ecsx/ecsx/{NAME}_{VERSION}_linux_amd64.zip"),
    ] {
        assert!(
            requests.contains(&format!("GET {path} ")),
            "Terraform did not fetch {path}:\n{requests}"
        );
    }
    let lock = std::fs::read_to_string(ws.dir().join(".terraform.lock.hcl")).expect("lock file");
    assert!(lock.contains(&h1("linux_amd64")), "{lock}");
    eprintln!("after init:\n{lock}");

    // The installed release binary runs: Terraform reads its schema over the plugin protocol.
    let schema = ws.providers_schema();
    assert!(
        schema["provider_schemas"][PROVIDER_SOURCE]["resource_schemas"]
            .get("ecsx_canary_deployment")
            .is_some(),
        "{schema}"
    );

    // One lock file for every released platform, from the same mirror.
    std::fs::remove_file(ws.dir().join(".terraform.lock.hcl")).expect("remove the lock file");
    let mut lock_args = vec![
        "providers".to_string(),
        "lock".into(),
        format!("-net-mirror={}", mirror.url),
        "-no-color".into(),
    ];
    lock_args.extend(r.platforms.iter().map(|p| format!("-platform={p}")));
    let out = ws.ok(&lock_args.iter().map(String::as_str).collect::<Vec<_>>());
    for p in &r.platforms {
        out.assert_contains(&[&format!("Obtained ecsx/ecsx checksums for {p}")]);
    }
    let lock = std::fs::read_to_string(ws.dir().join(".terraform.lock.hcl")).expect("lock file");
    eprintln!("after providers lock:\n{lock}");
    for p in &r.platforms {
        let hash = h1(p);
        assert!(
            lock.contains(&format!("\"{hash}\"")),
            "no {p} hash {hash}:\n{lock}"
        );
    }
    let recorded = lock.matches("\"h1:").count();
    assert_eq!(
        recorded,
        r.platforms.len(),
        "one h1: hash per platform:\n{lock}"
    );
}
