//! The HTTP surface. Every route that needs a caller takes `Authenticated` first, so a
//! bad token is a 401 before any input is looked at.

pub(crate) mod admin;
pub mod health;
pub(crate) mod internal;
pub(crate) mod me;
pub(crate) mod tasks;

use actix_web::web;
use service_kit::http::method_not_allowed;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Named after its pattern: the metrics' `route` label.
    let resource = |path: &str| {
        web::resource(path)
            .name(path)
            .default_service(web::to(method_not_allowed))
    };
    cfg.service(
        resource("/tasks")
            .route(web::get().to(tasks::list))
            .route(web::post().to(tasks::create)),
    )
    .service(
        resource("/tasks/{id}")
            .route(web::get().to(tasks::get))
            .route(web::patch().to(tasks::update))
            .route(web::delete().to(tasks::delete)),
    )
    .service(resource("/me").route(web::get().to(me::me)))
    .service(resource("/admin/tasks").route(web::get().to(admin::list)))
    .service(resource("/internal/users/{id}/tasks").route(web::delete().to(internal::purge_user)))
    .service(resource("/healthz").route(web::get().to(service_kit::health::healthz)))
    .service(resource("/readyz").route(web::get().to(health::readyz)));
}
