//! The wire layer: tonic services, `DynamicValue` codec, TLS and the go-plugin handshake.

pub mod codec;
pub mod convert;
mod guard;
mod serve;
pub mod server;

pub use serve::{serve, serve_service};
pub mod tls;

/// Generated from `proto/tfplugin6.proto`.
pub mod tfplugin6 {
    tonic::include_proto!("tfplugin6");
}

/// Generated from `proto/plugin.proto` (go-plugin's controller and stdio services).
pub mod plugin {
    tonic::include_proto!("plugin");
}

/// The value Terraform sets in `TF_PLUGIN_MAGIC_COOKIE` when it starts a provider.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

/// The go-plugin handshake line: core protocol 1, app protocol 6, the address, gRPC, the cert.
pub fn handshake_line(addr: std::net::SocketAddr, cert_b64: &str) -> String {
    format!("1|6|tcp|{addr}|grpc|{cert_b64}")
}
