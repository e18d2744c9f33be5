//! The client side of AutoMTLS (Terraform-like identities, pinned TLS) and the server under test.

use crate::mtls;
pub(crate) use crate::mtls::{client_tls, ClientIdentity, Presents};
use crate::within;
use ecsx::protocol::tfplugin6::provider_client::ProviderClient;
use ecsx::protocol::tls;
use ecsx::provider::Provider;
use rustls::pki_types::CertificateDer;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// A tonic channel that speaks TLS with `cfg` to `addr`.
pub(crate) async fn tls_channel(
    addr: SocketAddr,
    cfg: rustls::ClientConfig,
) -> Result<Channel, tonic::transport::Error> {
    mtls::tls_channel(addr, cfg, Duration::from_secs(10)).await
}

/// A channel with the good client certificate and default TLS versions.
pub(crate) async fn trusted_channel(server: &TestServer, client: &ClientIdentity) -> Channel {
    let cfg = client_tls(
        &server.cert,
        Presents::Cert(client),
        rustls::DEFAULT_VERSIONS,
    );
    within("TLS connect", tls_channel(server.addr, cfg))
        .await
        .expect("connect with the expected client certificate")
}

pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) cert: CertificateDer<'static>,
    pub(crate) task: JoinHandle<Result<(), tonic::transport::Error>>,
}

/// Starts the real `server::serve` on a loopback port, letting in only `expected_client`.
pub(crate) async fn start_server(expected_client: &ClientIdentity) -> TestServer {
    let identity = tls::ServerIdentity::generate().expect("server identity");
    let config =
        tls::server_config(&identity, expected_client.cert.clone()).expect("server TLS config");
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(ecsx::protocol::serve(
        listener,
        config,
        Arc::new(Provider::new()),
    ));
    TestServer {
        addr,
        cert: identity.cert_der.clone(),
        task,
    }
}

/// A server and a provider client connected with the expected certificate.
pub(crate) async fn connected() -> (TestServer, ProviderClient<Channel>, ClientIdentity) {
    let client_id = ClientIdentity::terraform_like();
    let server = start_server(&client_id).await;
    let channel = trusted_channel(&server, &client_id).await;
    (server, ProviderClient::new(channel), client_id)
}
