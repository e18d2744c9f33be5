//! Serving: the TLS accept loop, go-plugin's controller and health services beside the
//! provider service, until Terraform calls Shutdown.

use super::plugin as gp;
use super::server::ProviderService;
use super::tfplugin6 as pb;
use crate::provider::Provider;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status};

/// go-plugin's controller: Terraform calls Shutdown when it is done with the plugin.
pub struct Controller {
    shutdown: Arc<Notify>,
}

#[tonic::async_trait]
impl gp::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _req: Request<gp::Empty>) -> Result<Response<gp::Empty>, Status> {
        crate::log::debug("shutdown requested by Terraform", &[]);
        self.shutdown.notify_one();
        Ok(Response::new(gp::Empty {}))
    }
}

/// A TLS connection tonic can serve.
pub struct TlsConn(TlsStream<TcpStream>);

impl Connected for TlsConn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for TlsConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// Serves the provider on `listener` over TLS until Terraform calls Shutdown.
pub async fn serve(
    listener: TcpListener,
    tls: rustls::ServerConfig,
    core: Arc<Provider>,
) -> Result<(), tonic::transport::Error> {
    serve_service(listener, tls, ProviderService::new(core)).await
}

/// Serves any `tfplugin6.Provider` implementation with the same transport as [`serve`] (TLS,
/// go-plugin's controller, the health service): the bench's no-op provider uses it to measure
/// what Terraform and this transport cost without the provider's own work.
pub async fn serve_service<S: pb::provider_server::Provider>(
    listener: TcpListener,
    tls: rustls::ServerConfig,
    service: S,
) -> Result<(), tonic::transport::Error> {
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let (tx, rx) = mpsc::channel::<Result<TlsConn, std::io::Error>>(16);
    let accept_loop = tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    crate::log::warn("accept failed", &[("error", e.to_string().into())]);
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Small request/response messages: don't let Nagle hold replies for an ACK.
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(tls) => {
                        let _ = tx.send(Ok(TlsConn(tls))).await;
                    }
                    // A refused handshake (wrong certificate, plaintext) only ends that connection.
                    Err(e) => crate::log::warn(
                        "refused a connection",
                        &[
                            ("peer", peer.to_string().into()),
                            ("error", e.to_string().into()),
                        ],
                    ),
                }
            });
        }
    });
    let shutdown = Arc::new(Notify::new());
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;
    let stop = shutdown.clone();
    let served = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(gp::grpc_controller_server::GrpcControllerServer::new(
            Controller {
                shutdown: shutdown.clone(),
            },
        ))
        .add_service(
            pb::provider_server::ProviderServer::new(service)
                .max_decoding_message_size(256 * 1024 * 1024)
                .max_encoding_message_size(256 * 1024 * 1024),
        )
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::ReceiverStream::new(rx),
            async move { stop.notified().await },
        )
        .await;
    accept_loop.abort();
    served
}
