//! Instant revocation end to end: an auth-service and two tasks-services on one real
//! Redis (each with its own revocation feed), the clock shared and moved by hand. Every
//! revoking event stops exactly the tokens it concerns at all three; the feed survives a
//! dropped subscription, a Redis restart and a service started after the fact; a feed cut
//! off too long makes its service unready (and, with `reject`, refuse tokens); entries
//! expire. Introspection (RFC 7662) and access-token revocation (RFC 7009) ride on the
//! same view.

use std::time::Duration;

use auth_core::ManualClock;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};
use service_kit::revocation::OnStale;
use testkit::support::{eventually, spawn_tasks_service};
use testkit::RedisServer;

use crate::helpers::{
    assert_error, json_ok, spawn_app, spawn_app_with, spawn_on, test_settings, token, Backend,
    TestApp, BACKENDS, PASSWORD, SECRET,
};
use crate::oauth::{billing_client, oauth_error, CLIENT_ID, CLIENT_SECRET};

/// How long a revocation may take to arrive here: milliseconds, really; the bound only
/// keeps a broken feed from hanging the test.
pub const WITHIN: Duration = Duration::from_secs(5);

/// The auth-service and the base URLs of two tasks-services, all on one Redis.
struct Deployment {
    app: TestApp,
    tasks: [String; 2],
}

async fn tasks_service(
    redis: &RedisServer,
    clock: &ManualClock,
    customise: impl FnOnce(&mut tasks_service::Settings),
) -> String {
    let url = redis.url();
    spawn_tasks_service(clock, |settings| {
        settings.jwt.secret = Some(SecretString::from(SECRET));
        settings.redis.url = Some(SecretString::from(url));
        customise(settings);
    })
    .await
}

async fn deployment(redis: &RedisServer, clock: &ManualClock) -> Deployment {
    let app = spawn_on(Some(&redis.url()), clock.clone(), |settings| {
        settings.oauth.clients = vec![billing_client()];
    })
    .await;
    let tasks = [
        tasks_service(redis, clock, |_| {}).await,
        tasks_service(redis, clock, |_| {}).await,
    ];
    Deployment { app, tasks }
}

fn access(tokens: &Value) -> &str {
    token(tokens, "access_token")
}

impl Deployment {
    /// What each resource server answers `token`: both tasks-services' `/me` and the
    /// auth-service's `GET /auth/sessions`.
    async fn statuses(&self, token: &str) -> Vec<StatusCode> {
        let mut statuses = Vec::new();
        for base in &self.tasks {
            let me = self.app.client.get(format!("{base}/me")).bearer_auth(token);
            statuses.push(me.send().await.unwrap().status());
        }
        statuses.push(self.app.get_bearer("/auth/sessions", token).await.status());
        statuses
    }

    /// Waits until every resource server refuses `token` as revoked.
    async fn refused(&self, what: &str, token: &str) {
        eventually(what, WITHIN, || async {
            self.statuses(token)
                .await
                .iter()
                .all(|status| *status == StatusCode::UNAUTHORIZED)
        })
        .await;
        let response = self.app.client.get(format!("{}/me", self.tasks[0]));
        let body: Value = response
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["message"], "token has been revoked", "{what}");
    }

    /// Asserts every resource server accepts `token` now.
    async fn accepted(&self, what: &str, token: &str) {
        assert_eq!(self.statuses(token).await, [StatusCode::OK; 3], "{what}");
    }

    async fn revoke(&self, token: &str, client: &[(&str, &str)]) -> reqwest::Response {
        let mut params = vec![("token", token)];
        params.extend_from_slice(client);
        self.app.form("/oauth/revoke", None, &params).await
    }
}

const FIRST_PARTY: [(&str, &str); 1] = [("client_id", "tessera-cli")];

