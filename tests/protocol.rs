//! In-process gRPC tests of the wire layer: TLS pinning, schemas, diagnostics, codec robustness,
//! the controller and health services, and the built binary's go-plugin handshake.

use base64::Engine;
use ecsx::protocol::plugin::grpc_controller_client::GrpcControllerClient;
use ecsx::protocol::plugin::Empty;
use ecsx::protocol::tfplugin6 as pb;
use ecsx::protocol::tfplugin6::provider_client::ProviderClient;
use ecsx::protocol::{codec, handshake_line, server, tls};
use ecsx::provider::Provider;
use ecsx::value::Value;
use hyper_util::rt::TokioIo;
use proptest::prelude::*;
use rmpv::Value as Mp;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

/// The longest any single step may take before the test fails instead of hanging.
const STEP: Duration = Duration::from_secs(30);

const PRIMARY_TASK_SET: &str = "ecsx_primary_task_set";
const TASK_SETS: &str = "ecsx_task_sets";

/// Runs `fut`, failing the test if it takes longer than [`STEP`].
async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {STEP:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// TLS identities and the client side of AutoMTLS
// ---------------------------------------------------------------------------------------------

/// A client certificate shaped like the one Terraform (go-plugin) makes for each run:
/// ECDSA P-521, self-signed, CA:true, client and server auth.
struct ClientIdentity {
    cert: CertificateDer<'static>,
    key_pkcs8: Vec<u8>,
    pem: String,
}

impl ClientIdentity {
    fn terraform_like() -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512)
            .expect("P-521 key generation");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("cert params");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "HashiCorp");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
            rcgen::KeyUsagePurpose::KeyCertSign,
        ];
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        ];
        let cert = params.self_signed(&key).expect("self-signed client cert");
        ClientIdentity {
            cert: cert.der().clone(),
            key_pkcs8: key.serialize_der(),
            pem: pem_certificate(cert.der()),
        }
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()))
    }
}

/// PEM as Go's `pem.Encode` writes it: base64 in 64-character lines between the markers.
fn pem_certificate(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// Trusts exactly the server certificate announced in the handshake, as go-plugin's client does.
#[derive(Debug)]
struct PinnedServerCert {
    expected: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedServerCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Which certificate, if any, the test client presents.
#[derive(Clone, Copy)]
enum Presents<'a> {
    Cert(&'a ClientIdentity),
    Nothing,
}

fn client_tls(
    server_cert: &CertificateDer<'static>,
    presents: Presents<'_>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(PinnedServerCert {
        expected: server_cert.clone(),
        algorithms: provider.signature_verification_algorithms,
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut cfg = match presents {
        Presents::Cert(id) => builder
            .with_client_auth_cert(vec![id.cert.clone()], id.key())
            .expect("client auth cert"),
        Presents::Nothing => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    cfg
}

/// A tonic channel that speaks TLS with `cfg` to `addr`.
async fn tls_channel(
    addr: SocketAddr,
    cfg: rustls::ClientConfig,
) -> Result<Channel, tonic::transport::Error> {
    let connector = TlsConnector::from(Arc::new(cfg));
    let connect = tower::service_fn(move |_: Uri| {
        let connector = connector.clone();
        async move {
            let tcp = TcpStream::connect(addr).await?;
            let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
            let tls = connector.connect(name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(10))
        .connect_with_connector(connect)
        .await
}

/// A channel with the good client certificate and default TLS versions.
async fn trusted_channel(server: &TestServer, client: &ClientIdentity) -> Channel {
    let cfg = client_tls(
        &server.cert,
        Presents::Cert(client),
        rustls::DEFAULT_VERSIONS,
    );
    within("TLS connect", tls_channel(server.addr, cfg))
        .await
        .expect("connect with the expected client certificate")
}

// ---------------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------------

struct TestServer {
    addr: SocketAddr,
    cert: CertificateDer<'static>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

/// Starts the real `server::serve` on a loopback port, letting in only `expected_client`.
async fn start_server(expected_client: &ClientIdentity) -> TestServer {
    let identity = tls::ServerIdentity::generate().expect("server identity");
    let config =
        tls::server_config(&identity, expected_client.cert.clone()).expect("server TLS config");
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(server::serve(listener, config, Arc::new(Provider::new())));
    TestServer {
        addr,
        cert: identity.cert_der.clone(),
        task,
    }
}

/// A server and a provider client connected with the expected certificate.
async fn connected() -> (TestServer, ProviderClient<Channel>, ClientIdentity) {
    let client_id = ClientIdentity::terraform_like();
    let server = start_server(&client_id).await;
    let channel = trusted_channel(&server, &client_id).await;
    (server, ProviderClient::new(channel), client_id)
}

// ---------------------------------------------------------------------------------------------
// Values on the wire, written with rmpv so the tests do not lean on the provider's own codec
// ---------------------------------------------------------------------------------------------

fn mp_unknown() -> Mp {
    // What Terraform sends for an unknown value: fixext1, type 0, one zero byte.
    Mp::Ext(0, vec![0])
}

fn mp_object(pairs: &[(&str, Mp)]) -> Mp {
    Mp::Map(
        pairs
            .iter()
            .map(|(k, v)| (Mp::from(*k), v.clone()))
            .collect(),
    )
}

fn mp_bytes(v: &Mp) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, v).expect("encode msgpack");
    out
}

fn msgpack(bytes: Vec<u8>) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: bytes,
        json: vec![],
    })
}

fn json(bytes: &[u8]) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: vec![],
        json: bytes.to_vec(),
    })
}

/// Decodes a `DynamicValue` the provider sent, which must be msgpack.
fn decode_reply(dv: Option<&pb::DynamicValue>) -> Mp {
    let dv = dv.expect("a DynamicValue in the reply");
    assert!(!dv.msgpack.is_empty(), "reply carries no msgpack: {dv:?}");
    let mut rd = dv.msgpack.as_slice();
    let v = rmpv::decode::read_value(&mut rd).expect("reply is valid msgpack");
    assert!(rd.is_empty(), "trailing bytes after the reply value");
    v
}

fn mp_keys(v: &Mp) -> BTreeSet<String> {
    match v {
        Mp::Map(pairs) => pairs
            .iter()
            .map(|(k, _)| k.as_str().expect("string key").to_string())
            .collect(),
        other => panic!("expected an object, got {other}"),
    }
}

fn mp_get<'a>(v: &'a Mp, key: &str) -> &'a Mp {
    match v {
        Mp::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no attribute {key} in {v}")),
        other => panic!("expected an object, got {other}"),
    }
}

/// A full `ecsx_primary_task_set` configuration object as Terraform sends it.
fn primary_task_set_config(cluster: Mp, service: Mp, task_set: Mp) -> Mp {
    mp_object(&[
        ("cluster", cluster),
        ("service", service),
        ("task_set", task_set),
        ("wait_for_steady_state", Mp::Nil),
        ("id", Mp::Nil),
        ("task_set_arn", Mp::Nil),
        ("task_set_id", Mp::Nil),
        ("task_definition", Mp::Nil),
        ("previous_task_set_id", Mp::Nil),
        ("timeouts", Mp::Array(vec![])),
    ])
}

fn good_config() -> Mp {
    primary_task_set_config(
        Mp::from("prod"),
        Mp::from("web"),
        Mp::from("ecs-svc/1234567890123456789"),
    )
}

// ---------------------------------------------------------------------------------------------
// Diagnostics
// ---------------------------------------------------------------------------------------------

fn is_error(d: &pb::Diagnostic) -> bool {
    d.severity == pb::diagnostic::Severity::Error as i32
}

/// The attribute path of a diagnostic in HCL-ish form (`a.b[0]["k"]`), empty when it has none.
fn path_of(d: &pb::Diagnostic) -> String {
    use pb::attribute_path::step::Selector;
    let Some(p) = &d.attribute else {
        return String::new();
    };
    let mut out = String::new();
    for step in &p.steps {
        match &step.selector {
            Some(Selector::AttributeName(a)) if out.is_empty() => out.push_str(a),
            Some(Selector::AttributeName(a)) => out.push_str(&format!(".{a}")),
            Some(Selector::ElementKeyString(k)) => out.push_str(&format!("[{k:?}]")),
            Some(Selector::ElementKeyInt(i)) => out.push_str(&format!("[{i}]")),
            None => out.push_str("<empty step>"),
        }
    }
    out
}

