//! The gRPC services: one small function per RPC that decodes, calls the core, and encodes.

use super::convert::{
    decode, decode_identity, diagnostics, encode, identity, identity_schema, path, schema,
};
use super::guard::{guarded, guarded_sync};
use super::plugin as gp;
use super::tfplugin6 as pb;
use crate::actions::Invocation;
use crate::diag::Diagnostics;
use crate::provider::Provider;
use crate::resources::Listed;
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

type Rpc<T> = Result<Response<T>, Status>;

/// The stream ListResource answers with.
pub type ListEvents =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::list_resource::Event, Status>> + Send>>;

pub struct ProviderService {
    core: Arc<Provider>,
}

impl ProviderService {
    pub fn new(core: Arc<Provider>) -> Self {
        ProviderService { core }
    }
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: false,
        get_provider_schema_optional: false,
        move_resource_state: false,
        // Terraform 1.15 asks GenerateResourceConfig for -generate-config-out; older cores
        // ignore the field.
        generate_resource_config: true,
    }
}

/// The stream InvokeAction answers with.
pub type InvokeEvents =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::invoke_action::Event, Status>> + Send>>;

fn invoke_event(item: Invocation) -> pb::invoke_action::Event {
    use pb::invoke_action::event::{Completed, Progress, Type};
    pb::invoke_action::Event {
        r#type: Some(match item {
            Invocation::Progress(message) => Type::Progress(Progress { message }),
            Invocation::Completed(d) => Type::Completed(Completed {
                diagnostics: diagnostics(&d),
            }),
        }),
    }
}

fn list_event(item: Listed) -> pb::list_resource::Event {
    pb::list_resource::Event {
        identity: identity(&item.identity),
        display_name: item.display_name,
        resource_object: item.resource.as_ref().map(encode),
        diagnostic: diagnostics(&item.diagnostics),
    }
}

/// Runs an RPC body and logs it with its duration under TF_LOG=trace; a panic in it is an
/// error diagnostic (see [`guarded`]).
async fn traced<T, F: std::future::Future<Output = T>>(
    rpc: &str,
    type_name: &str,
    f: F,
) -> Result<T, Diagnostics> {
    let start = std::time::Instant::now();
    let out = guarded(rpc, f).await;
    crate::log::trace(
        "rpc",
        &[
            ("rpc", rpc.into()),
            ("type", type_name.into()),
            ("duration_ms", (start.elapsed().as_millis() as u64).into()),
        ],
    );
    out
}

