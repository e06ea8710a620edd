//! The wire: the HTTP client every session uses, sending requests, and reading answers —
//! the expected JSON body, or the service's error body (Tessera's `{"error","message"}` or
//! OAuth2's RFC 6749 §5.2 shape) as a [`ClientError`].

use std::path::Path;
use std::sync::Once;
use std::time::Duration;

use reqwest::header::RETRY_AFTER;
use reqwest::{Certificate, Client, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::ClientError;

/// Default timeout of one HTTP request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The default HTTP client: rustls (ring provider, platform trust store), a request
/// timeout, no redirects (a redirected token request is a misconfiguration to surface).
pub fn http_client() -> Result<Client, ClientError> {
    http_client_trusting(None)
}

/// [`http_client`] that also trusts the CA certificates of the PEM file `ca_file`, when
/// given: a deployment's own CA (`keys/tls/ca.pem` from `make keys`), besides the
/// platform's.
pub fn http_client_trusting(ca_file: Option<&Path>) -> Result<Client, ClientError> {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // Fails only if the process already chose a provider, which is then used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    let mut builder = Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tessera-client/", env!("CARGO_PKG_VERSION")));
    if let Some(file) = ca_file {
        for certificate in ca_certificates(file)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build().map_err(|err| ClientError::transport(&err))
}

/// The certificates of a PEM file; none at all is an error too (the wrong file).
fn ca_certificates(file: &Path) -> Result<Vec<Certificate>, ClientError> {
    let shown = file.display();
    let pem = std::fs::read(file)
        .map_err(|err| ClientError::Setup(format!("cannot read the CA file {shown}: {err}")))?;
    match Certificate::from_pem_bundle(&pem) {
        Ok(certificates) if !certificates.is_empty() => Ok(certificates),
        Ok(_) => Err(ClientError::Setup(format!(
            "the CA file {shown} holds no PEM certificate"
        ))),
        Err(err) => Err(ClientError::Setup(format!(
            "the CA file {shown} is not PEM certificates: {err}"
        ))),
    }
}

/// Sends a request, mapping a failure to reach the service to [`ClientError::Transport`].
pub(crate) async fn send(request: RequestBuilder) -> Result<Response, ClientError> {
    request
        .send()
        .await
        .map_err(|err| ClientError::transport(&err))
}

/// The JSON body of a response that should have `expected` status; anything else becomes
/// the service's error.
pub(crate) async fn json_body<T: DeserializeOwned>(
    response: Response,
    expected: StatusCode,
) -> Result<T, ClientError> {
    if response.status() != expected {
        return Err(error_from(response).await);
    }
    let url = response.url().to_string();
    response.json().await.map_err(|err| ClientError::Protocol {
        url,
        detail: format!("the body is not the expected JSON: {err}"),
    })
}

/// Success without a body (204), or the service's error.
pub(crate) async fn empty_body(response: Response) -> Result<(), ClientError> {
    if response.status().is_success() {
        return Ok(());
    }
    Err(error_from(response).await)
}

/// An error body: Tessera's `{"error","message"}`, or OAuth2's `{"error",
/// "error_description"}` (RFC 6749 §5.2, whose description is optional).
#[derive(Deserialize)]
struct WireError {
    error: String,
    #[serde(alias = "error_description")]
    message: Option<String>,
}

/// The service's JSON error as [`ClientError::Api`]; a body that is not one (a proxy's
/// error page, a wrong URL) as [`ClientError::Protocol`].
pub(crate) async fn error_from(response: Response) -> ClientError {
    let status = response.status();
    let url = response.url().to_string();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok()?.parse().ok());
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<WireError>(&text) {
        Ok(body) => ClientError::Api {
            status: status.as_u16(),
            message: body.message.unwrap_or_else(|| body.error.clone()),
            code: body.error,
            retry_after,
        },
        Err(_) => ClientError::Protocol {
            url,
            detail: format!("HTTP {status} without Tessera's JSON error body"),
        },
    }
}