#[tokio::test]
async fn every_revoking_event_stops_exactly_its_tokens_at_every_resource_server() {
    let redis = RedisServer::start();
    let clock = ManualClock::starting_now();
    let world = deployment(&redis, &clock).await;
    let app = &world.app;
    app.register("alice").await;
    app.register("bob").await;
    let bob = app.login("bob").await;

    // Logout: that session's tokens, no other.
    let (one, two) = (app.login("alice").await, app.login("alice").await);
    world.accepted("before anything", access(&one)).await;
    let logout = json!({ "refresh_token": token(&one, "refresh_token") });
    assert_eq!(app.post("/auth/logout", &logout).await.status(), 204);
    world.refused("logout", access(&one)).await;
    world.accepted("another session", access(&two)).await;
    world.accepted("another user", access(&bob)).await;

    // A session deleted from another device.
    let three = app.login("alice").await;
    let path = format!("/auth/sessions/{}", token(&two, "session_id"));
    let deleted = app
        .client
        .delete(app.url(&path))
        .bearer_auth(access(&three))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    world.refused("deleted session", access(&two)).await;
    world.accepted("the deleting session", access(&three)).await;

    // RFC 7009 revocation of a refresh token ends its session's access tokens.
    let response = world
        .revoke(token(&three, "refresh_token"), &FIRST_PARTY)
        .await;
    assert_eq!(response.status(), 200);
    world.refused("revoked refresh token", access(&three)).await;

    // Refresh-token reuse (a theft signal) revokes the family's access tokens.
    let four = app.login("alice").await;
    let rotated = app.refresh(token(&four, "refresh_token")).await;
    clock.advance(Duration::from_secs(11)); // past the grace window
    let reuse = app.refresh_response(token(&four, "refresh_token")).await;
    assert_error(reuse, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    world.refused("reuse, first token", access(&four)).await;
    world
        .refused("reuse, rotated token", access(&rotated))
        .await;

    // RFC 7009 revocation of an access token: that token only.
    let five = app.login("alice").await;
    let sibling = app.refresh(token(&five, "refresh_token")).await;
    assert_eq!(
        world.revoke(access(&five), &FIRST_PARTY).await.status(),
        200
    );
    world.refused("revoked access token", access(&five)).await;
    world
        .accepted("same session, other token", access(&sibling))
        .await;

    // Logout everywhere: every older token of the user.
    let (six, seven) = (app.login("alice").await, app.login("alice").await);
    let all = app
        .post_bearer("/auth/logout-all", access(&six), &json!({}))
        .await;
    assert_eq!(all.status(), 204);
    world.refused("logout-all, caller", access(&six)).await;
    world
        .refused("logout-all, other session", access(&seven))
        .await;
    world
        .refused("logout-all, reached sibling", access(&sibling))
        .await;
    let eight = app.login("alice").await;
    world
        .accepted("a login after logout-all", access(&eight))
        .await;
    world.accepted("another user", access(&bob)).await;

    // Losing the admin role (`users revoke-admin`) bumps the version too.
    let mut operator = test_settings();
    operator.redis.url = Some(SecretString::from(redis.url()));
    auth_service::admin::set_admin(&operator, "alice", false)
        .await
        .unwrap();
    world.refused("revoke-admin", access(&eight)).await;

    // A password change: every older token, the caller's included.
    let nine = app.login("alice").await;
    let change = json!({ "current_password": PASSWORD, "new_password": "an entirely new one" });
    let changed = app
        .post_bearer("/auth/password", access(&nine), &change)
        .await;
    assert_eq!(changed.status(), 204);
    world.refused("password change", access(&nine)).await;
    let ten = json_ok(app.login_response("alice", "an entirely new one").await).await;
    world
        .accepted("the new password's token", access(&ten))
        .await;

    // Account deletion: every token of the user, whatever its version.
    let gone = app
        .client
        .delete(app.url("/auth/account"))
        .bearer_auth(access(&ten))
        .json(&json!({ "password": "an entirely new one" }))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    world.refused("account deleted", access(&ten)).await;
    world
        .accepted("another user, at the end", access(&bob))
        .await;
}

#[tokio::test]
async fn the_auth_service_refuses_revoked_tokens_on_either_store() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        app.register("carl").await;
        let (one, two) = (app.login("carl").await, app.login("carl").await);
        let path = format!("/auth/sessions/{}", token(&two, "session_id"));
        let deleted = app
            .client
            .delete(app.url(&path))
            .bearer_auth(access(&one))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        // The hole this closes: a deleted session's token listed and ended the others.
        let refused = || async {
            app.get_bearer("/auth/sessions", access(&two))
                .await
                .status()
        };
        match backend {
            // In memory the view is written with the store, under its lock: at once.
            Backend::Memory => assert_eq!(refused().await, StatusCode::UNAUTHORIZED),
            _ => {
                eventually("the feed brings the entry", WITHIN, || async {
                    refused().await == StatusCode::UNAUTHORIZED
                })
                .await;
            }
        }
        let logout_all = app
            .post_bearer("/auth/logout-all", access(&two), &json!({}))
            .await;
        assert_error(logout_all, StatusCode::UNAUTHORIZED, "invalid_token").await;
        assert_eq!(app.sessions(access(&one)).await.len(), 1, "{backend:?}");
    }
}