#[tonic::async_trait]
impl pb::provider_server::Provider for ProviderService {
    async fn get_metadata(
        &self,
        _req: Request<pb::get_metadata::Request>,
    ) -> Rpc<pb::get_metadata::Response> {
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            diagnostics: vec![],
            data_sources: self
                .core
                .data_source_names()
                .into_iter()
                .map(|n| pb::get_metadata::DataSourceMetadata {
                    type_name: n.into(),
                })
                .collect(),
            resources: self
                .core
                .resource_names()
                .into_iter()
                .map(|n| pb::get_metadata::ResourceMetadata {
                    type_name: n.into(),
                })
                .collect(),
            list_resources: self
                .core
                .list_resource_schemas()
                .into_keys()
                .map(|n| pb::get_metadata::ListResourceMetadata {
                    type_name: n.into(),
                })
                .collect(),
            actions: self
                .core
                .action_schemas()
                .into_keys()
                .map(|n| pb::get_metadata::ActionMetadata {
                    type_name: n.into(),
                })
                .collect(),
        }))
    }

    async fn get_provider_schema(
        &self,
        _req: Request<pb::get_provider_schema::Request>,
    ) -> Rpc<pb::get_provider_schema::Response> {
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(schema(&Provider::schema())),
            resource_schemas: self
                .core
                .resource_schemas()
                .iter()
                .map(|(k, s)| (k.to_string(), schema(s)))
                .collect(),
            data_source_schemas: self
                .core
                .data_source_schemas()
                .iter()
                .map(|(k, s)| (k.to_string(), schema(s)))
                .collect(),
            diagnostics: vec![],
            provider_meta: None,
            server_capabilities: Some(capabilities()),
            list_resource_schemas: self
                .core
                .list_resource_schemas()
                .iter()
                .map(|(k, s)| (k.to_string(), schema(s)))
                .collect(),
            action_schemas: self
                .core
                .action_schemas()
                .iter()
                .map(|(k, s)| {
                    (
                        k.to_string(),
                        pb::ActionSchema {
                            schema: Some(schema(s)),
                        },
                    )
                })
                .collect(),
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _req: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Rpc<pb::get_resource_identity_schemas::Response> {
        Ok(Response::new(pb::get_resource_identity_schemas::Response {
            identity_schemas: self
                .core
                .identity_schemas()
                .iter()
                .map(|(k, s)| (k.to_string(), identity_schema(s)))
                .collect(),
            diagnostics: vec![],
        }))
    }

    async fn upgrade_resource_identity(
        &self,
        req: Request<pb::upgrade_resource_identity::Request>,
    ) -> Rpc<pb::upgrade_resource_identity::Response> {
        let r = req.get_ref();
        let raw = r.raw_identity.as_ref().map(|raw| raw.json.as_slice());
        let (value, d) = match raw {
            Some(json) if !json.is_empty() => {
                self.core.upgrade_identity(&r.type_name, r.version, json)
            }
            _ => (crate::value::Value::Null, Diagnostics::new()),
        };
        Ok(Response::new(pb::upgrade_resource_identity::Response {
            upgraded_identity: identity(&value),
            diagnostics: diagnostics(&d),
        }))
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> Rpc<pb::validate_provider_config::Response> {
        let d = match decode(req.get_ref().config.as_ref(), "provider configuration") {
            Ok(cfg) => guarded_sync("ValidateProviderConfig", || {
                self.core.validate_provider_config(&cfg)
            })
            .unwrap_or_else(|d| d),
            Err(d) => d,
        };
        Ok(Response::new(pb::validate_provider_config::Response {
            diagnostics: diagnostics(&d),
        }))
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Rpc<pb::validate_resource_config::Response> {
        let r = req.get_ref();
        let d = match decode(r.config.as_ref(), "resource configuration") {
            Ok(cfg) => guarded_sync("ValidateResourceConfig", || {
                self.core.validate_resource_config(&r.type_name, &cfg)
            })
            .unwrap_or_else(|d| d),
            Err(d) => d,
        };
        Ok(Response::new(pb::validate_resource_config::Response {
            diagnostics: diagnostics(&d),
        }))
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Rpc<pb::validate_data_resource_config::Response> {
        let r = req.get_ref();
        let d = match decode(r.config.as_ref(), "data source configuration") {
            Ok(cfg) => guarded_sync("ValidateDataResourceConfig", || {
                self.core.validate_data_source_config(&r.type_name, &cfg)
            })
            .unwrap_or_else(|d| d),
            Err(d) => d,
        };
        Ok(Response::new(pb::validate_data_resource_config::Response {
            diagnostics: diagnostics(&d),
        }))
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Rpc<pb::upgrade_resource_state::Response> {
        let r = req.get_ref();
        let raw = r.raw_state.as_ref();
        let (value, d) = match raw {
            Some(raw) if !raw.json.is_empty() => {
                self.core.upgrade_state(&r.type_name, r.version, &raw.json)
            }
            Some(raw) if !raw.flatmap.is_empty() => {
                let mut d = Diagnostics::new();
                d.error(
                    "Legacy state format",
                    "This state is in the flatmap format of Terraform 0.11, which ecsx never wrote. Re-import the resource.",
                );
                (crate::value::Value::Null, d)
            }
            _ => (crate::value::Value::Null, Diagnostics::new()),
        };
        Ok(Response::new(pb::upgrade_resource_state::Response {
            upgraded_state: Some(encode(&value)),
            diagnostics: diagnostics(&d),
        }))
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Rpc<pb::configure_provider::Response> {
        let r = req.get_ref();
        crate::log::debug(
            "configure",
            &[("terraform_version", r.terraform_version.clone().into())],
        );
        let d = match decode(r.config.as_ref(), "provider configuration") {
            Ok(cfg) => self.core.configure(&cfg).await,
            Err(d) => d,
        };
        Ok(Response::new(pb::configure_provider::Response {
            diagnostics: diagnostics(&d),
        }))
    }

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Rpc<pb::read_resource::Response> {
        let r = req.into_inner();
        let decoded = (|| {
            Ok::<_, Diagnostics>((
                decode(r.current_state.as_ref(), "current state")?,
                decode_identity(r.current_identity.as_ref(), "current identity")?,
            ))
        })();
        let (state, current_identity) = match decoded {
            Ok(v) => v,
            Err(d) => {
                return Ok(Response::new(pb::read_resource::Response {
                    new_state: r.current_state,
                    diagnostics: diagnostics(&d),
                    private: r.private,
                    new_identity: r.current_identity,
                }))
            }
        };
        let out = match traced(
            "ReadResource",
            &r.type_name,
            self.core
                .read_resource(&r.type_name, &state, &current_identity),
        )
        .await
        {
            Ok(out) => out,
            Err(d) => {
                return Ok(Response::new(pb::read_resource::Response {
                    new_state: r.current_state,
                    diagnostics: diagnostics(&d),
                    private: r.private,
                    new_identity: r.current_identity,
                }))
            }
        };
        Ok(Response::new(pb::read_resource::Response {
            new_state: Some(encode(&out.state)),
            diagnostics: diagnostics(&out.diagnostics),
            private: r.private,
            new_identity: identity(&out.identity),
        }))
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Rpc<pb::plan_resource_change::Response> {
        let r = req.into_inner();
        let decoded = (|| {
            Ok::<_, Diagnostics>((
                decode(r.prior_state.as_ref(), "prior state")?,
                decode(r.proposed_new_state.as_ref(), "proposed new state")?,
                decode(r.config.as_ref(), "configuration")?,
                decode_identity(r.prior_identity.as_ref(), "prior identity")?,
            ))
        })();
        let (prior, proposed, config, prior_identity) = match decoded {
            Ok(v) => v,
            Err(d) => {
                return Ok(Response::new(pb::plan_resource_change::Response {
                    planned_state: r.proposed_new_state,
                    requires_replace: vec![],
                    planned_private: r.prior_private,
                    diagnostics: diagnostics(&d),
                    planned_identity: r.prior_identity,
                }))
            }
        };
        let out = match traced(
            "PlanResourceChange",
            &r.type_name,
            self.core
                .plan_resource(&r.type_name, &prior, &proposed, &config, &prior_identity),
        )
        .await
        {
            Ok(out) => out,
            Err(d) => {
                return Ok(Response::new(pb::plan_resource_change::Response {
                    planned_state: r.proposed_new_state,
                    requires_replace: vec![],
                    planned_private: r.prior_private,
                    diagnostics: diagnostics(&d),
                    planned_identity: r.prior_identity,
                }))
            }
        };
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_state: Some(encode(&out.planned)),
            requires_replace: out.requires_replace.iter().map(path).collect(),
            planned_private: r.prior_private,
            diagnostics: diagnostics(&out.diagnostics),
            planned_identity: identity(&out.identity),
        }))
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Rpc<pb::apply_resource_change::Response> {
        let r = req.into_inner();
        let decoded = (|| {
            Ok::<_, Diagnostics>((
                decode(r.prior_state.as_ref(), "prior state")?,
                decode(r.planned_state.as_ref(), "planned state")?,
                decode_identity(r.planned_identity.as_ref(), "planned identity")?,
            ))
        })();
        let (prior, planned, planned_identity) = match decoded {
            Ok(v) => v,
            Err(d) => {
                return Ok(Response::new(pb::apply_resource_change::Response {
                    new_state: r.prior_state,
                    private: vec![],
                    diagnostics: diagnostics(&d),
                    new_identity: None,
                }))
            }
        };
        let out = match traced(
            "ApplyResourceChange",
            &r.type_name,
            self.core
                .apply_resource(&r.type_name, &prior, &planned, &planned_identity),
        )
        .await
        {
            Ok(out) => out,
            // The prior state stays (none for a create, so nothing is tainted); the next
            // refresh reads what the apply did before it stopped.
            Err(d) => {
                return Ok(Response::new(pb::apply_resource_change::Response {
                    new_state: r.prior_state,
                    private: vec![],
                    diagnostics: diagnostics(&d),
                    new_identity: r.planned_identity,
                }))
            }
        };
        Ok(Response::new(pb::apply_resource_change::Response {
            new_state: Some(encode(&out.state)),
            private: vec![],
            diagnostics: diagnostics(&out.diagnostics),
            new_identity: identity(&out.identity),
        }))
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Rpc<pb::import_resource_state::Response> {
        let r = req.into_inner();
        let given = match decode_identity(r.identity.as_ref(), "import identity") {
            Ok(v) => v,
            Err(d) => {
                return Ok(Response::new(pb::import_resource_state::Response {
                    imported_resources: vec![],
                    diagnostics: diagnostics(&d),
                }))
            }
        };
        let out = match guarded(
            "ImportResourceState",
            self.core.import_resource(&r.type_name, &r.id, &given),
        )
        .await
        {
            Ok(out) => out,
            Err(d) => {
                return Ok(Response::new(pb::import_resource_state::Response {
                    imported_resources: vec![],
                    diagnostics: diagnostics(&d),
                }))
            }
        };
        let imported = if out.state.is_null() || out.diagnostics.has_errors() {
            vec![]
        } else {
            vec![pb::import_resource_state::ImportedResource {
                type_name: r.type_name.clone(),
                state: Some(encode(&out.state)),
                private: vec![],
                identity: identity(&out.identity),
            }]
        };
        Ok(Response::new(pb::import_resource_state::Response {
            imported_resources: imported,
            diagnostics: diagnostics(&out.diagnostics),
        }))
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Rpc<pb::read_data_source::Response> {
        let r = req.into_inner();
        let (state, d) = match decode(r.config.as_ref(), "data source configuration") {
            Ok(cfg) => guarded(
                "ReadDataSource",
                self.core.read_data_source(&r.type_name, &cfg),
            )
            .await
            .unwrap_or_else(|d| (crate::value::Value::Null, d)),
            Err(d) => (crate::value::Value::Null, d),
        };
        Ok(Response::new(pb::read_data_source::Response {
            state: Some(encode(&state)),
            diagnostics: diagnostics(&d),
        }))
    }

    async fn generate_resource_config(
        &self,
        req: Request<pb::generate_resource_config::Request>,
    ) -> Rpc<pb::generate_resource_config::Response> {
        let r = req.into_inner();
        let (config, d) = match decode(r.state.as_ref(), "state") {
            Ok(state) => self.core.generate_config(&r.type_name, &state),
            Err(d) => (crate::value::Value::Null, d),
        };
        Ok(Response::new(pb::generate_resource_config::Response {
            config: Some(encode(&config)),
            diagnostics: diagnostics(&d),
        }))
    }

    type ListResourceStream = ListEvents;

    async fn list_resource(
        &self,
        req: Request<pb::list_resource::Request>,
    ) -> Rpc<Self::ListResourceStream> {
        let r = req.into_inner();
        let (tx, rx) = mpsc::channel::<Listed>(16);
        match decode(r.config.as_ref(), "list configuration") {
            Ok(config) => {
                let core = self.core.clone();
                tokio::spawn(async move {
                    let listing = core.list_resource(
                        &r.type_name,
                        &config,
                        r.include_resource_object,
                        r.limit,
                        tx.clone(),
                    );
                    if let Err(d) = traced("ListResource", &r.type_name, listing).await {
                        let _ = tx
                            .send(Listed {
                                diagnostics: d,
                                ..Default::default()
                            })
                            .await;
                    }
                });
            }
            Err(d) => {
                let _ = tx.try_send(Listed {
                    diagnostics: d,
                    ..Default::default()
                });
            }
        }
        let events =
            tokio_stream::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), |item| {
                Ok(list_event(item))
            });
        Ok(Response::new(Box::pin(events)))
    }

    async fn validate_list_resource_config(
        &self,
        req: Request<pb::validate_list_resource_config::Request>,
    ) -> Rpc<pb::validate_list_resource_config::Response> {
        let r = req.get_ref();
        let d = match decode(r.config.as_ref(), "list configuration") {
            Ok(cfg) => guarded_sync("ValidateListResourceConfig", || {
                self.core.validate_list_config(&r.type_name, &cfg)
            })
            .unwrap_or_else(|d| d),
            Err(d) => d,
        };
        Ok(Response::new(pb::validate_list_resource_config::Response {
            diagnostics: diagnostics(&d),
        }))
    }

    async fn validate_action_config(
        &self,
        req: Request<pb::validate_action_config::Request>,
    ) -> Rpc<pb::validate_action_config::Response> {
        let r = req.get_ref();
        let d = match decode(r.config.as_ref(), "action configuration") {
            Ok(cfg) => guarded_sync("ValidateActionConfig", || {
                self.core.validate_action_config(&r.type_name, &cfg)
            })
            .unwrap_or_else(|d| d),
            Err(d) => d,
        };
        Ok(Response::new(pb::validate_action_config::Response {
            diagnostics: diagnostics(&d),
        }))
    }

    async fn plan_action(
        &self,
        req: Request<pb::plan_action::Request>,
    ) -> Rpc<pb::plan_action::Response> {
        let r = req.into_inner();
        let d = match decode(r.config.as_ref(), "action configuration") {
            Ok(cfg) => traced(
                "PlanAction",
                &r.action_type,
                self.core.plan_action(&r.action_type, &cfg),
            )
            .await
            .unwrap_or_else(|d| d),
            Err(d) => d,
        };
        Ok(Response::new(pb::plan_action::Response {
            diagnostics: diagnostics(&d),
        }))
    }

    type InvokeActionStream = InvokeEvents;

    async fn invoke_action(
        &self,
        req: Request<pb::invoke_action::Request>,
    ) -> Rpc<Self::InvokeActionStream> {
        let r = req.into_inner();
        let (tx, rx) = mpsc::channel::<Invocation>(16);
        match decode(r.config.as_ref(), "action configuration") {
            Ok(config) => {
                let core = self.core.clone();
                tokio::spawn(async move {
                    let invocation = core.invoke_action(&r.action_type, &config, tx.clone());
                    // Terraform reads a stream that ends without Completed as a success.
                    if let Err(d) = traced("InvokeAction", &r.action_type, invocation).await {
                        let _ = tx.send(Invocation::Completed(d)).await;
                    }
                });
            }
            Err(d) => {
                let _ = tx.try_send(Invocation::Completed(d));
            }
        }
        let events =
            tokio_stream::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), |item| {
                Ok(invoke_event(item))
            });
        Ok(Response::new(Box::pin(events)))
    }

    async fn stop_provider(
        &self,
        _req: Request<pb::stop_provider::Request>,
    ) -> Rpc<pb::stop_provider::Response> {
        self.core.stop();
        Ok(Response::new(pb::stop_provider::Response {
            error: String::new(),
        }))
    }
}

/// go-plugin's controller: Terraform calls Shutdown when it is done with the plugin.
pub struct Controller {
    shutdown: Arc<Notify>,
}

#[tonic::async_trait]
impl gp::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _req: Request<gp::Empty>) -> Rpc<gp::Empty> {
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
