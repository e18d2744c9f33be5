//! Listings (`terraform query`): what one result carries and where a listing sends them.

use crate::diag::Diagnostics;
use crate::schema::{IdentitySchema, Schema};
use crate::value::Value;
use tokio::sync::mpsc;

/// One result of a listing: an object that could be imported, or (identity Null) a warning
/// about one that cannot.
#[derive(Debug, Clone, Default)]
pub struct Listed {
    pub identity: Value,
    pub display_name: String,
    /// The state import would build; only when the request asked for it.
    pub resource: Option<Value>,
    pub diagnostics: Diagnostics,
}

/// Where a listing sends its results. It ends the listing at the requested limit or when
/// Terraform stops reading.
pub struct ListSink {
    tx: mpsc::Sender<Listed>,
    remaining: Option<i64>,
    include_resource: bool,
    /// The resource and identity schemas results are conformed to.
    shape: Option<(Schema, Option<IdentitySchema>)>,
}

impl ListSink {
    /// `limit` of 0 or less means no limit.
    pub fn new(tx: mpsc::Sender<Listed>, limit: i64, include_resource: bool) -> Self {
        ListSink {
            tx,
            remaining: (limit > 0).then_some(limit),
            include_resource,
            shape: None,
        }
    }

    /// Makes every result carry exactly these schemas' attributes.
    pub fn set_shape(&mut self, schema: Schema, identity: Option<IdentitySchema>) {
        self.shape = Some((schema, identity));
    }

    /// Whether results should carry the full resource object.
    pub fn include_resource(&self) -> bool {
        self.include_resource
    }

    /// False once no more results are wanted.
    pub fn wants_more(&self) -> bool {
        self.remaining.is_none_or(|n| n > 0) && !self.tx.is_closed()
    }

    /// Sends one importable object, with warnings about adopting it (`notes`); false once no
    /// more are wanted.
    pub async fn found(
        &mut self,
        identity: Value,
        display_name: String,
        resource: Value,
        notes: Diagnostics,
    ) -> bool {
        if !self.wants_more() {
            return false;
        }
        let (identity, resource) = match &self.shape {
            Some((schema, id_schema)) => (
                id_schema
                    .as_ref()
                    .map_or(identity.clone(), |s| s.conform(&identity)),
                schema.block.conform(&resource),
            ),
            None => (identity, resource),
        };
        let item = Listed {
            identity,
            display_name,
            resource: self.include_resource.then_some(resource),
            diagnostics: notes,
        };
        if self.tx.send(item).await.is_err() {
            return false;
        }
        if let Some(n) = &mut self.remaining {
            *n -= 1;
        }
        self.wants_more()
    }

    /// Reports an object that cannot be adopted: a warning naming the reason. It does not
    /// count toward the limit.
    pub async fn skipped(&mut self, diagnostics: Diagnostics) -> bool {
        if self.tx.is_closed() {
            return false;
        }
        let item = Listed {
            diagnostics,
            ..Default::default()
        };
        self.tx.send(item).await.is_ok() && self.wants_more()
    }
}