fn error_paths(diags: &[pb::Diagnostic]) -> BTreeSet<String> {
    diags.iter().filter(|d| is_error(d)).map(path_of).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Metadata and schema
// ---------------------------------------------------------------------------------------------

/// True when `t` is a cty type constraint in its JSON form.
fn is_cty_type(t: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match t {
        J::String(s) => matches!(s.as_str(), "string" | "number" | "bool" | "dynamic"),
        J::Array(parts) => match parts.as_slice() {
            [J::String(k), elem] if matches!(k.as_str(), "list" | "set" | "map") => {
                is_cty_type(elem)
            }
            [J::String(k), J::Object(attrs)] if k == "object" => attrs.values().all(is_cty_type),
            [J::String(k), J::Object(attrs), J::Array(optional)] if k == "object" => {
                attrs.values().all(is_cty_type)
                    && optional
                        .iter()
                        .all(|o| o.as_str().is_some_and(|n| attrs.contains_key(n)))
            }
            [J::String(k), J::Array(elems)] if k == "tuple" => elems.iter().all(is_cty_type),
            _ => false,
        },
        _ => false,
    }
}

/// Every attribute type in `block` (recursively) parses as cty type JSON; returns name -> type.
fn check_block_types(block: &pb::schema::Block, at: &str) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for a in &block.attributes {
        let ty: serde_json::Value = serde_json::from_slice(&a.r#type).unwrap_or_else(|e| {
            panic!(
                "{at}.{}: type {:?} is not JSON: {e}",
                a.name,
                String::from_utf8_lossy(&a.r#type)
            )
        });
        assert!(is_cty_type(&ty), "{at}.{}: {ty} is not a cty type", a.name);
        assert!(
            a.required || a.optional || a.computed,
            "{at}.{}: neither required, optional nor computed",
            a.name
        );
        assert!(
            !(a.required && (a.optional || a.computed)),
            "{at}.{}: required and optional/computed at once",
            a.name
        );
        out.insert(a.name.clone(), ty);
    }
    for nb in &block.block_types {
        let inner = nb.block.as_ref().expect("nested block has a block");
        check_block_types(inner, &format!("{at}.{}", nb.type_name));
    }
    out
}

#[tokio::test]
async fn metadata_and_schema_list_the_resources_with_cty_types() {
    let (_server, mut client, _) = connected().await;

    let meta = within(
        "GetMetadata",
        client.get_metadata(pb::get_metadata::Request {}),
    )
    .await
    .expect("GetMetadata")
    .into_inner();
    assert!(meta.diagnostics.is_empty(), "{:?}", meta.diagnostics);
    let resources: Vec<_> = meta
        .resources
        .iter()
        .map(|r| r.type_name.as_str())
        .collect();
    let data_sources: Vec<_> = meta
        .data_sources
        .iter()
        .map(|r| r.type_name.as_str())
        .collect();
    assert!(resources.contains(&PRIMARY_TASK_SET), "{resources:?}");
    assert!(data_sources.contains(&TASK_SETS), "{data_sources:?}");

    let schema = within(
        "GetProviderSchema",
        client.get_provider_schema(pb::get_provider_schema::Request {}),
    )
    .await
    .expect("GetProviderSchema")
    .into_inner();
    assert!(schema.diagnostics.is_empty(), "{:?}", schema.diagnostics);
    // Metadata and schema agree on what exists.
    let mut schema_resources: Vec<_> = schema.resource_schemas.keys().cloned().collect();
    let mut meta_resources: Vec<_> = resources.iter().map(|s| s.to_string()).collect();
    schema_resources.sort();
    meta_resources.sort();
    assert_eq!(schema_resources, meta_resources);
    assert!(schema.data_source_schemas.contains_key(TASK_SETS));

    let provider = schema.provider.as_ref().expect("provider schema");
    check_block_types(provider.block.as_ref().expect("provider block"), "provider");
    for (name, s) in schema
        .resource_schemas
        .iter()
        .chain(schema.data_source_schemas.iter())
    {
        check_block_types(s.block.as_ref().expect("block"), name);
    }

    let pts = schema.resource_schemas[PRIMARY_TASK_SET]
        .block
        .as_ref()
        .expect("ecsx_primary_task_set block");
    let types = check_block_types(pts, PRIMARY_TASK_SET);
    let names: BTreeSet<&str> = types.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = [
        "cluster",
        "service",
        "task_set",
        "wait_for_steady_state",
        "id",
        "task_set_arn",
        "task_set_id",
        "task_definition",
        "previous_task_set_id",
    ]
    .into_iter()
    .collect();
    assert_eq!(names, want);
    assert_eq!(types["wait_for_steady_state"], serde_json::json!("bool"));
    for n in want.iter().filter(|n| **n != "wait_for_steady_state") {
        assert_eq!(types[*n], serde_json::json!("string"), "{n}");
    }
    let attr = |n: &str| pts.attributes.iter().find(|a| a.name == n).expect(n);
    for n in ["cluster", "service", "task_set"] {
        assert!(attr(n).required, "{n} must be required");
    }
    for n in ["id", "task_set_arn", "task_set_id", "task_definition"] {
        assert!(
            attr(n).computed && !attr(n).optional,
            "{n} must be computed only"
        );
    }
    let blocks: Vec<_> = pts
        .block_types
        .iter()
        .map(|b| b.type_name.as_str())
        .collect();
    assert_eq!(blocks, vec!["timeouts"]);
    let timeouts = pts.block_types[0].block.as_ref().expect("timeouts block");
    let ops: BTreeSet<_> = timeouts
        .attributes
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert!(ops.contains("create") && ops.contains("update"), "{ops:?}");
}

// ---------------------------------------------------------------------------------------------
// 2. Only the announced client certificate gets in
// ---------------------------------------------------------------------------------------------

