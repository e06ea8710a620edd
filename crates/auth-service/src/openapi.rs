//! The auth-service's OpenAPI 3.1 document, served at `GET /openapi.json` and committed as
//! `docs/openapi/auth-service.json` (a test keeps the copy current). Each operation is
//! declared by its handler's `#[utoipa::path]`; what every route shares comes from
//! [`service_kit::openapi::Shared`], the OAuth parts from [`OAuthParts`].

use service_kit::openapi::{string, Shared};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ObjectBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder, Schema, Type,
};
use utoipa::{Modify, OpenApi};

use crate::routes::{account, forward, health, oauth, session_list, tokens};

/// The reference to the OAuth endpoints' error body.
pub const OAUTH_ERROR: &str = "#/components/schemas/OAuthError";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera auth-service",
        description = "Registration, login, refresh-token rotation, sessions, OAuth 2.0 \
                       (RFC 6749, 7009, 7662, 8414) and the public keys. Errors are \
                       `{\"error\", \"message\"}` (`{\"error\", \"error_description\"}` on \
                       the OAuth endpoints); clients branch on `error`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        account::register,
        tokens::login,
        tokens::refresh,
        tokens::logout,
        tokens::logout_all,
        account::change_password,
        account::delete_account,
        session_list::me,
        forward::verify,
        session_list::list,
        session_list::revoke,
        oauth::token,
        oauth::revoke,
        oauth::introspect,
        oauth::metadata,
        health::jwks,
        service_kit::health::healthz,
        health::readyz,
    ),
    // OAuthParts first: Shared then gives its 503s `Retry-After` like every other.
    modifiers(&OAuthParts, &Shared)
)]
struct ApiDoc;

/// The document.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// The OAuth error body, the answers every form-encoded OAuth endpoint shares (408, 413,
/// 503 `temporarily_unavailable`, in that body), and the two client-side credentials
/// besides Bearer tokens: a confidential client's HTTP Basic and the browser's refresh
/// cookie.
#[derive(Debug)]
struct OAuthParts;

impl Modify for OAuthParts {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let oauth_error = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "RFC 6749 §5.2. (A request refused before the OAuth handler runs, e.g. an \
                 upgrade request, carries the services' `message` instead.)",
            ))
            .property("error", string("stable machine code"))
            .property(
                "error_description",
                ObjectBuilder::new().schema_type(Type::String),
            )
            .property("message", ObjectBuilder::new().schema_type(Type::String))
            .required("error");
        components.schemas.insert(
            "OAuthError".to_owned(),
            Schema::Object(oauth_error.build()).into(),
        );
        let basic = HttpBuilder::new()
            .scheme(HttpAuthScheme::Basic)
            .description(Some(
                "A confidential client: `base64(urlencode(id) \":\" urlencode(secret))` (RFC 6749 \
             §2.3.1), or `client_id` + `client_secret` in the form (not both). Public clients \
             send only `client_id`.",
            ));
        components.security_schemes.insert(
            "client_basic".to_owned(),
            RefOr::T(SecurityScheme::Http(basic.build())),
        );
        let cookie = ApiKeyValue::with_description(
            crate::browser::COOKIE_NAME,
            "Browser mode: the refresh token in the httpOnly cookie, with `X-Tessera-Client: \
             browser` and an allowed `Origin`.",
        );
        components.security_schemes.insert(
            "refresh_cookie".to_owned(),
            RefOr::T(SecurityScheme::ApiKey(ApiKey::Cookie(cookie))),
        );
        let shared = [
            ("408", "`invalid_request`: the body did not arrive in time"),
            ("413", "`invalid_request`: the body is over 16 KiB"),
            ("503", "`temporarily_unavailable`"),
        ];
        let forms = doc
            .paths
            .paths
            .values_mut()
            .filter_map(|item| item.post.as_mut());
        for operation in forms.filter(|operation| is_form(operation)) {
            for (status, description) in shared {
                let body = ContentBuilder::new()
                    .schema(Some(Ref::new(OAUTH_ERROR)))
                    .build();
                let response = ResponseBuilder::new()
                    .description(description)
                    .content("application/json", body);
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| response.build().into());
            }
        }
    }
}

/// Whether `operation` takes a form-encoded body (the OAuth endpoints).
fn is_form(operation: &Operation) -> bool {
    matches!(&operation.request_body,
        Some(RefOr::T(body)) if body.content.contains_key("application/x-www-form-urlencoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_document_is_current() {
        if let Err(stale) =
            service_kit::openapi::check_committed(&document(), "docs/openapi/auth-service.json")
        {
            panic!("{stale}");
        }
    }
}
