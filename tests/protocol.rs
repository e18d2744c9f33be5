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
                    client_capabilities: None,
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

/// 2000 cases in the normal test run; `PROPTEST_CASES` raises it for the long reliability run.
fn proptest_config() -> ProptestConfig {
    let from_env = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok());
    ProptestConfig {
        cases: from_env.unwrap_or(2000),
        // Failures print their minimal input; do not write regression files into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
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

    #[test]
    fn from_msgpack_never_panics_on_damaged_encodings(
        v in value_tree(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = codec::to_msgpack(&v);
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let _ = codec::from_msgpack(&bytes);
        let keep = cut.index(bytes.len() + 1);
        let _ = codec::from_msgpack(&bytes[..keep]);
    }

    #[test]
    fn from_msgpack_never_panics_on_arbitrary_msgpack_trees(mp in msgpack_tree()) {
        let bytes = mp_bytes(&mp);
        if let Ok(v) = codec::from_msgpack(&bytes) {
            // Whatever the codec accepts, it can write back and read again unchanged.
            prop_assert_eq!(codec::from_msgpack(&codec::to_msgpack(&v)), Ok(v));
        }
    }

    #[test]
    fn msgpack_round_trips_value_trees(v in value_tree()) {
        prop_assert_eq!(codec::from_msgpack(&codec::to_msgpack(&v)), Ok(v));
    }
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