/// Connects with `cfg` and makes one RPC; Ok only if both worked.
async fn try_rpc(addr: SocketAddr, cfg: rustls::ClientConfig) -> Result<(), String> {
    let channel = tls_channel(addr, cfg).await.map_err(|e| e.to_string())?;
    ProviderClient::new(channel)
        .get_metadata(pb::get_metadata::Request {})
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn only_the_expected_client_certificate_is_let_in() {
    let expected = ClientIdentity::terraform_like();
    let stranger = ClientIdentity::terraform_like();
    let server = start_server(&expected).await;

    // The control: the same code path with the right certificate works, on TLS 1.3 and 1.2.
    for (label, versions) in [
        ("TLS 1.3", &[&rustls::version::TLS13][..]),
        ("TLS 1.2", &[&rustls::version::TLS12][..]),
    ] {
        let cfg = client_tls(&server.cert, Presents::Cert(&expected), versions);
        within(label, try_rpc(server.addr, cfg))
            .await
            .unwrap_or_else(|e| panic!("{label} with the expected certificate failed: {e}"));
    }

    for (label, presents) in [
        ("a different certificate", Presents::Cert(&stranger)),
        ("no certificate", Presents::Nothing),
    ] {
        for versions in [
            &[&rustls::version::TLS13][..],
            &[&rustls::version::TLS12][..],
        ] {
            let cfg = client_tls(&server.cert, presents, versions);
            let res = within(label, try_rpc(server.addr, cfg)).await;
            assert!(res.is_err(), "a client with {label} was let in");
        }
    }

    // Plaintext HTTP/2 (h2c): the server only speaks TLS.
    let plain = within("plaintext", async {
        let channel = Endpoint::from_shared(format!("http://{}", server.addr))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(10))
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        ProviderClient::new(channel)
            .get_metadata(pb::get_metadata::Request {})
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    assert!(plain.is_err(), "a plaintext client was let in");

    // The refusals did not hurt the server.
    let channel = trusted_channel(&server, &expected).await;
    within(
        "GetMetadata after refusals",
        ProviderClient::new(channel).get_metadata(pb::get_metadata::Request {}),
    )
    .await
    .expect("the server still serves after refusing clients");
}

// ---------------------------------------------------------------------------------------------
// 3. Validation diagnostics carry attribute paths
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn validate_resource_config_points_at_the_bad_attributes() {
    let (_server, mut client, _) = connected().await;
    let cases: Vec<(&str, Mp, &[&str])> = vec![
        ("good", good_config(), &[]),
        (
            "empty cluster, malformed task_set",
            primary_task_set_config(Mp::from(""), Mp::from("web"), Mp::from("not a task set!")),
            &["cluster", "task_set"],
        ),
        (
            "task set ARN of the wrong service",
            primary_task_set_config(
                Mp::from("prod"),
                Mp::from("web"),
                Mp::from("arn:aws:ec2:us-east-1:123456789012:instance/i-1"),
            ),
            &["task_set"],
        ),
        (
            "missing cluster",
            primary_task_set_config(
                Mp::Nil,
                Mp::from("web"),
                Mp::from("ecs-svc/1234567890123456789"),
            ),
            &["cluster"],
        ),
        (
            "unknown values are not judged yet",
            primary_task_set_config(mp_unknown(), mp_unknown(), mp_unknown()),
            &[],
        ),
    ];
    for (label, config, want) in cases {
        let resp = within(
            label,
            client.validate_resource_config(pb::validate_resource_config::Request {
                type_name: PRIMARY_TASK_SET.into(),
                config: msgpack(mp_bytes(&config)),
                client_capabilities: None,
            }),
        )
        .await
        .unwrap_or_else(|e| panic!("{label}: {e}"))
        .into_inner();
        let got = error_paths(&resp.diagnostics);
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, want, "{label}: {:#?}", resp.diagnostics);
        for d in resp.diagnostics.iter().filter(|d| is_error(d)) {
            assert!(!d.summary.is_empty(), "{label}: diagnostic without summary");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Malformed values become diagnostics, never panics or hangs
// ---------------------------------------------------------------------------------------------

fn malformed_values() -> Vec<(&'static str, pb::DynamicValue)> {
    let good = mp_bytes(&good_config());
    let mut deep_msgpack = vec![0x91; 100_000];
    deep_msgpack.push(0xc0);
    let mut deep_map = Vec::new();
    for _ in 0..10_000 {
        deep_map.extend_from_slice(&[0x81, 0xa1, b'a']);
    }
    deep_map.push(0xc0);
    let cases: Vec<(&str, Option<pb::DynamicValue>)> = vec![
        (
            "garbage msgpack",
            msgpack(vec![0xc1, 0xff, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef]),
        ),
        ("invalid JSON", json(b"{\"cluster\": ")),
        ("JSON that is not JSON at all", json(b"\xff\xfe{]")),
        (
            "truncated msgpack",
            msgpack(good[..good.len() / 2].to_vec()),
        ),
        (
            "truncated by one byte",
            msgpack(good[..good.len() - 1].to_vec()),
        ),
        (
            "str32 claiming 4 GiB",
            msgpack(vec![0xdb, 0xff, 0xff, 0xff, 0xff, b'a']),
        ),
        (
            "array32 claiming 4 billion items",
            msgpack(vec![0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0]),
        ),
        (
            "map32 claiming 4 billion pairs",
            msgpack(vec![0xdf, 0xff, 0xff, 0xff, 0xff]),
        ),
        (
            "unknown extension type 5",
            msgpack(mp_bytes(&primary_task_set_config(
                Mp::Ext(5, vec![0]),
                Mp::from("web"),
                Mp::from("ecs-svc/1"),
            ))),
        ),
        (
            "timestamp extension (-1)",
            msgpack(vec![0xd6, 0xff, 0x00, 0x00, 0x00, 0x01]),
        ),
        ("deeply nested arrays", msgpack(deep_msgpack)),
        ("deeply nested maps", msgpack(deep_map)),
        ("deeply nested JSON", json("[".repeat(100_000).as_bytes())),
        ("non-string map key", msgpack(vec![0x81, 0x01, 0xa1, b'x'])),
        ("invalid UTF-8 string", msgpack(vec![0xa2, 0xff, 0xfe])),
        ("trailing bytes", msgpack(vec![0xc0, 0xc0])),
    ];
    cases
        .into_iter()
        .map(|(l, v)| (l, v.expect("a value")))
        .collect()
}

fn assert_error_diag(what: &str, diags: &[pb::Diagnostic]) {
    assert!(
        diags.iter().any(is_error),
        "{what}: expected an error diagnostic, got {diags:#?}"
    );
}

#[tokio::test]
async fn malformed_dynamic_values_give_diagnostics_and_the_server_survives() {
    let (server, mut client, client_id) = connected().await;
    let good = msgpack(mp_bytes(&good_config()));

    for (label, bad) in malformed_values() {
        let bad = Some(bad);

        let r = within(
            label,
            client.validate_resource_config(pb::validate_resource_config::Request {
                type_name: PRIMARY_TASK_SET.into(),
                config: bad.clone(),
                client_capabilities: None,
            }),
        )
        .await
        .unwrap_or_else(|e| panic!("ValidateResourceConfig, {label}: {e}"))
        .into_inner();
        assert_error_diag(&format!("ValidateResourceConfig, {label}"), &r.diagnostics);

        // Each position a value can take in a plan.
        for slot in ["prior_state", "proposed_new_state", "config"] {
            let pick = |s: &str| if s == slot { bad.clone() } else { good.clone() };
            let r = within(
                label,
                client.plan_resource_change(pb::plan_resource_change::Request {
                    type_name: PRIMARY_TASK_SET.into(),
                    prior_state: pick("prior_state"),
                    proposed_new_state: pick("proposed_new_state"),
                    config: pick("config"),
                    prior_private: vec![],
                    provider_meta: None,
                    client_capabilities: None,
                    prior_identity: None,
                }),
            )
            .await
            .unwrap_or_else(|e| panic!("PlanResourceChange {slot}, {label}: {e}"))
            .into_inner();
            assert_error_diag(
                &format!("PlanResourceChange {slot}, {label}"),
                &r.diagnostics,
            );
        }

        let r = within(
            label,
            client.read_resource(pb::read_resource::Request {
                type_name: PRIMARY_TASK_SET.into(),
                current_state: bad.clone(),
                private: vec![],
                provider_meta: None,
                client_capabilities: None,
                current_identity: None,
            }),
        )
        .await
        .unwrap_or_else(|e| panic!("ReadResource, {label}: {e}"))
        .into_inner();
        assert_error_diag(&format!("ReadResource, {label}"), &r.diagnostics);

        for slot in ["prior_state", "planned_state"] {
            let pick = |s: &str| if s == slot { bad.clone() } else { good.clone() };
            let r = within(
                label,
                client.apply_resource_change(pb::apply_resource_change::Request {
                    type_name: PRIMARY_TASK_SET.into(),
                    prior_state: pick("prior_state"),
                    planned_state: pick("planned_state"),
                    config: good.clone(),
                    planned_private: vec![],
                    provider_meta: None,
                    planned_identity: None,
                }),
            )
            .await
            .unwrap_or_else(|e| panic!("ApplyResourceChange {slot}, {label}: {e}"))
            .into_inner();
            assert_error_diag(
                &format!("ApplyResourceChange {slot}, {label}"),
                &r.diagnostics,
            );
        }
    }

    // Still healthy: the same connection and a fresh one both get answers.
    let r = within(
        "ValidateResourceConfig after abuse",
        client.validate_resource_config(pb::validate_resource_config::Request {
            type_name: PRIMARY_TASK_SET.into(),
            config: good.clone(),
            client_capabilities: None,
        }),
    )
    .await
    .expect("the server answers after malformed input")
    .into_inner();
    assert!(r.diagnostics.is_empty(), "{:#?}", r.diagnostics);
    let channel = trusted_channel(&server, &client_id).await;
    within(
        "GetProviderSchema on a new connection",
        ProviderClient::new(channel).get_provider_schema(pb::get_provider_schema::Request {}),
    )
    .await
    .expect("a new connection is served");
    assert!(!server.task.is_finished(), "the server stopped");
}

// ---------------------------------------------------------------------------------------------
// 5. The codec, property-tested
// ---------------------------------------------------------------------------------------------

/// `PROPTEST_CASES`, which the long reliability run sets (e.g. 100000).
fn proptest_cases() -> Option<u32> {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
}

/// `default` cases in the normal test run. The long reliability run sets `PROPTEST_CASES`
/// (100000) as the budget of the cheapest properties (random bytes into the codec and into
/// every RPC); a property whose case costs about `cost` times as much runs that budget divided
/// by `cost`. At 100000 that is about 240000 generated inputs in all, and a minute or two of
/// CPU for the whole file (debug build).
fn proptest_config_for(default: u32, cost: u32) -> ProptestConfig {
    ProptestConfig {
        cases: proptest_cases()
            .map(|n| (n / cost.max(1)).max(1))
            .unwrap_or(default),
        // Failures print their minimal input; do not write regression files into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// 2000 cases in the normal test run; all of `PROPTEST_CASES` in the long run.
fn proptest_config() -> ProptestConfig {
    proptest_config_for(2000, 1)
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<i32>().prop_map(f64::from),
        (-9.0e15f64..9.0e15).prop_map(f64::trunc),
        // Any double except NaN, which equals nothing and which Terraform cannot send.
        any::<f64>().prop_filter("not NaN", |f| !f.is_nan()),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(1.0e300),
    ]
}

fn value_tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        Just(Value::Unknown),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(8, 128, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
            prop::collection::btree_map(any::<String>(), inner, 0..8).prop_map(Value::Map),
        ]
    })
}

/// Arbitrary msgpack trees, including what the codec must refuse (ext types, binary, odd keys).
fn msgpack_tree() -> impl Strategy<Value = Mp> {
    let leaf = prop_oneof![
        Just(Mp::Nil),
        any::<bool>().prop_map(Mp::Boolean),
        any::<i64>().prop_map(Mp::from),
        any::<u64>().prop_map(Mp::from),
        any::<f32>().prop_map(Mp::F32),
        any::<f64>().prop_map(Mp::F64),
        any::<String>().prop_map(Mp::from),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(Mp::Binary),
        (any::<i8>(), prop::collection::vec(any::<u8>(), 0..16)).prop_map(|(t, d)| Mp::Ext(t, d)),
    ];
    leaf.prop_recursive(6, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Mp::Array),
            prop::collection::vec((inner.clone(), inner), 0..6).prop_map(Mp::Map),
        ]
    })
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn from_msgpack_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = codec::from_msgpack(&bytes);
    }
}

