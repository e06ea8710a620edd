//! A stock OAuth 2.0 client library (the `oauth2` crate, unmodified; only its HTTP
//! transport is plugged in, as its API intends) completes the password, refresh and
//! client-credentials flows against `/oauth/token`. (Its RFC 7009 revocation refuses any
//! non-HTTPS URL, so revocation over loopback is tested with plain requests in `oauth.rs`.)

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    ClientId, ClientSecret, HttpRequest, HttpResponse, RequestTokenError, ResourceOwnerPassword,
    ResourceOwnerUsername, Scope, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;

use crate::helpers::{resource_server_verifier, Backend, PASSWORD};
use crate::oauth::{spawn_oauth_app, CLIENT_ID, CLIENT_SECRET};

/// The library's transport: one HTTP exchange with the workspace's reqwest.
async fn send(
    client: reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut reply = oauth2::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        reply = reply.header(name, value);
    }
    Ok(reply
        .body(response.bytes().await?.to_vec())
        .expect("a valid response"))
}

#[tokio::test]
async fn the_oauth2_crate_runs_every_flow() {
    let app = spawn_oauth_app(Backend::Redis).await;
    app.register("libby").await;
    let http_client = app.client.clone();
    let http = move |request| send(http_client.clone(), request);
    let token_url = TokenUrl::new(app.url("/oauth/token")).unwrap();
    let verifier = resource_server_verifier(&app.clock);

    // A public client: password, then refresh (rotating).
    let cli =
        BasicClient::new(ClientId::new("tessera-cli".into())).set_token_uri(token_url.clone());
    let first = cli
        .exchange_password(
            &ResourceOwnerUsername::new("libby".into()),
            &ResourceOwnerPassword::new(PASSWORD.into()),
        )
        .request_async(&http)
        .await
        .unwrap();
    verifier.verify(first.access_token().secret()).unwrap();
    assert_eq!(first.expires_in().unwrap().as_secs(), 600);
    let refresh = first.refresh_token().unwrap();
    let second = cli
        .exchange_refresh_token(refresh)
        .request_async(&http)
        .await
        .unwrap();
    let rotated = second.refresh_token().unwrap();
    assert_ne!(rotated.secret(), refresh.secret());
    verifier.verify(second.access_token().secret()).unwrap();
    let spent = cli
        .exchange_refresh_token(refresh)
        .request_async(&http)
        .await;
    assert!(
        spent.is_ok(),
        "the just-spent token within the grace window converges"
    );
    let after = app.refresh_response(rotated.secret()).await;
    assert_eq!(after.status(), StatusCode::OK, "the chain goes on");

    // A confidential client: client credentials with HTTP Basic (the library's default).
    let service = BasicClient::new(ClientId::new(CLIENT_ID.into()))
        .set_client_secret(ClientSecret::new(CLIENT_SECRET.into()))
        .set_token_uri(token_url.clone());
    let token = service
        .exchange_client_credentials()
        .add_scope(Scope::new("tasks:purge".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(
        token.scopes().unwrap(),
        &vec![Scope::new("tasks:purge".into())]
    );
    let claims = verifier.verify(token.access_token().secret()).unwrap();
    assert_eq!(claims.sub, format!("svc:{CLIENT_ID}"));

    // The library reads our errors as RFC 6749 errors.
    let impostor = BasicClient::new(ClientId::new(CLIENT_ID.into()))
        .set_client_secret(ClientSecret::new("guessed".into()))
        .set_token_uri(token_url);
    let err = impostor
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .unwrap_err();
    match err {
        RequestTokenError::ServerResponse(response) => {
            assert_eq!(*response.error(), BasicErrorResponseType::InvalidClient);
        }
        other => panic!("expected invalid_client, got {other:?}"),
    }
}
