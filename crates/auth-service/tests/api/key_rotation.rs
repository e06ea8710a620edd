//! Rotating keys (`AUTH__JWT__KEYS_DIR`) with a tasks-service that fetches the JWKS
//! (`TASKS__JWT__JWKS_URL`) through a pass-through that counts the fetches and can play
//! dead. Time moves only through the shared `ManualClock`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use auth_core::{Algorithm, ClaimsBuilder, Clock, Key, KeyRing, ManualClock};
use auth_service::keys::set::{self as keyset, Rotated};
use auth_service::Settings;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use service_kit::settings::SigningMode;
use tokio::task::JoinSet;

use crate::helpers::{kid, spawn_on, test_settings, token, TestApp};

const ACCESS_TTL: u64 = 300;

fn key_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-rotation-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Settings of an auth-service signing with the key set in `dir`, reloading every second
/// and letting resource servers cache its JWKS for a minute.
fn with_key_set(settings: &mut Settings, dir: &Path) {
    settings.jwt.algorithm = SigningMode::Eddsa;
    settings.jwt.secret = None;
    settings.jwt.keys_dir = Some(dir.to_owned());
    settings.jwt.keys_reload_secs = 1;
    settings.jwt.jwks_max_age_secs = 60;
    settings.access_ttl_secs = ACCESS_TTL;
    settings.refresh.secret = Some(SecretString::from(
        "rotation-refresh-secret-0123456789abcdef",
    ));
}

/// The JWKS pass-through: counts the fetches, answers 503 while `down`.
struct JwksProxy {
    upstream: String,
    http: reqwest::Client,
    fetches: AtomicUsize,
    down: AtomicBool,
}

async fn pass_jwks(proxy: web::Data<JwksProxy>) -> HttpResponse {
    proxy.fetches.fetch_add(1, Ordering::SeqCst);
    if proxy.down.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let response = proxy.http.get(&proxy.upstream).send().await.unwrap();
    let mut reply = HttpResponse::Ok();
    if let Some(cache) = response.headers().get("cache-control") {
        reply.insert_header(("cache-control", cache.as_bytes()));
    }
    reply
        .content_type("application/json")
        .body(response.bytes().await.unwrap())
}

/// A proxy to `app`'s JWKS on a free port; its URL and its counters.
fn spawn_proxy(app: &TestApp) -> (String, web::Data<JwksProxy>) {
    let proxy = web::Data::new(JwksProxy {
        upstream: app.url("/.well-known/jwks.json"),
        http: testkit::http::client(),
        fetches: AtomicUsize::new(0),
        down: AtomicBool::new(false),
    });
    let data = proxy.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/jwks.json", web::get().to(pass_jwks))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let url = format!("http://{}/jwks.json", server.addrs()[0]);
    tokio::spawn(server.run());
    (url, proxy)
}

/// A tasks-service verifying with the JWKS at `jwks_url`; its base URL.
async fn spawn_tasks(clock: &ManualClock, jwks_url: &str, min_interval: u64) -> String {
    testkit::support::spawn_tasks_service(clock, |settings| {
        settings.jwt.algorithm = SigningMode::Eddsa;
        settings.jwt.jwks_url = Some(jwks_url.to_owned());
        settings.jwt.jwks_min_interval_secs = min_interval;
    })
    .await
}

/// Waits (in real time, at most 10 s) until `done` holds.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, done: impl FnMut() -> F) {
    testkit::support::eventually(what, Duration::from_secs(10), done).await;
}

