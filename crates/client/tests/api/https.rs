//! HTTPS with a deployment's own CA: nginx terminating TLS (with the certificate
//! `scripts/tls-cert.sh` makes, as `make keys` does) in front of the auth-service. The
//! library and the CLI trust that CA only when told to (`ca_cert` / `--ca-cert` /
//! `TESSERA_CA_CERT`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tessera_client::{ClientError, MemoryStore, Session};
use testkit::nginx::Nginx;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::helpers::{spawn_stack, temp_dir, PASSWORD};

/// A CA and a certificate for localhost from the script the deployment uses.
fn certificates(name: &str) -> PathBuf {
    let dir = temp_dir(name).join("tls");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/tls-cert.sh");
    let status = std::process::Command::new(script)
        .arg(&dir)
        .stdout(Stdio::null())
        .status()
        .expect("run scripts/tls-cert.sh (needs openssl)");
    assert!(status.success());
    dir
}

/// nginx serving HTTPS on a free port, proxying to `upstream`; returns it and its URL.
fn tls_front(tls: &Path, upstream: &str) -> (Nginx, String) {
    let port = testkit::free_port();
    let server = format!(
        "server {{\n  listen 127.0.0.1:{port} ssl;\n  ssl_certificate {cert};\n  \
         ssl_certificate_key {key};\n  location / {{ proxy_pass {upstream}; }}\n}}\n",
        cert = tls.join("cert.pem").display(),
        key = tls.join("key.pem").display(),
    );
    (
        Nginx::start(&server, port),
        format!("https://localhost:{port}"),
    )
}

fn session(url: &str, ca: Option<&Path>) -> Result<Session, ClientError> {
    let mut builder = Session::builder(url).store(Arc::new(MemoryStore::new()));
    if let Some(ca) = ca {
        builder = builder.ca_cert(ca);
    }
    builder.build()
}

#[tokio::test]
async fn the_library_trusts_the_deployments_ca_when_given_it_and_only_then() {
    let stack = spawn_stack(|_| {}).await;
    let tls = certificates("https-library");
    let (nginx, url) = tls_front(&tls, &stack.auth_url);

    let trusting = session(&url, Some(&tls.join("ca.pem"))).unwrap();
    if let Err(err) = trusting.register("tina", PASSWORD).await {
        panic!("{err}: {}", nginx.error_log());
    }
    trusting.login("tina", PASSWORD).await.unwrap();
    assert!(trusting.tokens().await.is_some());

    let untrusting = session(&url, None).unwrap();
    match untrusting.login("tina", PASSWORD).await {
        Err(ClientError::Transport { reason, .. }) => {
            assert!(reason.to_lowercase().contains("certificate"), "{reason}");
        }
        other => panic!("an unknown CA must fail the TLS handshake: {other:?}"),
    }

    // The wrong file, or a file that is no certificate: a clear setup error.
    let missing = session(&url, Some(&tls.join("nope.pem")));
    assert!(
        matches!(&missing, Err(ClientError::Setup(m)) if m.contains("cannot read the CA file")),
        "{missing:?}"
    );
    let not_pem = session(&url, Some(&tls.join("../")));
    assert!(matches!(not_pem, Err(ClientError::Setup(_))));
    std::fs::write(tls.join("empty.pem"), "no certificate here\n").unwrap();
    let empty = session(&url, Some(&tls.join("empty.pem")));
    assert!(
        matches!(&empty, Err(ClientError::Setup(m)) if m.contains("holds no PEM certificate")),
        "{empty:?}"
    );
}

/// `tessera register` over HTTPS; returns the exit code and stderr.
async fn cli_register(
    url: &str,
    username: &str,
    ca: Option<&Path>,
    config: &Path,
) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .args(["--auth-url", url, "register", username, "--password-stdin"])
        .env("TESSERA_CONFIG_DIR", config)
        .env_remove("TESSERA_CA_CERT")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(ca) = ca {
        command.env("TESSERA_CA_CERT", ca);
    }
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .await
        .unwrap();
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the CLI finishes")
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    (output.status.code().unwrap(), stderr)
}

#[tokio::test]
async fn the_cli_takes_the_ca_from_tessera_ca_cert() {
    let stack = spawn_stack(|_| {}).await;
    let tls = certificates("https-cli");
    let (_nginx, url) = tls_front(&tls, &stack.auth_url);
    let config = temp_dir("https-cli-profiles");

    let (code, stderr) = cli_register(&url, "cleo", None, &config).await;
    assert_eq!(code, 5, "unavailable without the CA: {stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");

    let (code, stderr) = cli_register(&url, "cleo", Some(&tls.join("ca.pem")), &config).await;
    assert_eq!(code, 0, "{stderr}");
}
