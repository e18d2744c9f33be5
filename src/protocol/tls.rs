//! AutoMTLS as go-plugin does it: a fresh server certificate per process, and only the
//! client certificate Terraform announced in `PLUGIN_CLIENT_CERT` is let in.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("PLUGIN_CLIENT_CERT holds no PEM certificate: {0}")]
    ClientCertPem(String),
    #[error("could not make the server certificate: {0}")]
    ServerCert(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The server's certificate and key, made fresh for each process.
pub struct ServerIdentity {
    pub cert_der: CertificateDer<'static>,
    key_der: PrivateKeyDer<'static>,
}

impl ServerIdentity {
    pub fn generate() -> Result<Self, TlsError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| TlsError::ServerCert(e.to_string()))?;
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .map_err(|e| TlsError::ServerCert(e.to_string()))?;
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "ecsx");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(std::net::IpAddr::V4(
                std::net::Ipv4Addr::LOCALHOST,
            )));
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params
            .self_signed(&key)
            .map_err(|e| TlsError::ServerCert(e.to_string()))?;
        Ok(ServerIdentity {
            cert_der: cert.der().clone(),
            key_der: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        })
    }

    /// The certificate as the handshake line carries it: DER, base64 standard, no padding.
    pub fn handshake_cert(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(self.cert_der.as_ref())
    }
}

/// Parses the PEM certificate Terraform passes in `PLUGIN_CLIENT_CERT`.
pub fn client_cert_from_pem(pem: &str) -> Result<CertificateDer<'static>, TlsError> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| TlsError::ClientCertPem(e.to_string()))
}

pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Server TLS config that requires the one expected client certificate.
pub fn server_config(
    identity: &ServerIdentity,
    expected_client: CertificateDer<'static>,
) -> Result<ServerConfig, TlsError> {
    let provider = crypto_provider();
    let verifier = PinnedClientCert {
        expected: expected_client,
        algorithms: provider.signature_verification_algorithms,
    };
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(
            vec![identity.cert_der.clone()],
            identity.key_der.clone_key(),
        )
        .map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

/// Accepts exactly one client certificate, compared byte for byte.
///
/// Terraform's client certificate is self-signed with CA:true, which the standard
/// webpki verifier refuses as an end entity; pinning is what go-plugin means anyway.
#[derive(Debug)]
struct PinnedClientCert {
    expected: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            Ok(ClientCertVerified::assertion())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `.cargo/config.toml` builds AWS-LC without its CPU jitter entropy collector, whose first
    /// seeding cost tens of milliseconds before the handshake line. The variable reaches rustc
    /// too, so a build without that file fails here instead of silently starting slowly.
    #[test]
    fn aws_lc_is_built_to_seed_from_the_os() {
        assert_eq!(option_env!("AWS_LC_SYS_NO_JITTER_ENTROPY"), Some("1"));
    }

    #[test]
    fn server_identity_is_fresh_per_process_and_encodes_without_padding() {
        let a = ServerIdentity::generate().unwrap();
        let b = ServerIdentity::generate().unwrap();
        assert_ne!(a.cert_der.as_ref(), b.cert_der.as_ref());
        assert!(!a.handshake_cert().contains('='));
    }
}
