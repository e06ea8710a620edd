//! What every service's OpenAPI document (`GET /openapi.json`) shares. Each handler's
//! `#[utoipa::path]` declares only its own outcomes; [`Shared`] adds, to every operation,
//! the answers the common stack gives whatever the route:
//!
//! - 400 with the error body (malformed JSON or query, `upgrade_not_supported`,
//!   `cors_rejected` — [`crate::http`]'s edges);
//! - for a JSON request body: 408 (it did not arrive in time), 413, 415;
//! - for a Bearer-protected operation: 401 `invalid_token` with its RFC 6750 challenge,
//!   403 `insufficient_scope` where the route requires a role or scope, and 503
//!   `revocation_stale`;
//! - a `Retry-After` header on every 429 and 503;
//!
//! and the skeleton's own operations, `GET /openapi.json` and `GET /metrics`.

use std::collections::BTreeMap;

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ObjectBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder, Schema, Type,
};
use utoipa::Modify;

/// The Bearer security scheme's name in the documents.
pub const BEARER: &str = "bearer";

/// The reference to the common error body `{"error", "message"}`.
pub const ERROR: &str = "#/components/schemas/Error";

/// Adds the shared responses, the error body and the Bearer scheme (see the module docs).
#[derive(Debug)]
pub struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let error_body = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Every error of the services' own API: branch on `error`; `message` is for \
                 people and never echoes the input.",
            ))
            .property("error", string("stable machine code"))
            .property("message", ObjectBuilder::new().schema_type(Type::String))
            .required("error")
            .required("message");
        components.schemas.insert(
            "Error".to_owned(),
            Schema::Object(error_body.build()).into(),
        );
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "An access token from the auth-service, in exactly one `Authorization: \
                 Bearer` header (never the query string).",
            ));
        components.security_schemes.insert(
            BEARER.to_owned(),
            RefOr::T(SecurityScheme::Http(bearer.build())),
        );
        // The skeleton's own routes (server.rs), in every service's document.
        let meta = [
            (
                "/openapi.json",
                "openapi",
                "this document",
                "application/json",
                Type::Object,
            ),
            (
                "/metrics",
                "metrics",
                "Prometheus text format",
                "text/plain",
                Type::String,
            ),
        ];
        for (path, id, what, media, kind) in meta {
            let body = ContentBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(kind)))
                .build();
            let ok = ResponseBuilder::new()
                .description(what)
                .content(media, body);
            let operation = OperationBuilder::new()
                .operation_id(Some(id))
                .tag("operations")
                .summary(Some(what))
                .response("200", ok.build());
            doc.paths
                .paths
                .insert(path.to_owned(), PathItem::new(HttpMethod::Get, operation));
        }
        let bearer = SecurityRequirement::new(BEARER, Vec::<String>::new());
        for item in doc.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let secured = operation.security.iter().flatten().any(|r| *r == bearer);
                add_shared(operation, secured);
            }
        }
    }
}

fn add_shared(operation: &mut Operation, secured: bool) {
    let json_body = matches!(&operation.request_body,
        Some(RefOr::T(body)) if body.content.contains_key("application/json"));
    let responses = &mut operation.responses.responses;
    add(
        responses,
        "400",
        error("malformed input: `invalid_json`, `validation_failed`, `upgrade_not_supported`, `cors_rejected`"),
    );
    if json_body {
        add(
            responses,
            "408",
            error("`request_timeout`: the body did not arrive in time; the connection closes"),
        );
        add(
            responses,
            "413",
            error("`payload_too_large`: the body is over 16 KiB"),
        );
        add(
            responses,
            "415",
            error("`unsupported_media_type`: not the documented content type"),
        );
    }
    if secured {
        let challenge = HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .description(Some(
                "RFC 6750 challenge: `Bearer realm=\"tessera\", error=…, error_description=…`",
            ))
            .build();
        let mut unauthorized = error(
            "`invalid_token`: no token, not exactly one `Bearer` header, or a token that is \
             malformed, expired, signed by an unknown key, for another audience or revoked",
        );
        unauthorized
            .headers
            .insert("WWW-Authenticate".to_owned(), challenge.into());
        add(responses, "401", unauthorized);
        const STALE: &str =
            "`revocation_stale`: this instance cannot tell whether the token was revoked";
        match responses.get_mut("503") {
            Some(RefOr::T(own)) => own.description = format!("{}; {STALE}", own.description),
            _ => add(responses, "503", error(STALE)),
        }
    }
    for (status, response) in responses.iter_mut() {
        if let (RefOr::T(response), "429" | "503") = (response, status.as_str()) {
            let retry_after = HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                ))
                .description(Some("seconds to wait before trying again"))
                .build();
            response
                .headers
                .entry("Retry-After".to_owned())
                .or_insert_with(|| retry_after.into());
        }
    }
}