#[tokio::test]
async fn a_revocation_made_while_a_resource_server_was_down_holds_when_it_starts() {
    let redis = RedisServer::start();
    let clock = ManualClock::starting_now();
    let app = spawn_on(Some(&redis.url()), clock.clone(), |_| {}).await;
    app.register("dana").await;
    let dana = app.login("dana").await;
    let all = app
        .post_bearer("/auth/logout-all", access(&dana), &json!({}))
        .await;
    assert_eq!(all.status(), 204);

    let late = tasks_service(&redis, &clock, |_| {}).await;
    // Started after the fact: its first load (before it is ready) brings the entry.
    let me = app
        .client
        .get(format!("{late}/me"))
        .bearer_auth(access(&dana));
    assert_eq!(me.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

/// Asks Redis to drop every subscriber connection (the feeds'), as a network blip would.
async fn drop_subscribers(redis: &RedisServer) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub"])
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(killed >= 3, "three feeds were subscribed, {killed} dropped");
}

#[tokio::test]
async fn revocations_made_while_the_feeds_are_cut_off_arrive_after_they_reconnect() {
    let mut redis = RedisServer::start_durable();
    let clock = ManualClock::starting_now();
    let world = deployment(&redis, &clock).await;
    let app = &world.app;
    app.register("erin").await;

    // Subscriptions dropped, and a revocation published before the feeds are back
    // (they wait at least 100 ms): pub/sub loses it, the reload on reconnect does not.
    let first = app.login("erin").await;
    drop_subscribers(&redis).await;
    let logout = json!({ "refresh_token": token(&first, "refresh_token") });
    assert_eq!(app.post("/auth/logout", &logout).await.status(), 204);
    world
        .refused("revoked while unsubscribed", access(&first))
        .await;

    // Redis restarted, a revocation made as soon as it is back.
    let second = app.login("erin").await;
    redis.stop();
    redis.resume();
    eventually("logout-all, as soon as Redis answers", WITHIN, || async {
        let empty = json!({});
        let all = app.post_bearer("/auth/logout-all", access(&second), &empty);
        all.await.status() == StatusCode::NO_CONTENT
    })
    .await;
    world
        .refused("revoked across a Redis restart", access(&second))
        .await;
    world
        .accepted("a new login", access(&app.login("erin").await))
        .await;
}

#[tokio::test]
async fn a_feed_cut_off_beyond_the_limit_is_unready_and_with_reject_refuses_tokens() {
    let mut redis = RedisServer::start();
    let clock = ManualClock::starting_now();
    let app = spawn_on(Some(&redis.url()), clock.clone(), |_| {}).await;
    let strict = tasks_service(&redis, &clock, |settings| {
        settings.revocation.max_staleness_secs = 30;
        settings.revocation.on_stale = OnStale::Reject;
    })
    .await;
    let lenient = tasks_service(&redis, &clock, |_| {}).await;
    app.register("finn").await;
    let finn = app.login("finn").await;
    let token = access(&finn).to_owned();
    let get = |base: &str, path: &str| {
        let request = app.client.get(format!("{base}{path}")).bearer_auth(&token);
        async move { request.send().await.unwrap() }
    };
    assert_eq!(get(&strict, "/me").await.status(), 200);
    let ready: Value = get(&strict, "/readyz").await.json().await.unwrap();
    assert_eq!(ready["revocation"]["staleness_secs"], 0);

    redis.stop();
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        get(&strict, "/me").await.status(),
        200,
        "at the limit: fresh"
    );
    clock.advance(Duration::from_secs(1));
    for base in [&strict, &lenient] {
        // Redis itself is down: readiness names the store first (a feed that cannot
        // subscribe to a working Redis says `revocation_stale`, tested below).
        let response = get(base, "/readyz").await;
        assert_error(
            response,
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
        )
        .await;
    }
    let refused = get(&strict, "/me").await;
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_error(refused, StatusCode::SERVICE_UNAVAILABLE, "revocation_stale").await;
    assert_eq!(
        get(&lenient, "/me").await.status(),
        200,
        "serve: keeps going"
    );

    redis.resume();
    eventually(
        "the strict server hears from Redis again",
        WITHIN,
        || async { get(&strict, "/readyz").await.status() == StatusCode::OK },
    )
    .await;
    assert_eq!(get(&strict, "/me").await.status(), 200);
}

