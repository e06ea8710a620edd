//! `eddsa` and `es256`: the auth-service signs with its private key file, publishes the
//! public half in its JWKS, and a tasks-service holding only the public key file verifies
//! its tokens — and refuses HS256 tokens, whatever secret signed them.

use std::path::PathBuf;

use auth_core::{Algorithm, ClaimsBuilder, Key, KeyRing, ManualClock};
use auth_service::Settings;
use reqwest::StatusCode;
use secrecy::SecretString;
use service_kit::settings::SigningMode;

use crate::helpers::{json_ok, kid, spawn_on, test_settings, SECRET};

const REFRESH_SECRET: &str = "refresh-successor-secret-0123456789abcdef";

fn write(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tessera-signing-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn asymmetric(settings: &mut Settings, mode: SigningMode, private: PathBuf) {
    settings.jwt.algorithm = mode;
    settings.jwt.secret = None;
    settings.jwt.private_key_file = Some(private);
    settings.refresh.secret = Some(SecretString::from(REFRESH_SECRET));
}

#[tokio::test]
async fn a_resource_server_with_only_the_public_key_verifies_the_tokens() {
    for (mode, alg) in [
        (SigningMode::Eddsa, Algorithm::EdDSA),
        (SigningMode::Es256, Algorithm::ES256),
    ] {
        let generated = Key::generate(alg).unwrap();
        let private = write(&format!("{alg}-private.pem"), &generated.private_pem);
        let public = write(
            &format!("{alg}-public.pem"),
            &generated.key.public_key_pem().unwrap(),
        );
        let clock = ManualClock::starting_now();
        let app = spawn_on(None, clock.clone(), |s| {
            asymmetric(s, mode, private.clone())
        })
        .await;

        // A resource server needs no secret in this mode.
        let tasks_url = testkit::support::spawn_tasks_service(&clock, |tasks| {
            tasks.jwt.algorithm = mode;
            tasks.jwt.public_key_files = vec![public.clone()];
        })
        .await;

        app.register("sigrid").await;
        let tokens = app.login("sigrid").await;
        let access = tokens["access_token"].as_str().unwrap();
        let jwks = app.jwks().await;
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1, "{jwks}");
        assert_eq!(jwks["keys"][0]["kid"], kid(access));
        assert_eq!(jwks["keys"][0]["alg"], alg.name());
        assert!(jwks["keys"][0].get("d").is_none(), "never the private half");

        let me = |token: String| {
            let request = app.client.get(format!("{tasks_url}/me")).bearer_auth(token);
            async move { request.send().await.unwrap() }
        };
        let response = me(access.to_owned()).await;
        assert_eq!(json_ok(response).await["role"], "user", "{mode:?}");
        let refreshed = app.refresh(tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(
            me(refreshed["access_token"].as_str().unwrap().to_owned())
                .await
                .status(),
            StatusCode::OK
        );

        // An HS256 token — even one signed with a secret some service once held — is refused.
        let forged = KeyRing::new(Key::hs256_fingerprinted(SECRET.as_bytes()).unwrap())
            .unwrap()
            .sign(
                &ClaimsBuilder::user("tessera", "tasks", "intruder", "sid")
                    .build(auth_core::Clock::now(&clock))
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(me(forged).await.status(), StatusCode::UNAUTHORIZED);
        for path in [private, public] {
            std::fs::remove_file(path).unwrap();
        }
    }
}

#[tokio::test]
async fn asymmetric_mode_needs_its_own_refresh_secret() {
    let generated = Key::generate(Algorithm::EdDSA).unwrap();
    let private = write("refresh-check-private.pem", &generated.private_pem);
    let mut settings = test_settings();
    asymmetric(&mut settings, SigningMode::Eddsa, private.clone());
    settings.refresh.secret = None;
    let err = auth_service::Application::build(settings)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("AUTH__REFRESH__SECRET"), "{err}");
    std::fs::remove_file(private).unwrap();
}
