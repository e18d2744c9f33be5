//! The client side of AutoMTLS as Terraform (go-plugin) does it: a per-run client certificate,
//! and a TLS connection that trusts exactly the server certificate of the handshake line.
//! Shared by the in-process protocol tests (tests/protocol) and the release-binary smoke test
//! (tests/smoke_binary.rs), each including this file as a module.
#![allow(dead_code)] // each test crate uses part of it

use base64::Engine;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

/// A client certificate shaped like the one Terraform (go-plugin) makes for each run:
/// ECDSA P-521, self-signed, CA:true, client and server auth.
pub(crate) struct ClientIdentity {
    pub(crate) cert: CertificateDer<'static>,
    key_pkcs8: Vec<u8>,
    pub(crate) pem: String,
}

impl ClientIdentity {
    pub(crate) fn terraform_like() -> Self {
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
pub(crate) enum Presents<'a> {
    Cert(&'a ClientIdentity),
    Nothing,
}

pub(crate) fn client_tls(
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

/// A tonic channel that speaks TLS with `cfg` to `addr`, giving up on connecting after
/// `connect_timeout`.
pub(crate) async fn tls_channel(
    addr: SocketAddr,
    cfg: rustls::ClientConfig,
    connect_timeout: Duration,
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
        .connect_timeout(connect_timeout)
        .connect_with_connector(connect)
        .await
}