#[tokio::test]
async fn a_feed_that_cannot_subscribe_leaves_its_service_unready() {
    // A Redis user for the tasks-service that may do everything but SUBSCRIBE: its store
    // works, its feed never loads.
    let redis = RedisServer::start();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "tasks",
            "on",
            ">tasks-pw",
            "~*",
            "&*",
            "+@all",
            "-subscribe",
        ])
        .query_async::<()>(&mut con)
        .await
        .unwrap();
    let clock = ManualClock::starting_now();
    let url = redis.url().replace("redis://", "redis://tasks:tasks-pw@");
    let tasks = spawn_tasks_service(&clock, |settings| {
        settings.jwt.secret = Some(SecretString::from(SECRET));
        settings.redis.url = Some(SecretString::from(url));
    })
    .await;
    let client = testkit::http::client();
    let ready = client.get(format!("{tasks}/readyz")).send().await.unwrap();
    assert_error(ready, StatusCode::SERVICE_UNAVAILABLE, "revocation_stale").await;
}

#[tokio::test]
async fn entries_expire_from_redis_and_from_the_views() {
    let redis = RedisServer::start();
    let clock = ManualClock::starting_now();
    let world = deployment(&redis, &clock).await;
    let app = &world.app;
    app.register("gail").await;
    let gail = app.login("gail").await;
    let logout = json!({ "refresh_token": token(&gail, "refresh_token") });
    assert_eq!(app.post("/auth/logout", &logout).await.status(), 204);
    world.refused("logged out", access(&gail)).await;

    // `None` while the view is stale (just after the clock jumped, until the heartbeat).
    let entries = |base: String| async move {
        let ready = app
            .client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap();
        let body: Value = ready.json().await.unwrap();
        body["revocation"]["entries"].as_u64()
    };
    let logged = || async {
        let client = redis::Client::open(redis.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("ZCARD")
            .arg("tessera:{rev}:log")
            .query_async::<u64>(&mut con)
            .await
            .unwrap()
    };
    assert_eq!(entries(world.tasks[0].clone()).await, Some(1));
    assert_eq!(logged().await, 1);

    // 600 s of access-token life and 30 s of leeway later, the entry matters no more.
    clock.advance(Duration::from_secs(631));
    for base in world.tasks.clone() {
        eventually("the view sweeps the entry", WITHIN, || {
            let base = base.clone();
            async move { entries(base).await == Some(0) }
        })
        .await;
    }
    // The log drops it at its next write.
    let next = app.login("gail").await;
    let logout = json!({ "refresh_token": token(&next, "refresh_token") });
    assert_eq!(app.post("/auth/logout", &logout).await.status(), 204);
    assert_eq!(logged().await, 1, "only the new entry is left");
}

#[tokio::test]
async fn each_feed_subscribes_before_it_loads() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let redis = RedisServer::start();
    let address = redis.url().trim_start_matches("redis://").to_owned();
    let mut monitor = tokio::net::TcpStream::connect(address).await.unwrap();
    monitor.write_all(b"MONITOR\r\n").await.unwrap();
    let mut lines = BufReader::new(monitor).lines();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("+OK"));

    let clock = ManualClock::starting_now();
    tasks_service(&redis, &clock, |_| {}).await;
    let mut subscribed = false;
    let seen = tokio::time::timeout(WITHIN, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            subscribed |= line.contains("\"SUBSCRIBE\" \"tessera:{rev}:feed\"");
            if line.contains("\"ZRANGEBYSCORE\" \"tessera:{rev}:log\"") {
                return subscribed;
            }
        }
        false
    })
    .await
    .expect("the feed loads the log");
    assert!(
        seen,
        "subscribed before loading: nothing published between is lost"
    );
}