/// Runs a property with exactly `config`. (`proptest!` lets `PROPTEST_CASES` override the case
/// count of every property, which the costlier ones, scaled by [`proptest_config_for`], must not.)
fn check_property<S: Strategy>(
    config: ProptestConfig,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = proptest::test_runner::TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}\n{runner}");
    }
}

/// A value tree costs about sixteen times a random byte string to generate, encode and decode.
fn tree_config() -> ProptestConfig {
    proptest_config_for(1000, 16)
}

#[test]
fn from_msgpack_never_panics_on_damaged_encodings() {
    let flips = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8);
    let cut = any::<prop::sample::Index>();
    check_property(
        tree_config(),
        (value_tree(), flips, cut),
        |(v, flips, cut)| {
            let mut bytes = codec::to_msgpack(&v);
            for (at, b) in flips {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            let _ = codec::from_msgpack(&bytes);
            let keep = cut.index(bytes.len() + 1);
            let _ = codec::from_msgpack(&bytes[..keep]);
            Ok(())
        },
    );
}

#[test]
fn from_msgpack_never_panics_on_arbitrary_msgpack_trees() {
    check_property(tree_config(), msgpack_tree(), |mp| {
        let bytes = mp_bytes(&mp);
        if let Ok(v) = codec::from_msgpack(&bytes) {
            // Whatever the codec accepts, it can write back and read again unchanged.
            prop_assert_eq!(codec::from_msgpack(&codec::to_msgpack(&v)), Ok(v));
        }
        Ok(())
    });
}

#[test]
fn msgpack_round_trips_value_trees() {
    check_property(tree_config(), value_tree(), |v| {
        prop_assert_eq!(codec::from_msgpack(&codec::to_msgpack(&v)), Ok(v));
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// 5b. Whole RPCs with generated input, called in-process: an answer or an error diagnostic,
//     never a panic, a gRPC error or a hang
// ---------------------------------------------------------------------------------------------

/// The longest one RPC may take on generated input before it counts as hung.
const RPC_LIMIT: Duration = Duration::from_secs(10);

thread_local! {
    static RPC_RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
}

/// Runs one RPC future to completion on this thread's runtime; Err when it hangs.
fn run_rpc<T>(fut: impl Future<Output = T>) -> Result<T, String> {
    RPC_RUNTIME.with(|rt| {
        rt.block_on(async { tokio::time::timeout(RPC_LIMIT, fut).await })
            .map_err(|_| format!("no answer within {RPC_LIMIT:?}"))
    })
}

/// The provider service, no network in between: one never configured, and one configured with
/// a region unknown until apply (plans run their whole logic, nothing reaches AWS).
struct RpcTargets {
    unconfigured: server::ProviderService,
    deferred: server::ProviderService,
}

fn rpc_targets() -> &'static RpcTargets {
    static TARGETS: std::sync::OnceLock<RpcTargets> = std::sync::OnceLock::new();
    TARGETS.get_or_init(|| {
        use pb::provider_server::Provider as _;
        let deferred = server::ProviderService::new(Arc::new(Provider::new()));
        let config = mp_object(&[("region", mp_unknown()), ("max_retries", Mp::from(0))]);
        let resp = run_rpc(deferred.configure_provider(tonic::Request::new(
            pb::configure_provider::Request {
                terraform_version: "1.15.5".into(),
                config: msgpack(mp_bytes(&config)),
                client_capabilities: None,
            },
        )))
        .expect("ConfigureProvider answers")
        .expect("ConfigureProvider succeeds")
        .into_inner();
        assert!(
            !resp.diagnostics.iter().any(is_error),
            "{:#?}",
            resp.diagnostics
        );
        RpcTargets {
            unconfigured: server::ProviderService::new(Arc::new(Provider::new())),
            deferred,
        }
    })
}

const CANARY: &str = "ecsx_canary_deployment";

/// A valid configuration of each resource type, as plain values.
fn valid_config(type_name: &str) -> Value {
    let list = |v: Value| Value::List(vec![v]);
    match type_name {
        CANARY => Value::object([
            ("cluster", Value::from("prod")),
            ("service", Value::from("web")),
            (
                "task_set",
                list(Value::object([
                    ("launch_type", Value::from("FARGATE")),
                    ("container_name", Value::from("web")),
                    ("container_port", Value::from(8080i64)),
                    (
                        "network_configuration",
                        list(Value::object([(
                            "subnets",
                            Value::string_list(["subnet-1"]),
                        )])),
                    ),
                ])),
            ),
            (
                "stable",
                list(Value::object([(
                    "task_definition",
                    Value::from("arn:aws:ecs:us-east-1:1:task-definition/web:1"),
                )])),
            ),
            (
                "canary",
                list(Value::object([
                    (
                        "task_definition",
                        Value::from("arn:aws:ecs:us-east-1:1:task-definition/web:2"),
                    ),
                    ("traffic_percent", Value::from(10i64)),
                ])),
            ),
            (
                "traffic",
                list(Value::object([
                    (
                        "primary_target_group_arn",
                        Value::from("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/b/1"),
                    ),
                    (
                        "canary_target_group_arn",
                        Value::from("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/g/2"),
                    ),
                    (
                        "listener_rule_arns",
                        Value::string_list([
                            "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/l/1/2/3",
                        ]),
                    ),
                ])),
            ),
        ]),
        _ => Value::object([
            ("cluster", Value::from("prod")),
            ("service", Value::from("web")),
            ("task_set", Value::from("ecs-svc/1234567890123456789")),
        ]),
    }
}

/// A step into a value: an object key or a list index.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every path in `v`, the root included.
fn all_paths(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match v {
        Value::Map(m) => {
            for (k, child) in m {
                at.push(Step::Key(k.clone()));
                all_paths(child, at, out);
                at.pop();
            }
        }
        Value::List(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(Step::Index(i));
                all_paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn replace_at(v: &mut Value, path: &[Step], new: Value) {
    let Some((first, rest)) = path.split_first() else {
        *v = new;
        return;
    };
    let child = match (v, first) {
        (Value::Map(m), Step::Key(k)) => m.get_mut(k),
        (Value::List(items), Step::Index(i)) => items.get_mut(*i),
        _ => None,
    };
    if let Some(c) = child {
        replace_at(c, rest, new);
    }
}

/// Values a mistaken configuration could plausibly hold, plus arbitrary trees.
fn replacement() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop_oneof![
            Just(Value::Null),
            Just(Value::Unknown),
            Just(Value::List(vec![])),
            Just(Value::List(vec![Value::Unknown])),
            any::<bool>().prop_map(Value::Bool),
            (-200i64..70_000).prop_map(Value::from),
            Just(Value::Number(10.5)),
            prop::sample::select(vec![
                "",
                " ",
                "prod",
                "FARGATE",
                "5m",
                "soon",
                "ecs-svc/1",
                "arn:aws:ecs:us-east-1:1:cluster/prod",
                "arn:aws:ecs:us-east-1:1:service/prod/web",
                "arn:aws:ecs:us-east-1:1:task-set/prod/api/ecs-svc/1",
                "arn:aws:ecs:us-east-1:1:task-definition/web:1",
                "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/b/1",
                "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/l/1/2",
                "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/l/1/2/3",
                "arn:aws:iam::1:role/deploy",
            ])
            .prop_map(Value::from),
        ],
        1 => value_tree(),
    ]
}

/// A valid configuration of `type_name` with one to four values replaced.
fn mutated_config(type_name: &'static str) -> impl Strategy<Value = Value> {
    let base = valid_config(type_name);
    let mut paths = Vec::new();
    all_paths(&base, &mut Vec::new(), &mut paths);
    prop::collection::vec((prop::sample::select(paths), replacement()), 1..5).prop_map(
        move |edits| {
            let mut v = base.clone();
            for (path, new) in edits {
                replace_at(&mut v, &path, new);
            }
            v
        },
    )
}

fn type_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![PRIMARY_TASK_SET, CANARY, TASK_SETS]).prop_map(String::from),
        1 => any::<String>(),
    ]
}

