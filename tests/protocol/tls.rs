//! TLS pinning: only the announced client certificate gets in (TLS 1.2 and 1.3), never plaintext.

use crate::client::{
    client_tls, start_server, tls_channel, trusted_channel, ClientIdentity, Presents,
};
use crate::within;
use ecsx::protocol::tfplugin6 as pb;
use ecsx::protocol::tfplugin6::provider_client::ProviderClient;
use std::net::SocketAddr;
use std::time::Duration;
use tonic::transport::Endpoint;

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
