//! The bench's floor: a provider that does no work, served by ecsx's own protocol layer.
//!
//! One resource, `floor_canary_deployment`, with the schema of `ecsx_canary_deployment` (taken
//! from the provider itself, so the two stay the same shape and size). Values are decoded and
//! encoded as ecsx does, and nothing else happens: read returns the prior state, plan returns
//! the proposed state (computed attributes unknown on create), apply returns the plan with its
//! unknowns made null. `make bench` plans N of these beside N ecsx deployments: what is left
//! is Terraform's own price for N plugin resources of this schema, plus this transport.
//!
//! Built by `make bench` only (`cargo build --release --example bench-floor`); never released.

use ecsx::protocol::convert::{decode, diagnostics, encode, schema};
use ecsx::protocol::serve_service;
use ecsx::protocol::{self, codec, tfplugin6 as pb, tls};
use ecsx::schema::{Block, Schema};
use ecsx::value::Value;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use tonic::{Request, Response, Status};

/// The ecsx resource whose schema the floor copies.
const MODEL: &str = "ecsx_canary_deployment";
/// The floor's own resource type (provider local name `floor`).
const TYPE_NAME: &str = "floor_canary_deployment";

type Rpc<T> = Result<Response<T>, Status>;

struct Floor {
    schema: Schema,
}

/// Computed attributes the configuration leaves null become unknown when there is no prior
/// state (a create); with a prior state Terraform's proposed value already carries them.
fn unknown_computed(block: &Block, value: &mut Value) {
    let Value::Map(fields) = value else { return };
    for a in &block.attributes {
        if a.is_computed() {
            if let Some(v) = fields.get_mut(a.name) {
                if v.is_null() {
                    *v = Value::Unknown;
                }
            }
        }
    }
    for nb in &block.blocks {
        if let Some(Value::List(items)) = fields.get_mut(nb.name) {
            for item in items {
                unknown_computed(&nb.block, item);
            }
        }
    }
}

/// An applied state holds no unknowns: what the plan left unknown is null.
fn known(value: Value) -> Value {
    match value {
        Value::Unknown => Value::Null,
        Value::List(items) => Value::List(items.into_iter().map(known).collect()),
        Value::Map(fields) => Value::Map(fields.into_iter().map(|(k, v)| (k, known(v))).collect()),
        v => v,
    }
}

fn no_op() -> Status {
    Status::unimplemented("the bench's floor provider does not serve this")
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: false,
        get_provider_schema_optional: false,
        move_resource_state: false,
        generate_resource_config: false,
    }
}