/// `POST /oauth/introspect` of `token` as the confidential client, asserting 200.
async fn introspect(app: &TestApp, token: &str) -> Value {
    let params = [
        ("token", token),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    json_ok(app.form("/oauth/introspect", None, &params).await).await
}

#[tokio::test]
async fn introspection_is_for_confidential_clients_and_follows_revocation() {
    for backend in BACKENDS {
        let app = spawn_app_with(backend, |settings| {
            settings.oauth.clients = vec![billing_client()];
        })
        .await;
        app.register("hana").await;
        let hana = app.login("hana").await;
        let confidential = [("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)];

        for client in [&FIRST_PARTY[..], &[]] {
            let mut params = vec![("token", access(&hana))];
            params.extend_from_slice(client);
            let response = app.form("/oauth/introspect", None, &params).await;
            oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
        }

        let active = introspect(&app, access(&hana)).await;
        assert_eq!(active["active"], true, "{backend:?}");
        assert_eq!(active["token_type"], "Bearer");
        assert_eq!(active["username"], "hana");
        assert_eq!(active["sid"], hana["session_id"]);
        assert_eq!(active["iss"], "tessera");
        assert_eq!(active["aud"], "tasks");
        assert!(active["exp"].as_u64().unwrap() > active["iat"].as_u64().unwrap());
        let refresh = introspect(&app, token(&hana, "refresh_token")).await;
        assert_eq!(refresh["active"], true);
        assert_eq!(refresh["token_type"], "refresh_token");
        assert_eq!(refresh["sid"], hana["session_id"]);
        assert_eq!(refresh["sub"], active["sub"]);

        let service = app
            .form(
                "/oauth/token",
                None,
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", "reports:read"),
                    confidential[0],
                    confidential[1],
                ],
            )
            .await;
        let service = json_ok(service).await;
        let service = introspect(&app, access(&service)).await;
        assert_eq!(
            (&service["active"], &service["client_id"], &service["scope"]),
            (&json!(true), &json!(CLIENT_ID), &json!("reports:read"))
        );

        for garbage in ["not-a-token", "a.b.c", "x.y"] {
            assert_eq!(introspect(&app, garbage).await, json!({ "active": false }));
        }
        let logout = json!({ "refresh_token": token(&hana, "refresh_token") });
        assert_eq!(app.post("/auth/logout", &logout).await.status(), 204);
        eventually("the access token goes inactive", WITHIN, || async {
            introspect(&app, access(&hana)).await == json!({ "active": false })
        })
        .await;
        let spent = introspect(&app, token(&hana, "refresh_token")).await;
        assert_eq!(spent, json!({ "active": false }));
    }
}

#[tokio::test]
async fn a_client_revokes_only_tokens_of_its_own_kind() {
    let app = spawn_on(None, ManualClock::starting_now(), |settings| {
        settings.oauth.clients = vec![billing_client()];
    })
    .await;
    app.register("ivan").await;
    let ivan = app.login("ivan").await;
    let confidential = [("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)];
    let mut params = vec![("token", access(&ivan))];
    params.extend_from_slice(&confidential);
    let response = app.form("/oauth/revoke", None, &params).await;
    oauth_error(response, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    assert_eq!(app.sessions(access(&ivan)).await.len(), 1, "still valid");
}