async fn published_kids(app: &TestApp) -> Vec<String> {
    app.jwks().await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// What the calling client saw: status and signing `kid` of every `/tasks` call.
#[derive(Default)]
struct Seen {
    calls: Vec<(StatusCode, String)>,
}

impl Seen {
    fn ok_with(&self, kid: &str) -> usize {
        self.calls
            .iter()
            .filter(|(status, used)| *status == StatusCode::OK && used == kid)
            .count()
    }
}

/// The acceptance test: a client refreshes and calls the tasks-service without pause while
/// the keys go next → active → retired → dropped; not one call fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_under_load_without_a_single_failed_call() {
    let dir = key_dir("load");
    let clock = ManualClock::starting_now();
    let first = keyset::generate(&dir, Algorithm::EdDSA, clock.now()).unwrap();
    let app = spawn_on(None, clock.clone(), |s| with_key_set(s, &dir)).await;
    let (jwks_url, proxy) = spawn_proxy(&app);
    let tasks = spawn_tasks(&clock, &jwks_url, 10).await;
    assert_eq!(
        app.client
            .get(format!("{tasks}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    app.register("rotor").await;
    let login = app.login("rotor").await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (http, refresh_url) = (app.client.clone(), app.url("/auth/refresh"));
        let tasks_url = format!("{tasks}/tasks");
        let (seen, stop) = (seen.clone(), stop.clone());
        let mut refresh_token = token(&login, "refresh_token").to_owned();
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let tokens: Value = http
                    .post(&refresh_url)
                    .json(&serde_json::json!({ "refresh_token": refresh_token }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                refresh_token = token(&tokens, "refresh_token").to_owned();
                let access = token(&tokens, "access_token").to_owned();
                for _ in 0..3 {
                    let status = http
                        .get(&tasks_url)
                        .bearer_auth(&access)
                        .send()
                        .await
                        .unwrap()
                        .status();
                    seen.lock().unwrap().calls.push((status, kid(&access)));
                }
            }
        })
    };
    let calls = || seen.lock().unwrap().calls.len();
    // Lets the client make a few more calls at the current time before it moves on.
    let settle = || async {
        let from = calls();
        eventually("the client keeps calling", async || calls() >= from + 6).await;
    };
    // Moves the clock by `total` seconds in steps shorter than an access token's life, so
    // expiry never explains a 401.
    let advance = |total: u64| {
        let clock = clock.clone();
        async move {
            let mut left = total;
            while left > 0 {
                let step = left.min(50);
                clock.advance(Duration::from_secs(step));
                left -= step;
                settle().await;
            }
        }
    };
    settle().await;

    // next: published everywhere before it signs.
    let mut settings = test_settings();
    with_key_set(&mut settings, &dir);
    let timing = auth_service::keys::timing(&settings, None);
    assert_eq!(timing.lead, 60 + 1 + 60, "max-age + reload + a minute");
    let Rotated::Scheduled(second) =
        keyset::rotate(&dir, Algorithm::EdDSA, clock.now(), timing, false).unwrap()
    else {
        panic!("a key should be scheduled")
    };
    eventually("the auth-service publishes the next key", async || {
        published_kids(&app).await.len() == 2
    })
    .await;
    let fetched_before = proxy.fetches.load(Ordering::SeqCst);
    advance(61).await; // the tasks-service's cached JWKS (max-age 60) is now stale
    eventually("the tasks-service refreshes its JWKS", async || {
        proxy.fetches.load(Ordering::SeqCst) > fetched_before
    })
    .await;
    assert_eq!(
        seen.lock().unwrap().ok_with(&second.kid),
        0,
        "next does not sign"
    );

    // active: the new key signs, the old one retires and still verifies.
    advance(second.signs_from - clock.now()).await;
    eventually("tokens signed by the new key are accepted", async || {
        seen.lock().unwrap().ok_with(&second.kid) >= 6
    })
    .await;
    assert_eq!(
        published_kids(&app).await,
        [first.kid.clone(), second.kid.clone()],
        "the retired key is still published"
    );

    // dropped: once its last token has expired (+ the largest leeway).
    let private_first =
        std::fs::read_to_string(dir.join(keyset::private_file(&first.kid))).unwrap();
    advance(ACCESS_TTL + 60).await;
    assert_eq!(
        published_kids(&app).await,
        std::slice::from_ref(&second.kid)
    );
    let fetched_before = proxy.fetches.load(Ordering::SeqCst);
    advance(61).await;
    eventually("the tasks-service forgets the dropped key", async || {
        proxy.fetches.load(Ordering::SeqCst) > fetched_before
    })
    .await;

    stop.store(true, Ordering::SeqCst);
    client.await.unwrap();
    {
        let seen = seen.lock().unwrap();
        let failed: Vec<_> = seen
            .calls
            .iter()
            .filter(|(status, _)| *status != StatusCode::OK)
            .collect();
        assert!(
            failed.is_empty(),
            "{} of {} calls failed: {failed:?}",
            failed.len(),
            seen.calls.len()
        );
        assert!(seen.ok_with(&first.kid) >= 6 && seen.ok_with(&second.kid) >= 6);
    }

    // A token made with the dropped key — as a thief of that key would — is refused
    // everywhere, although it is fresh and well signed.
    let stolen = Key::from_private_pem(Algorithm::EdDSA, &private_first).unwrap();
    let forged = KeyRing::new(stolen)
        .unwrap()
        .sign(
            &ClaimsBuilder::user("tessera", "tasks", "intruder", "sid")
                .build(clock.now())
                .unwrap(),
        )
        .unwrap();
    let tasks_answer = app
        .client
        .get(format!("{tasks}/tasks"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(tasks_answer.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get_bearer("/auth/sessions", &forged).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The next rotation deletes the dropped key's files.
    keyset::rotate(&dir, Algorithm::EdDSA, clock.now(), timing, false).unwrap();
    assert!(!dir.join(keyset::private_file(&first.kid)).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A token signed by a key nobody published (a forged `kid`, any number of them) costs
/// at most one JWKS fetch per interval; a key that really is new is learnt on its first
/// token once the interval allows.
#[tokio::test]
async fn unknown_kids_cause_at_most_one_fetch_per_interval() {
    let dir = key_dir("kid-miss");
    let clock = ManualClock::starting_now();
    keyset::generate(&dir, Algorithm::EdDSA, clock.now()).unwrap();
    let app = spawn_on(None, clock.clone(), |s| {
        with_key_set(s, &dir);
        s.jwt.jwks_max_age_secs = 300; // no background refresh until the end
    })
    .await;
    let (jwks_url, proxy) = spawn_proxy(&app);
    let tasks = spawn_tasks(&clock, &jwks_url, 30).await;
    let fetches = || proxy.fetches.load(Ordering::SeqCst);
    assert_eq!(fetches(), 1, "fetched once at start");

    let forged: Vec<String> = (0..30)
        .map(|i| {
            KeyRing::new(Key::generate(Algorithm::EdDSA).unwrap().key)
                .unwrap()
                .sign(
                    &ClaimsBuilder::user("tessera", "tasks", format!("forger-{i}"), "sid")
                        .build(clock.now())
                        .unwrap(),
                )
                .unwrap()
        })
        .collect();
    let storm = |tokens: Vec<String>| {
        let (http, url) = (app.client.clone(), format!("{tasks}/me"));
        async move {
            let mut calls = JoinSet::new();
            for forged in tokens {
                let request = http.get(&url).bearer_auth(forged);
                calls.spawn(async move { request.send().await.unwrap() });
            }
            while let Some(response) = calls.join_next().await {
                let response = response.unwrap();
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["message"], "token key id is unknown", "{body}");
            }
        }
    };
    storm(forged.clone()).await;
    assert_eq!(
        fetches(),
        1,
        "within the interval of the start-up fetch: no fetch"
    );

    clock.advance(Duration::from_secs(31));
    storm(forged.clone()).await;
    assert_eq!(fetches(), 2, "30 concurrent unknown kids shared one fetch");
    storm(forged.clone()).await;
    assert_eq!(fetches(), 2);

    // A genuinely new key (emergency rotation) is learnt from its first token.
    let mut settings = test_settings();
    with_key_set(&mut settings, &dir);
    let timing = auth_service::keys::timing(&settings, None);
    let Rotated::Scheduled(fresh) =
        keyset::rotate(&dir, Algorithm::EdDSA, clock.now(), timing, true).unwrap()
    else {
        panic!("an emergency rotation makes a key")
    };
    eventually("the auth-service signs with the new key", async || {
        published_kids(&app).await == [fresh.kid.clone()]
    })
    .await;
    clock.advance(Duration::from_secs(31));
    app.register("newkey").await;
    let access = token(&app.login("newkey").await, "access_token").to_owned();
    assert_eq!(kid(&access), fresh.kid);
    let me = |access: String| {
        let request = app.client.get(format!("{tasks}/me")).bearer_auth(access);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(me(access.clone()).await, StatusCode::OK);
    assert_eq!(fetches(), 3);

    // The auth-service unreachable: the background refresh fails, the cached keys serve.
    proxy.down.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(301)); // past the JWKS max-age (and the token's life)
    eventually("the background refresh tries", async || fetches() > 3).await;
    let access = token(&app.login("newkey").await, "access_token").to_owned();
    assert_eq!(me(access).await, StatusCode::OK, "cached keys still verify");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Started while the auth-service does not answer: not ready and refusing tokens, until a
/// retry fetches the keys.
#[tokio::test]
async fn a_resource_server_started_before_the_jwks_answers_is_not_ready_until_it_does() {
    let dir = key_dir("start");
    let clock = ManualClock::starting_now();
    keyset::generate(&dir, Algorithm::EdDSA, clock.now()).unwrap();
    let app = spawn_on(None, clock.clone(), |s| with_key_set(s, &dir)).await;
    let (jwks_url, proxy) = spawn_proxy(&app);
    proxy.down.store(true, Ordering::SeqCst);
    let tasks = spawn_tasks(&clock, &jwks_url, 30).await;
    let ready = || {
        let request = app.client.get(format!("{tasks}/readyz"));
        async move { request.send().await.unwrap() }
    };
    let response = ready().await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "keys_unavailable"
    );
    app.register("early").await;
    let access = token(&app.login("early").await, "access_token").to_owned();
    let me = || {
        let request = app.client.get(format!("{tasks}/me")).bearer_auth(&access);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(me().await, StatusCode::UNAUTHORIZED);

    proxy.down.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(2));
    eventually("the retry fetches the keys", async || {
        ready().await.status() == StatusCode::OK
    })
    .await;
    assert_eq!(me().await, StatusCode::OK);

    // The fetches show in the resource server's metrics: failures, then one success.
    let text = app
        .client
        .get(format!("{tasks}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = testkit::http::metric_samples(&text);
    let fetches = |outcome: &str| {
        samples[&format!(
            "tessera_jwks_fetch_total{{outcome=\"{outcome}\",service=\"tasks-service\"}}"
        )]
    };
    assert_eq!(fetches("success"), 1.0);
    assert!(fetches("error") >= 1.0, "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `auth-service keys …` as an operator runs it.
#[test]
fn the_keys_commands_create_rotate_and_show_a_set() {
    let dir = key_dir("cli");
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_auth-service"))
            .args(args)
            .arg("--dir")
            .arg(&dir)
            .env_clear()
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    };
    let (ok, out) = run(&["keys", "generate", "--alg", "eddsa"]);
    assert!(ok, "{out}");
    assert!(out.contains("AUTH__JWT__KEYS_DIR="), "{out}");
    let (ok, out) = run(&["keys", "generate", "--alg", "eddsa"]);
    assert!(!ok && out.contains("already holds a key set"), "{out}");
    let (ok, out) = run(&["keys", "rotate", "--lead", "10"]);
    assert!(!ok && out.contains("shorter than"), "{out}");
    let (ok, out) = run(&["keys", "rotate"]);
    assert!(ok && out.contains("is published and signs from"), "{out}");
    let (ok, out) = run(&["keys", "rotate"]);
    assert!(ok && out.contains("nothing to rotate"), "{out}");
    let (ok, out) = run(&["keys", "status"]);
    assert!(ok, "{out}");
    assert_eq!(out.matches(" active ").count(), 1, "{out}");
    assert_eq!(out.matches(" next ").count(), 1, "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}
