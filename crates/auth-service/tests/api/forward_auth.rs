//! `GET /auth/verify` behind a real nginx with `auth_request`, protecting a plain upstream
//! that has no auth code (another nginx server block echoing the headers it received).

use auth_core::ManualClock;
use reqwest::StatusCode;
use serde_json::json;
use testkit::nginx::Nginx;

use crate::helpers::{spawn_on, token, TestApp};
use crate::oauth::{billing_client, CLIENT_ID, CLIENT_SECRET};

/// The gateway: `/api/` needs a token verified by the auth-service; what it learns goes
/// upstream as `X-Auth-*` headers, replacing any the client sent.
fn gateway(app: &TestApp, port: u16, upstream: u16) -> String {
    let auth = app.address.trim_start_matches("http://");
    format!(
        r#"
  server {{
    listen 127.0.0.1:{port};
    location = /_auth {{
      internal;
      proxy_pass http://{auth}/auth/verify;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
    }}
    location /api/ {{
      auth_request /_auth;
      auth_request_set $subject $upstream_http_x_auth_subject;
      auth_request_set $role $upstream_http_x_auth_role;
      auth_request_set $session $upstream_http_x_auth_session;
      auth_request_set $scope $upstream_http_x_auth_scope;
      proxy_set_header X-Auth-Subject $subject;
      proxy_set_header X-Auth-Role $role;
      proxy_set_header X-Auth-Session $session;
      proxy_set_header X-Auth-Scope $scope;
      proxy_set_header Authorization "";
      proxy_pass http://127.0.0.1:{upstream}/;
    }}
  }}
  server {{
    listen 127.0.0.1:{upstream};
    location / {{
      return 200 "subject=$http_x_auth_subject role=$http_x_auth_role session=$http_x_auth_session scope=$http_x_auth_scope authorization=$http_authorization\n";
    }}
  }}"#
    )
}

#[tokio::test]
async fn nginx_auth_request_lets_verified_callers_through_with_who_they_are() {
    let app = spawn_on(None, ManualClock::starting_now(), |settings| {
        settings.oauth.clients = vec![billing_client()];
    })
    .await;
    let (port, upstream) = (testkit::free_port(), testkit::free_port());
    let nginx = Nginx::start(&gateway(&app, port, upstream), port);
    let url = format!("http://127.0.0.1:{port}/api/report");
    let get = |token: Option<&str>, forged: Option<&str>| {
        let mut request = app.client.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(subject) = forged {
            request = request.header("X-Auth-Subject", subject);
        }
        async move { request.send().await.unwrap() }
    };

    let nobody = get(None, Some("admin-id")).await;
    assert_eq!(
        nobody.status(),
        StatusCode::UNAUTHORIZED,
        "{}",
        nginx.error_log()
    );
    let challenge = nobody.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer realm="), "{challenge}");

    app.register("olga").await;
    let olga = app.login("olga").await;
    let access = token(&olga, "access_token");
    let through = get(Some(access), Some("admin-id")).await;
    assert_eq!(through.status(), StatusCode::OK);
    let seen = through.text().await.unwrap();
    let me = json_ok_me(&app, access).await;
    assert_eq!(
        seen.trim(),
        format!(
            "subject={} role=user session={} scope= authorization=",
            me,
            olga["session_id"].as_str().unwrap()
        ),
        "the upstream sees the verified caller, not the forged header nor the token"
    );

    let service = app
        .form(
            "/oauth/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:read"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ],
        )
        .await;
    let service: serde_json::Value = service.json().await.unwrap();
    let seen = get(Some(token(&service, "access_token")), None).await;
    let seen = seen.text().await.unwrap();
    assert!(
        seen.starts_with(&format!("subject=svc:{CLIENT_ID} role=service ")),
        "{seen}"
    );
    assert!(seen.contains("scope=reports:read "), "{seen}");

    let logout = json!({ "refresh_token": token(&olga, "refresh_token") });
    assert_eq!(app.post("/auth/logout", &logout).await.status(), 204);
    let revoked = get(Some(access), None).await;
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    let challenge = revoked.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("token has been revoked"), "{challenge}");
}

/// The user id `GET /auth/me` names for `access`.
async fn json_ok_me(app: &TestApp, access: &str) -> String {
    let me = crate::helpers::json_ok(app.get_bearer("/auth/me", access).await).await;
    me["user_id"].as_str().unwrap().to_owned()
}