/// Any `DynamicValue` a broken or hostile client could send.
fn dynamic_value() -> impl Strategy<Value = Option<pb::DynamicValue>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256).prop_map(msgpack),
        prop::collection::vec(any::<u8>(), 0..256).prop_map(|b| json(&b)),
        msgpack_tree().prop_map(|mp| msgpack(mp_bytes(&mp))),
        prop_oneof![mutated_config(CANARY), mutated_config(PRIMARY_TASK_SET)]
            .prop_map(|v| msgpack(codec::to_msgpack(&v))),
        prop_oneof![mutated_config(CANARY), mutated_config(PRIMARY_TASK_SET)]
            .prop_map(|v| json(codec::to_json_value(&v).to_string().as_bytes())),
        Just(None),
        Just(Some(pb::DynamicValue::default())),
    ]
}

/// Decodes a value the way the provider does: msgpack, else JSON, else null.
fn decodes(dv: Option<&pb::DynamicValue>) -> bool {
    match dv {
        Some(d) if !d.msgpack.is_empty() => codec::from_msgpack(&d.msgpack).is_ok(),
        Some(d) if !d.json.is_empty() => codec::from_json(&d.json).is_ok(),
        _ => true,
    }
}

/// The contract of every answer: an error diagnostic, or values that decode; an input that
/// does not decode must have got an error.
fn check_answer(
    what: &str,
    inputs_decode: bool,
    diags: &[pb::Diagnostic],
    values: &[Option<&pb::DynamicValue>],
) -> Result<(), TestCaseError> {
    let failed = diags.iter().any(is_error);
    prop_assert!(
        inputs_decode || failed,
        "{what}: undecodable input accepted without an error: {diags:#?}"
    );
    for d in diags.iter().filter(|d| is_error(d)) {
        prop_assert!(!d.summary.is_empty(), "{what}: error without a summary");
    }
    if !failed {
        for v in values {
            prop_assert!(
                v.is_some_and(|v| codec::from_msgpack(&v.msgpack).is_ok()),
                "{what}: answer without a valid value: {v:?}"
            );
        }
    }
    Ok(())
}

/// `v` with the attributes and blocks of `block` it lacks added as null and no blocks, the way
/// Terraform sends a configuration (written here, not borrowed from the provider under test).
fn with_every_attribute(block: &ecsx::schema::Block, v: Value) -> Value {
    let Value::Map(mut m) = v else { return v };
    for a in &block.attributes {
        m.entry(a.name.to_string()).or_insert(Value::Null);
    }
    for b in &block.blocks {
        let items = m.remove(b.name).unwrap_or_else(|| Value::List(vec![]));
        let items = match items {
            Value::List(items) => Value::List(
                items
                    .into_iter()
                    .map(|i| with_every_attribute(&b.block, i))
                    .collect(),
            ),
            other => other,
        };
        m.insert(b.name.to_string(), items);
    }
    Value::Map(m)
}