type Stream<T> = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl pb::provider_server::Provider for Floor {
    async fn get_metadata(
        &self,
        _req: Request<pb::get_metadata::Request>,
    ) -> Rpc<pb::get_metadata::Response> {
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            diagnostics: vec![],
            data_sources: vec![],
            resources: vec![pb::get_metadata::ResourceMetadata {
                type_name: TYPE_NAME.into(),
            }],
            list_resources: vec![],
            actions: vec![],
        }))
    }

    async fn get_provider_schema(
        &self,
        _req: Request<pb::get_provider_schema::Request>,
    ) -> Rpc<pb::get_provider_schema::Response> {
        let provider = Schema {
            version: 0,
            block: Block::new("The bench's no-op provider."),
        };
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(schema(&provider)),
            resource_schemas: [(TYPE_NAME.to_string(), schema(&self.schema))].into(),
            data_source_schemas: Default::default(),
            diagnostics: vec![],
            provider_meta: None,
            server_capabilities: Some(capabilities()),
            list_resource_schemas: Default::default(),
            action_schemas: Default::default(),
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _req: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Rpc<pb::get_resource_identity_schemas::Response> {
        Err(no_op())
    }

    async fn upgrade_resource_identity(
        &self,
        _req: Request<pb::upgrade_resource_identity::Request>,
    ) -> Rpc<pb::upgrade_resource_identity::Response> {
        Err(no_op())
    }

    async fn validate_provider_config(
        &self,
        _req: Request<pb::validate_provider_config::Request>,
    ) -> Rpc<pb::validate_provider_config::Response> {
        Ok(Response::new(pb::validate_provider_config::Response {
            diagnostics: vec![],
        }))
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Rpc<pb::validate_resource_config::Response> {
        let d = decode(req.get_ref().config.as_ref(), "configuration").err();
        Ok(Response::new(pb::validate_resource_config::Response {
            diagnostics: d.as_ref().map(diagnostics).unwrap_or_default(),
        }))
    }

    async fn validate_data_resource_config(
        &self,
        _req: Request<pb::validate_data_resource_config::Request>,
    ) -> Rpc<pb::validate_data_resource_config::Response> {
        Err(no_op())
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Rpc<pb::upgrade_resource_state::Response> {
        // The stored JSON, decoded and encoded as msgpack: what every provider does here.
        let json = req
            .get_ref()
            .raw_state
            .as_ref()
            .map(|r| r.json.as_slice())
            .unwrap_or_default();
        let value = if json.is_empty() {
            Value::Null
        } else {
            codec::from_json(json).map_err(|e| Status::invalid_argument(e.to_string()))?
        };
        Ok(Response::new(pb::upgrade_resource_state::Response {
            upgraded_state: Some(encode(&value)),
            diagnostics: vec![],
        }))
    }

    async fn configure_provider(
        &self,
        _req: Request<pb::configure_provider::Request>,
    ) -> Rpc<pb::configure_provider::Response> {
        Ok(Response::new(pb::configure_provider::Response {
            diagnostics: vec![],
        }))
    }

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Rpc<pb::read_resource::Response> {
        let r = req.into_inner();
        let state = decode(r.current_state.as_ref(), "current state")
            .map_err(|_| Status::invalid_argument("current state"))?;
        Ok(Response::new(pb::read_resource::Response {
            new_state: Some(encode(&state)),
            diagnostics: vec![],
            private: r.private,
            new_identity: None,
        }))
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Rpc<pb::plan_resource_change::Response> {
        let r = req.into_inner();
        let decoded = (|| {
            Ok::<_, ecsx::diag::Diagnostics>((
                decode(r.prior_state.as_ref(), "prior state")?,
                decode(r.proposed_new_state.as_ref(), "proposed new state")?,
                decode(r.config.as_ref(), "configuration")?,
            ))
        })();
        let (prior, mut planned, _config) =
            decoded.map_err(|_| Status::invalid_argument("plan values"))?;
        if prior.is_null() {
            unknown_computed(&self.schema.block, &mut planned);
        }
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_state: Some(encode(&planned)),
            requires_replace: vec![],
            planned_private: r.prior_private,
            diagnostics: vec![],
            planned_identity: None,
        }))
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Rpc<pb::apply_resource_change::Response> {
        let r = req.into_inner();
        let planned = decode(r.planned_state.as_ref(), "planned state")
            .map_err(|_| Status::invalid_argument("planned state"))?;
        Ok(Response::new(pb::apply_resource_change::Response {
            new_state: Some(encode(&known(planned))),
            private: vec![],
            diagnostics: vec![],
            new_identity: None,
        }))
    }

    async fn import_resource_state(
        &self,
        _req: Request<pb::import_resource_state::Request>,
    ) -> Rpc<pb::import_resource_state::Response> {
        Err(no_op())
    }

    async fn read_data_source(
        &self,
        _req: Request<pb::read_data_source::Request>,
    ) -> Rpc<pb::read_data_source::Response> {
        Err(no_op())
    }

    async fn generate_resource_config(
        &self,
        _req: Request<pb::generate_resource_config::Request>,
    ) -> Rpc<pb::generate_resource_config::Response> {
        Err(no_op())
    }

    type ListResourceStream = Stream<pb::list_resource::Event>;

    async fn list_resource(
        &self,
        _req: Request<pb::list_resource::Request>,
    ) -> Rpc<Self::ListResourceStream> {
        Err(no_op())
    }

    async fn validate_list_resource_config(
        &self,
        _req: Request<pb::validate_list_resource_config::Request>,
    ) -> Rpc<pb::validate_list_resource_config::Response> {
        Err(no_op())
    }

    async fn validate_action_config(
        &self,
        _req: Request<pb::validate_action_config::Request>,
    ) -> Rpc<pb::validate_action_config::Response> {
        Err(no_op())
    }

    async fn plan_action(
        &self,
        _req: Request<pb::plan_action::Request>,
    ) -> Rpc<pb::plan_action::Response> {
        Err(no_op())
    }

    type InvokeActionStream = Stream<pb::invoke_action::Event>;

    async fn invoke_action(
        &self,
        _req: Request<pb::invoke_action::Request>,
    ) -> Rpc<Self::InvokeActionStream> {
        Err(no_op())
    }

    async fn stop_provider(
        &self,
        _req: Request<pb::stop_provider::Request>,
    ) -> Rpc<pb::stop_provider::Response> {
        Ok(Response::new(pb::stop_provider::Response {
            error: String::new(),
        }))
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-floor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    if std::env::var(protocol::MAGIC_COOKIE_KEY).as_deref() != Ok(protocol::MAGIC_COOKIE_VALUE) {
        return Err("a Terraform plugin for the bench; Terraform starts it".into());
    }
    let schema = ecsx::provider::Provider::new()
        .resource_schemas()
        .remove(MODEL)
        .ok_or_else(|| format!("ecsx has no resource {MODEL}"))?;
    let client_pem = std::env::var("PLUGIN_CLIENT_CERT")
        .map_err(|_| "PLUGIN_CLIENT_CERT is not set".to_string())?;
    let client_cert = tls::client_cert_from_pem(&client_pem).map_err(|e| e.to_string())?;
    let identity = tls::ServerIdentity::generate().map_err(|e| e.to_string())?;
    let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let config = tls::server_config(&identity, client_cert).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        protocol::handshake_line(addr, &identity.handshake_cert())
    )
    .and_then(|_| out.flush())
    .map_err(|e| e.to_string())?;
    drop(out);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
        serve_service(listener, config, Floor { schema })
            .await
            .map_err(|e| e.to_string())
    })
}