fn add(responses: &mut BTreeMap<String, RefOr<Response>>, status: &str, response: Response) {
    responses
        .entry(status.to_owned())
        .or_insert_with(|| response.into());
}

/// A response with the common error body.
pub fn error(description: &str) -> Response {
    let body = ContentBuilder::new().schema(Some(Ref::new(ERROR))).build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", body)
        .build()
}

/// A string schema with a description.
pub fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

/// Checks that the copy of `doc` committed at `path` (relative to the workspace root) is
/// current; with `UPDATE_OPENAPI=1` in the environment, rewrites it instead. For each
/// service's test of its committed document.
pub fn check_committed(doc: &OpenApi, path: &str) -> Result<(), String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let file = root.join(path);
    let current = doc.to_pretty_json().map_err(|e| e.to_string())? + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        return std::fs::write(&file, current).map_err(|e| format!("{}: {e}", file.display()));
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    if committed == current {
        Ok(())
    } else {
        Err(format!(
            "{path} is not the document the code generates: run `make openapi` and commit it"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use utoipa::OpenApi as _;

    /// A document with one open and one Bearer-protected operation.
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(open, protected), modifiers(&Shared))]
    struct Doc;

    #[utoipa::path(get, path = "/open", responses((status = 200, description = "ok")))]
    #[allow(dead_code)]
    async fn open() {}

    #[utoipa::path(
        post,
        path = "/protected",
        request_body(content = String, content_type = "application/json"),
        security(("bearer" = [])),
        responses((status = 204, description = "done"), (status = 503, description = "`store_unavailable`"))
    )]
    #[allow(dead_code)]
    async fn protected() {}

    fn statuses(doc: &OpenApi, path: &str) -> Vec<String> {
        let item = &doc.paths.paths[path];
        let operation = item.get.as_ref().or(item.post.as_ref()).unwrap();
        operation.responses.responses.keys().cloned().collect()
    }

    #[test]
    fn every_operation_gets_the_edges_answers_and_protected_ones_the_bearer_answers() {
        let doc = Doc::openapi();
        assert_eq!(statuses(&doc, "/open"), ["200", "400"]);
        assert_eq!(statuses(&doc, "/metrics"), ["200", "400"]);
        assert_eq!(
            statuses(&doc, "/protected"),
            ["204", "400", "401", "408", "413", "415", "503"]
        );
        let json: Value = serde_json::from_str(&doc.to_json().unwrap()).unwrap();
        let protected = &json["paths"]["/protected"]["post"]["responses"];
        // An operation's own 503 is kept, and gains the Bearer reason and Retry-After.
        assert!(protected["503"]["description"]
            .as_str()
            .unwrap()
            .starts_with("`store_unavailable`; `revocation_stale`"));
        assert!(protected["503"]["headers"]["Retry-After"].is_object());
        assert!(protected["401"]["headers"]["WWW-Authenticate"].is_object());
        assert_eq!(
            protected["401"]["content"]["application/json"]["schema"]["$ref"],
            ERROR
        );
        assert_eq!(
            json["components"]["securitySchemes"][BEARER]["scheme"],
            "bearer"
        );
        assert_eq!(
            json["components"]["schemas"]["Error"]["required"],
            json!(["error", "message"])
        );
    }
}