/// Terraform's rule for a plan: what the configuration sets, the plan keeps (a block unknown
/// in the configuration stays unknown); only computed attributes may differ.
fn plan_keeps_config(
    block: &ecsx::schema::Block,
    planned: &Value,
    config: &Value,
    at: &str,
) -> Result<(), String> {
    use ecsx::schema::Mode;
    if config.is_unknown() {
        return if planned.is_unknown() {
            Ok(())
        } else {
            Err(format!(
                "{at}: unknown in the configuration, planned {planned:?}"
            ))
        };
    }
    for a in &block.attributes {
        let (p, c) = (planned.get(a.name), config.get(a.name));
        let must_equal = match a.mode {
            Mode::Required | Mode::Optional => true,
            Mode::OptionalComputed => !c.is_null(),
            Mode::Computed => false,
        };
        if must_equal && p != c {
            return Err(format!("{at}{}: configured {c:?}, planned {p:?}", a.name));
        }
    }
    for b in &block.blocks {
        let (p, c) = (planned.get(b.name), config.get(b.name));
        if c.is_unknown() {
            if !p.is_unknown() {
                return Err(format!("{at}{}: unknown block planned as {p:?}", b.name));
            }
            continue;
        }
        let (ps, cs) = (p.as_list(), c.as_list());
        if ps.len() != cs.len() {
            return Err(format!(
                "{at}{}: {} blocks configured, {} planned",
                b.name,
                cs.len(),
                ps.len()
            ));
        }
        for (i, (pi, ci)) in ps.iter().zip(cs).enumerate() {
            plan_keeps_config(&b.block, pi, ci, &format!("{at}{}[{i}].", b.name))?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(proptest_config_for(1000, 1))]

    #[test]
    fn random_bytes_into_every_rpc_get_an_error_diagnostic_or_a_valid_answer(
        bytes in prop::collection::vec(any::<u8>(), 0..128),
        as_json in any::<bool>(),
        type_name in prop::sample::select(vec![PRIMARY_TASK_SET, CANARY, TASK_SETS]),
        deferred in any::<bool>(),
    ) {
        use pb::provider_server::Provider as _;
        let t = rpc_targets();
        let svc = if deferred { &t.deferred } else { &t.unconfigured };
        let dv = if as_json { json(&bytes) } else { msgpack(bytes.clone()) };
        let ok = decodes(dv.as_ref());
        let type_name = type_name.to_string();
        let fail = |rpc: &str, s: tonic::Status| TestCaseError::fail(format!("{rpc}: {s}"));

        let r = run_rpc(svc.validate_resource_config(tonic::Request::new(
            pb::validate_resource_config::Request {
                type_name: type_name.clone(),
                config: dv.clone(),
                client_capabilities: None,
            },
        )))
        .map_err(TestCaseError::fail)?
        .map_err(|s| fail("ValidateResourceConfig", s))?
        .into_inner();
        check_answer("ValidateResourceConfig", ok, &r.diagnostics, &[])?;

        let r = run_rpc(svc.plan_resource_change(tonic::Request::new(
            pb::plan_resource_change::Request {
                type_name: type_name.clone(),
                prior_state: dv.clone(),
                proposed_new_state: dv.clone(),
                config: dv.clone(),
                prior_private: vec![],
                provider_meta: None,
                client_capabilities: None,
                prior_identity: None,
            },
        )))
        .map_err(TestCaseError::fail)?
        .map_err(|s| fail("PlanResourceChange", s))?
        .into_inner();
        check_answer("PlanResourceChange", ok, &r.diagnostics, &[r.planned_state.as_ref()])?;

        let r = run_rpc(svc.apply_resource_change(tonic::Request::new(
            pb::apply_resource_change::Request {
                type_name: type_name.clone(),
                prior_state: dv.clone(),
                planned_state: dv.clone(),
                config: dv.clone(),
                planned_private: vec![],
                provider_meta: None,
                planned_identity: None,
            },
        )))
        .map_err(TestCaseError::fail)?
        .map_err(|s| fail("ApplyResourceChange", s))?
        .into_inner();
        prop_assert!(r.diagnostics.iter().any(is_error), "ApplyResourceChange: {:#?}", r.diagnostics);

        let r = run_rpc(svc.read_resource(tonic::Request::new(pb::read_resource::Request {
            type_name: type_name.clone(),
            current_state: dv.clone(),
            private: vec![],
            provider_meta: None,
            client_capabilities: None,
            current_identity: None,
        })))
        .map_err(TestCaseError::fail)?
        .map_err(|s| fail("ReadResource", s))?
        .into_inner();
        check_answer("ReadResource", ok, &r.diagnostics, &[r.new_state.as_ref()])?;

        let r = run_rpc(svc.upgrade_resource_state(tonic::Request::new(
            pb::upgrade_resource_state::Request {
                type_name,
                version: 0,
                raw_state: Some(pb::RawState { json: bytes.clone(), flatmap: Default::default() }),
            },
        )))
        .map_err(TestCaseError::fail)?
        .map_err(|s| fail("UpgradeResourceState", s))?
        .into_inner();
        let readable = bytes.is_empty() || codec::from_json(&bytes).is_ok();
        check_answer("UpgradeResourceState", readable, &r.diagnostics, &[r.upgraded_state.as_ref()])?;
    }
}

/// Whole RPCs on generated values: each case makes several calls on values up to 128 nodes.
fn rpc_config() -> ProptestConfig {
    proptest_config_for(300, 20)
}

#[test]
fn validate_and_plan_answer_any_input() {
    check_property(
        rpc_config(),
        (
            type_name(),
            prop::collection::vec(dynamic_value(), 3),
            any::<bool>(),
        ),
        |(type_name, values, deferred)| {
            use pb::provider_server::Provider as _;
            let t = rpc_targets();
            let svc = if deferred {
                &t.deferred
            } else {
                &t.unconfigured
            };
            let (a, b, c) = (values[0].clone(), values[1].clone(), values[2].clone());

            let r = run_rpc(svc.validate_resource_config(tonic::Request::new(
                pb::validate_resource_config::Request {
                    type_name: type_name.clone(),
                    config: a.clone(),
                    client_capabilities: None,
                },
            )))
            .map_err(TestCaseError::fail)?
            .map_err(|s| TestCaseError::fail(format!("ValidateResourceConfig: {s}")))?
            .into_inner();
            check_answer(
                "ValidateResourceConfig",
                decodes(a.as_ref()),
                &r.diagnostics,
                &[],
            )?;

            let r = run_rpc(svc.validate_data_resource_config(tonic::Request::new(
                pb::validate_data_resource_config::Request {
                    type_name: type_name.clone(),
                    config: a.clone(),
                },
            )))
            .map_err(TestCaseError::fail)?
            .map_err(|s| TestCaseError::fail(format!("ValidateDataResourceConfig: {s}")))?
            .into_inner();
            check_answer(
                "ValidateDataResourceConfig",
                decodes(a.as_ref()),
                &r.diagnostics,
                &[],
            )?;

            let r = run_rpc(svc.validate_provider_config(tonic::Request::new(
                pb::validate_provider_config::Request { config: b.clone() },
            )))
            .map_err(TestCaseError::fail)?
            .map_err(|s| TestCaseError::fail(format!("ValidateProviderConfig: {s}")))?
            .into_inner();
            check_answer(
                "ValidateProviderConfig",
                decodes(b.as_ref()),
                &r.diagnostics,
                &[],
            )?;

            let r = run_rpc(svc.plan_resource_change(tonic::Request::new(
                pb::plan_resource_change::Request {
                    type_name,
                    prior_state: a.clone(),
                    proposed_new_state: b.clone(),
                    config: c.clone(),
                    prior_private: vec![],
                    provider_meta: None,
                    client_capabilities: None,
                    prior_identity: None,
                },
            )))
            .map_err(TestCaseError::fail)?
            .map_err(|s| TestCaseError::fail(format!("PlanResourceChange: {s}")))?
            .into_inner();
            let all_decode = [&a, &b, &c].iter().all(|v| decodes(v.as_ref()));
            check_answer(
                "PlanResourceChange",
                all_decode,
                &r.diagnostics,
                &[r.planned_state.as_ref()],
            )?;
            Ok(())
        },
    );
}

#[test]
fn apply_read_import_and_data_reads_answer_any_input() {
    check_property(
        rpc_config(),
        (
            type_name(),
            prop::collection::vec(dynamic_value(), 2),
            prop_oneof![any::<String>(), "[a-z/_-]{0,12}"],
            any::<bool>(),
        ),
        |(type_name, values, id, deferred)| {
            use pb::provider_server::Provider as _;
            let t = rpc_targets();
            let svc = if deferred {
                &t.deferred
            } else {
                &t.unconfigured
            };
            let (a, b) = (values[0].clone(), values[1].clone());

            let r = run_rpc(svc.apply_resource_change(tonic::Request::new(
                pb::apply_resource_change::Request {
                    type_name: type_name.clone(),
                    prior_state: a.clone(),
                    planned_state: b.clone(),
                    config: b.clone(),
                    planned_private: vec![],
                    provider_meta: None,
                    planned_identity: None,
                },
            )))
            .map_err(TestCaseError::fail)?
            .map_err(|s| TestCaseError::fail(format!("ApplyResourceChange: {s}")))?
            .into_inner();
            // Neither provider can reach AWS, so an apply can only fail, and must say so.
            prop_assert!(
                r.diagnostics.iter().any(is_error),
                "ApplyResourceChange: {:#?}",
                r.diagnostics
            );

            let r = run_rpc(
                svc.read_resource(tonic::Request::new(pb::read_resource::Request {
                    type_name: type_name.clone(),
                    current_state: a.clone(),
                    private: vec![],
                    provider_meta: None,
                    client_capabilities: None,
                    current_identity: None,
                })),
            )
            .map_err(TestCaseError::fail)?
            .map_err(|s| TestCaseError::fail(format!("ReadResource: {s}")))?
            .into_inner();
            check_answer(
                "ReadResource",
                decodes(a.as_ref()),
                &r.diagnostics,
                &[r.new_state.as_ref()],
            )?;

            let r = run_rpc(svc.read_data_source(tonic::Request::new(
                pb::read_data_source::Request {
                    type_name: type_name.clone(),
                    config: b.clone(),
                    provider_meta: None,
                    client_capabilities: None,
                },
            )))
            .map_err(TestCaseError::fail)?
            .map_err(|s| TestCaseError::fail(format!("ReadDataSource: {s}")))?
            .into_inner();
            prop_assert!(
                r.diagnostics.iter().any(is_error),
                "ReadDataSource: {:#?}",
                r.diagnostics
            );

            let r = run_rpc(svc.import_resource_state(tonic::Request::new(
                pb::import_resource_state::Request {
                    type_name,
                    id: id.clone(),
                    client_capabilities: None,
                    identity: None,
                },
            )))
            .map_err(TestCaseError::fail)?
            .map_err(|s| TestCaseError::fail(format!("ImportResourceState: {s}")))?
            .into_inner();
            prop_assert!(
                r.diagnostics.iter().any(is_error),
                "ImportResourceState {id:?}: {:#?}",
                r.diagnostics
            );
            prop_assert!(r.imported_resources.is_empty());

            // The import id parser on its own: CLUSTER/SERVICE names or an error, never a panic.
            let mut d = ecsx::diag::Diagnostics::new();
            match ecsx::resources::support::split_import_id(&id, &mut d) {
                Some((c, s)) => prop_assert_eq!(format!("{c}/{s}"), id),
                None => prop_assert!(d.has_errors()),
            }
            Ok(())
        },
    );
}

#[test]
fn upgrade_resource_state_refuses_wrong_versions_and_damaged_state() {
    check_property(
        proptest_config_for(300, 10),
        (
            type_name(),
            prop_oneof![Just(0i64), Just(-1i64), Just(1i64), any::<i64>()],
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..256),
                prop_oneof![mutated_config(CANARY), mutated_config(PRIMARY_TASK_SET)]
                    .prop_map(|v| codec::to_json_value(&v).to_string().into_bytes()),
            ],
        ),
        |(type_name, version, raw)| {
            use pb::provider_server::Provider as _;
            let r = run_rpc(rpc_targets().unconfigured.upgrade_resource_state(
                tonic::Request::new(pb::upgrade_resource_state::Request {
                    type_name: type_name.clone(),
                    version,
                    raw_state: Some(pb::RawState {
                        json: raw.clone(),
                        flatmap: Default::default(),
                    }),
                }),
            ))
            .map_err(TestCaseError::fail)?
            .map_err(|s| TestCaseError::fail(format!("UpgradeResourceState: {s}")))?
            .into_inner();
            let known = [PRIMARY_TASK_SET, CANARY].contains(&type_name.as_str());
            let readable = raw.is_empty() || codec::from_json(&raw).is_ok();
            let failed = r.diagnostics.iter().any(is_error);
            // Every resource is at schema version 0: any other version is an error.
            if !raw.is_empty() && (!known || version != 0 || !readable) {
                prop_assert!(
                    failed,
                    "version {version} of {type_name:?}: {:#?}",
                    r.diagnostics
                );
            }
            if known && version == 0 && readable {
                prop_assert!(!failed, "{:#?}", r.diagnostics);
            }
            check_answer(
                "UpgradeResourceState",
                true,
                &r.diagnostics,
                &[r.upgraded_state.as_ref()],
            )?;
            Ok(())
        },
    );
}

