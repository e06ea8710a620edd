//! The tasks-service's OpenAPI 3.1 document, served at `GET /openapi.json` and committed
//! as `docs/openapi/tasks-service.json` (a test keeps the copy current). Each operation is
//! declared by its handler's `#[utoipa::path]`; what every route shares comes from
//! [`service_kit::openapi::Shared`].

use service_kit::openapi::Shared;
use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;

use crate::routes::{admin, health, internal, me, tasks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera tasks-service",
        description = "A resource server: each user's own tasks, behind access tokens from \
                       the auth-service (verified locally, revocation included). Errors are \
                       `{\"error\", \"message\"}`; clients branch on `error`. Another \
                       user's task is 404, never 403.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        tasks::list,
        tasks::create,
        tasks::get,
        tasks::update,
        tasks::delete,
        me::me,
        admin::list,
        internal::purge_user,
        service_kit::health::healthz,
        health::readyz,
    ),
    modifiers(&Shared)
)]
struct ApiDoc;

/// The document.
pub fn document() -> Document {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_document_is_current() {
        if let Err(stale) =
            service_kit::openapi::check_committed(&document(), "docs/openapi/tasks-service.json")
        {
            panic!("{stale}");
        }
    }
}
