//! OAuth 2.0 clients (RFC 6749 §2): who may ask `/oauth/token` for what, client
//! authentication and scopes ([`clients`]), the RFC 6749 §5.2 error shape of the OAuth
//! endpoints ([`error`]), and the parsing of what clients send ([`wire`]).
//!
//! Two kinds of client:
//! - **public** first-party clients (`tessera-cli`, `tessera-web` by default) identify
//!   themselves with `client_id` alone and may use the `password` and `refresh_token`
//!   grants (RFC 6749 §2.1: they cannot keep a secret, so none is asked for);
//! - **confidential** clients (services) are configured with an id, the SHA-256 of a
//!   generated secret and the scopes they may be granted; they authenticate with HTTP
//!   Basic or `client_secret_post` and use the `client_credentials` grant.
//!
//! Secrets are 256-bit random values made by `auth-service clients new`, so a fast hash
//! is enough (nothing to brute-force) and only the hash is ever configured.

mod clients;
mod error;
pub mod wire;

pub use self::clients::{grant_scopes, new_secret, Client, Clients, Presented};
pub use self::error::OAuthError;
pub use crate::config::ClientSettings;

#[cfg(test)]
mod tests {
    use super::*;

    fn clients() -> (Clients, String) {
        let (secret, hash) = new_secret().unwrap();
        let clients = Clients::new(
            &["tessera-cli".to_owned()],
            &[ClientSettings {
                id: "billing".into(),
                secret_sha256: hash,
                scopes: vec!["tasks:read".into(), "tasks:purge".into()],
            }],
        )
        .unwrap();
        (clients, secret)
    }

    #[test]
    fn public_clients_need_only_their_id_and_confidential_ones_their_secret() {
        let (clients, secret) = clients();
        let public = Presented {
            body_id: Some("tessera-cli"),
            ..Presented::default()
        };
        assert_eq!(
            clients.authenticate(&public).unwrap(),
            Client::Public("tessera-cli".into())
        );

        let basic = Presented {
            basic: Some(("billing".into(), secret.clone())),
            ..Presented::default()
        };
        assert_eq!(clients.authenticate(&basic).unwrap().id(), "billing");
        let post = Presented {
            body_id: Some("billing"),
            body_secret: Some(&secret),
            ..Presented::default()
        };
        assert_eq!(clients.authenticate(&post).unwrap().id(), "billing");

        for (presented, code) in [
            (
                Presented {
                    body_id: Some("billing"),
                    ..Presented::default()
                },
                "invalid_client",
            ),
            (
                Presented {
                    body_id: Some("nobody"),
                    ..Presented::default()
                },
                "invalid_client",
            ),
            (Presented::default(), "invalid_client"),
            (
                Presented {
                    basic: Some(("billing".into(), "wrong".into())),
                    ..Presented::default()
                },
                "invalid_client",
            ),
            (
                Presented {
                    body_id: Some("tessera-cli"),
                    body_secret: Some(&secret),
                    ..Presented::default()
                },
                "invalid_client",
            ),
            (
                Presented {
                    basic: Some(("billing".into(), secret.clone())),
                    body_secret: Some(&secret),
                    ..Presented::default()
                },
                "invalid_request",
            ),
            (
                Presented {
                    basic: Some(("billing".into(), secret.clone())),
                    body_id: Some("tessera-cli"),
                    ..Presented::default()
                },
                "invalid_request",
            ),
        ] {
            assert_eq!(
                clients.authenticate(&presented).unwrap_err().code(),
                code,
                "{presented:?}"
            );
        }
    }

    #[test]
    fn scopes_are_granted_only_from_the_allowed_set() {
        let allowed = ["tasks:read".to_owned(), "tasks:purge".to_owned()];
        assert_eq!(
            grant_scopes(None, &allowed).unwrap(),
            "tasks:read tasks:purge"
        );
        assert_eq!(
            grant_scopes(Some(""), &allowed).unwrap(),
            "tasks:read tasks:purge"
        );
        assert_eq!(
            grant_scopes(Some("tasks:purge"), &allowed).unwrap(),
            "tasks:purge"
        );
        assert_eq!(
            grant_scopes(Some("tasks:purge tasks:read tasks:purge"), &allowed).unwrap(),
            "tasks:purge tasks:read",
            "each scope once"
        );
        assert_eq!(
            grant_scopes(Some("tasks:admin"), &allowed)
                .unwrap_err()
                .code(),
            "invalid_scope"
        );
    }

    #[test]
    fn bad_configuration_is_refused_with_the_reason() {
        let client = |id: &str, hash: &str, scope: &str| ClientSettings {
            id: id.into(),
            secret_sha256: hash.into(),
            scopes: vec![scope.into()],
        };
        let (_, hash) = new_secret().unwrap();
        let cases = [
            (
                vec!["tessera-cli".to_owned()],
                vec![client("tessera-cli", &hash, "a")],
                "twice",
            ),
            (vec![], vec![client("has space", &hash, "a")], "must be"),
            (
                vec![],
                vec![client("svc", "not-a-hash", "a")],
                "secret_sha256",
            ),
            (
                vec![],
                vec![client("svc", &hash, "bad\"scope")],
                "invalid scope",
            ),
        ];
        for (public, confidential, expected) in cases {
            let err = Clients::new(&public, &confidential).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }
}