/// Only configurations that validate are planned: about a third are set aside.
fn validated_config() -> ProptestConfig {
    let c = proptest_config_for(300, 40);
    ProptestConfig {
        max_global_rejects: c.cases.saturating_mul(4),
        ..c
    }
}

#[test]
fn a_config_that_validates_plans_and_keeps_its_values() {
    check_property(
        validated_config(),
        prop_oneof![mutated_config(CANARY), mutated_config(PRIMARY_TASK_SET)],
        |config| {
            use pb::provider_server::Provider as _;
            let svc = &rpc_targets().deferred;
            let type_name = if config.get("traffic").is_null() {
                PRIMARY_TASK_SET
            } else {
                CANARY
            };
            // Terraform sends every schema attribute; absent ones are null.
            let schema = Provider::new().resource_schemas()[type_name].clone();
            let config = with_every_attribute(&schema.block, config);
            let dv = msgpack(codec::to_msgpack(&config));
            let v = run_rpc(svc.validate_resource_config(tonic::Request::new(
                pb::validate_resource_config::Request {
                    type_name: type_name.into(),
                    config: dv.clone(),
                    client_capabilities: None,
                },
            )))
            .map_err(TestCaseError::fail)?
            .map_err(|s| TestCaseError::fail(format!("ValidateResourceConfig: {s}")))?
            .into_inner();
            // Only what validates is planned; Terraform would stop at the diagnostics otherwise.
            prop_assume!(!v.diagnostics.iter().any(is_error));
            let p = run_rpc(svc.plan_resource_change(tonic::Request::new(
                pb::plan_resource_change::Request {
                    type_name: type_name.into(),
                    prior_state: msgpack(codec::to_msgpack(&Value::Null)),
                    proposed_new_state: dv.clone(),
                    config: dv,
                    prior_private: vec![],
                    provider_meta: None,
                    client_capabilities: None,
                    prior_identity: None,
                },
            )))
            .map_err(TestCaseError::fail)?
            .map_err(|s| TestCaseError::fail(format!("PlanResourceChange: {s}")))?
            .into_inner();
            prop_assert!(!p.diagnostics.iter().any(is_error), "{:#?}", p.diagnostics);
            let planned = p
                .planned_state
                .as_ref()
                .map(|d| codec::from_msgpack(&d.msgpack))
                .ok_or_else(|| TestCaseError::fail("no planned state"))?
                .map_err(|e| TestCaseError::fail(format!("planned state: {e}")))?;
            if let Err(e) = plan_keeps_config(&schema.block, &planned, &config, "") {
                return Err(TestCaseError::fail(format!("invalid plan: {e}")));
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Shutdown ends `serve`
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn controller_shutdown_makes_serve_return() {
    let (server, mut client, client_id) = connected().await;
    // A live connection during shutdown, as Terraform has.
    within(
        "GetMetadata",
        client.get_metadata(pb::get_metadata::Request {}),
    )
    .await
    .expect("GetMetadata before shutdown");

    // The controller on its own connection, while the provider connection stays open.
    let mut controller = GrpcControllerClient::new(trusted_channel(&server, &client_id).await);
    within("Shutdown", controller.shutdown(Empty {}))
        .await
        .expect("Shutdown");
    let served = tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("serve did not return within 10s of Shutdown")
        .expect("the server task panicked");
    served.expect("serve returned an error");
}

// ---------------------------------------------------------------------------------------------
// 7. Health service
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn health_service_reports_plugin_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let client_id = ClientIdentity::terraform_like();
    let server = start_server(&client_id).await;
    let mut health = HealthClient::new(trusted_channel(&server, &client_id).await);
    let resp = within(
        "Health/Check plugin",
        health.check(HealthCheckRequest {
            service: "plugin".into(),
        }),
    )
    .await
    .expect("Health/Check")
    .into_inner();
    assert_eq!(
        ServingStatus::try_from(resp.status),
        Ok(ServingStatus::Serving)
    );
    // The control: a service nobody registered is not reported as serving.
    let other = within(
        "Health/Check other",
        health.check(HealthCheckRequest {
            service: "no.such.Service".into(),
        }),
    )
    .await;
    match other {
        Err(status) => assert_eq!(status.code(), tonic::Code::NotFound),
        Ok(resp) => panic!("unknown service reported as {:?}", resp.into_inner()),
    }
}

// ---------------------------------------------------------------------------------------------
// 8. StopProvider
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn stop_provider_returns_promptly_without_error() {
    let (_server, mut client, _) = connected().await;
    let resp = tokio::time::timeout(
        Duration::from_secs(3),
        client.stop_provider(pb::stop_provider::Request {}),
    )
    .await
    .expect("StopProvider took longer than 3s")
    .expect("StopProvider")
    .into_inner();
    assert_eq!(resp.error, "");
    // Stopping cancels in-flight work; it does not stop the server answering.
    within(
        "GetMetadata after StopProvider",
        client.get_metadata(pb::get_metadata::Request {}),
    )
    .await
    .expect("GetMetadata after StopProvider");
}

// ---------------------------------------------------------------------------------------------
// 9. ConfigureProvider with unknowns; UpgradeResourceState fills the schema
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn configure_with_unknown_region_defers_and_plans_still_work() {
    let (_server, mut client, _) = connected().await;
    let config = mp_object(&[
        ("region", mp_unknown()),
        ("profile", Mp::Nil),
        ("shared_config_files", Mp::Nil),
        ("shared_credentials_files", Mp::Nil),
        ("max_retries", Mp::Nil),
        ("assume_role", Mp::Array(vec![])),
        ("endpoints", Mp::Array(vec![])),
    ]);
    let resp = within(
        "ConfigureProvider",
        client.configure_provider(pb::configure_provider::Request {
            terraform_version: "1.15.5".into(),
            config: msgpack(mp_bytes(&config)),
            client_capabilities: None,
        }),
    )
    .await
    .expect("ConfigureProvider")
    .into_inner();
    assert!(
        !resp.diagnostics.iter().any(is_error),
        "{:#?}",
        resp.diagnostics
    );

    // With the configuration deferred, a create plan still answers, with unknown computed values.
    let plan = within(
        "PlanResourceChange",
        client.plan_resource_change(pb::plan_resource_change::Request {
            type_name: PRIMARY_TASK_SET.into(),
            prior_state: msgpack(mp_bytes(&Mp::Nil)),
            proposed_new_state: msgpack(mp_bytes(&good_config())),
            config: msgpack(mp_bytes(&good_config())),
            prior_private: vec![],
            provider_meta: None,
            client_capabilities: None,
            prior_identity: None,
        }),
    )
    .await
    .expect("PlanResourceChange")
    .into_inner();
    assert!(
        !plan.diagnostics.iter().any(is_error),
        "{:#?}",
        plan.diagnostics
    );
    let planned = decode_reply(plan.planned_state.as_ref());
    assert_eq!(mp_get(&planned, "cluster"), &Mp::from("prod"));
    assert_eq!(mp_get(&planned, "wait_for_steady_state"), &Mp::from(false));
    assert!(
        matches!(mp_get(&planned, "id"), Mp::Ext(0, _)),
        "id should be unknown on create: {planned}"
    );
}

#[tokio::test]
async fn upgrade_resource_state_fills_every_schema_attribute() {
    let (_server, mut client, _) = connected().await;
    let raw = br#"{"cluster":"prod","service":"web","task_set":"ecs-svc/1","attribute_from_the_past":"x"}"#;
    let resp = within(
        "UpgradeResourceState",
        client.upgrade_resource_state(pb::upgrade_resource_state::Request {
            type_name: PRIMARY_TASK_SET.into(),
            version: 0,
            raw_state: Some(pb::RawState {
                json: raw.to_vec(),
                flatmap: Default::default(),
            }),
        }),
    )
    .await
    .expect("UpgradeResourceState")
    .into_inner();
    assert!(
        !resp.diagnostics.iter().any(is_error),
        "{:#?}",
        resp.diagnostics
    );
    let state = decode_reply(resp.upgraded_state.as_ref());
    let want: BTreeSet<String> = [
        "cluster",
        "service",
        "task_set",
        "wait_for_steady_state",
        "id",
        "task_set_arn",
        "task_set_id",
        "task_definition",
        "previous_task_set_id",
        "timeouts",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(mp_keys(&state), want);
    assert_eq!(mp_get(&state, "cluster"), &Mp::from("prod"));
    assert_eq!(mp_get(&state, "task_set_arn"), &Mp::Nil);
    assert_eq!(mp_get(&state, "timeouts"), &Mp::Array(vec![]));

    // State written by a newer schema version is refused, not silently reshaped.
    let newer = within(
        "UpgradeResourceState from the future",
        client.upgrade_resource_state(pb::upgrade_resource_state::Request {
            type_name: PRIMARY_TASK_SET.into(),
            version: 99,
            raw_state: Some(pb::RawState {
                json: raw.to_vec(),
                flatmap: Default::default(),
            }),
        }),
    )
    .await
    .expect("UpgradeResourceState")
    .into_inner();
    assert_error_diag("UpgradeResourceState version 99", &newer.diagnostics);
}

// ---------------------------------------------------------------------------------------------
// 10. The built binary and the go-plugin handshake
// ---------------------------------------------------------------------------------------------

/// The provider binary with none of the plugin variables inherited from the test's environment.
fn provider_binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terraform-provider-ecsx"));
    for k in [
        ecsx::protocol::MAGIC_COOKIE_KEY,
        "PLUGIN_PROTOCOL_VERSIONS",
        "PLUGIN_CLIENT_CERT",
        "PLUGIN_MIN_PORT",
        "PLUGIN_MAX_PORT",
    ] {
        cmd.env_remove(k);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A started provider process, killed if the test ends before it exits.
struct Plugin {
    child: Child,
    stdout: Option<std::thread::JoinHandle<(Option<String>, String)>>,
    first_line: Option<std::sync::mpsc::Receiver<String>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Plugin {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("start the provider binary");
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let (tx, first_line) = std::sync::mpsc::channel();
        // Stdout: hand over the first line at once, keep the rest to check nothing else came.
        let stdout = std::thread::spawn(move || {
            let mut rd = BufReader::new(out);
            let mut line = String::new();
            let first = match rd.read_line(&mut line) {
                Ok(n) if n > 0 => {
                    let _ = tx.send(line.clone());
                    Some(line)
                }
                _ => None,
            };
            let mut rest = String::new();
            let _ = rd.read_to_string(&mut rest);
            (first, rest)
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(err).read_to_string(&mut s);
            s
        });
        Plugin {
            child,
            stdout: Some(stdout),
            first_line: Some(first_line),
            stderr: Some(stderr),
        }
    }

    /// The first line on stdout (the handshake), failing after [`STEP`].
    async fn first_line(&mut self) -> String {
        let rx = self.first_line.take().expect("first line read once");
        let line = tokio::task::spawn_blocking(move || rx.recv_timeout(STEP))
            .await
            .expect("join the stdout reader");
        match line {
            Ok(l) => l,
            Err(e) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("no handshake line ({e}); stderr:\n{}", self.stderr());
            }
        }
    }

    /// Waits for the process to exit, killing it and failing after `limit`.
    async fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the provider did not exit within {limit:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything the process wrote to stderr (after it exited).
    fn stderr(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    /// The first line and the rest of stdout (after it exited).
    fn stdout(&mut self) -> (Option<String>, String) {
        self.stdout
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test]
async fn binary_without_the_magic_cookie_explains_itself_and_exits_1() {
    let mut plugin = Plugin::start(provider_binary());
    let code = plugin.exit_code(STEP).await;
    let stderr = plugin.stderr();
    assert_eq!(code, Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains("plugin for Terraform"), "stderr:\n{stderr}");
    let (first, rest) = plugin.stdout();
    assert_eq!((first, rest.as_str()), (None, ""), "nothing goes to stdout");
}

#[tokio::test]
async fn binary_refuses_terraform_without_protocol_6() {
    let client_id = ClientIdentity::terraform_like();
    let mut cmd = provider_binary();
    cmd.env(
        ecsx::protocol::MAGIC_COOKIE_KEY,
        ecsx::protocol::MAGIC_COOKIE_VALUE,
    )
    .env("PLUGIN_PROTOCOL_VERSIONS", "4,5")
    .env("PLUGIN_CLIENT_CERT", &client_id.pem);
    let mut plugin = Plugin::start(cmd);
    let code = plugin.exit_code(STEP).await;
    let stderr = plugin.stderr();
    assert_eq!(code, Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains("protocol 6"), "stderr:\n{stderr}");
    assert_eq!(
        plugin.stdout().0,
        None,
        "no handshake line without protocol 6"
    );
}

/// The parts of a go-plugin handshake line, checked field by field.
fn parse_handshake(line: &str) -> (SocketAddr, CertificateDer<'static>) {
    let line = line
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("handshake line must end with a newline: {line:?}"));
    let parts: Vec<&str> = line.split('|').collect();
    let [core, app, network, addr, proto, cert] = parts.as_slice() else {
        panic!("handshake line has {} fields: {line:?}", parts.len());
    };
    assert_eq!(
        (*core, *app, *network, *proto),
        ("1", "6", "tcp", "grpc"),
        "{line:?}"
    );
    let addr: SocketAddr = addr
        .parse()
        .unwrap_or_else(|e| panic!("address {addr:?}: {e}"));
    assert_eq!(addr.ip(), std::net::IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_ne!(addr.port(), 0);
    assert!(
        !cert.is_empty()
            && cert
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
        "certificate must be standard base64 without padding: {cert:?}"
    );
    let der = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(cert)
        .unwrap_or_else(|e| panic!("certificate is not base64: {e}"));
    // A DER certificate is one SEQUENCE spanning the whole buffer.
    assert_eq!(der.first(), Some(&0x30), "not a DER SEQUENCE");
    assert_eq!(handshake_line(addr, cert), line);
    (addr, CertificateDer::from(der))
}

#[tokio::test]
async fn binary_handshakes_serves_and_exits_0_on_shutdown() {
    let client_id = ClientIdentity::terraform_like();
    let mut cmd = provider_binary();
    cmd.env(
        ecsx::protocol::MAGIC_COOKIE_KEY,
        ecsx::protocol::MAGIC_COOKIE_VALUE,
    )
    .env("PLUGIN_PROTOCOL_VERSIONS", "6")
    .env("PLUGIN_CLIENT_CERT", &client_id.pem);
    let mut plugin = Plugin::start(cmd);

    let line = plugin.first_line().await;
    let (addr, server_cert) = parse_handshake(&line);

    // The pinned verifier only lets the handshake through if the server presents exactly
    // the announced certificate, which proves the DER is that certificate.
    let cfg = client_tls(
        &server_cert,
        Presents::Cert(&client_id),
        rustls::DEFAULT_VERSIONS,
    );
    let channel = within("connect to the plugin", tls_channel(addr, cfg))
        .await
        .expect("connect to the plugin");
    let schema = within(
        "GetProviderSchema",
        ProviderClient::new(channel.clone())
            .get_provider_schema(pb::get_provider_schema::Request {}),
    )
    .await
    .expect("GetProviderSchema")
    .into_inner();
    assert!(schema.resource_schemas.contains_key(PRIMARY_TASK_SET));

    within(
        "Shutdown",
        GrpcControllerClient::new(channel.clone()).shutdown(Empty {}),
    )
    .await
    .expect("Shutdown");
    let code = plugin.exit_code(Duration::from_secs(10)).await;
    let stderr = plugin.stderr();
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
    let (_, rest) = plugin.stdout();
    assert_eq!(rest, "", "stdout must hold only the handshake line");
}
