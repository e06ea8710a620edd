//! Redis Cluster fitness of the stores' keys: every script and every transaction is given
//! keys of one slot. The commands are the real ones — a whole account lifecycle through
//! both services on a standalone Redis, read off `MONITOR` — and the slots are Redis
//! Cluster's own (`CLUSTER KEYSLOT` on a real cluster). (The behavioural suites also run
//! on the cluster, where a cross-slot script fails with `CROSSSLOT`; this test says which
//! keys, and covers the revocation path's second step by name.)

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use auth_core::{ManualClock, Role};
use auth_service::store::{AuthStore, Revoking};
use reqwest::StatusCode;
use serde_json::json;
use testkit::support::Backend;
use testkit::topology::RedisCluster;

use crate::helpers::{spawn_wrapped, token, TestApp, PASSWORD, SECRET};

/// One command as `MONITOR` printed it: the client it came from and its words.
fn monitor_words(line: &str) -> Option<(String, Vec<String>)> {
    let (_, rest) = line.split_once(" [")?;
    let (client, rest) = rest.split_once("] ")?;
    let mut words = Vec::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut word = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => word.push(chars.next()?),
                c => word.push(c),
            }
        }
        words.push(word);
    }
    Some((client.to_owned(), words))
}

/// The groups of keys that must share a slot: each script's `KEYS`, and the keys of the
/// commands of each `MULTI`…`EXEC`, labelled for the failure message.
fn key_groups(lines: &[String]) -> Vec<(String, Vec<String>)> {
    let mut groups = Vec::new();
    let mut open: HashMap<String, Vec<String>> = HashMap::new();
    for (client, words) in lines.iter().filter_map(|line| monitor_words(line)) {
        let command = words
            .first()
            .map(|w| w.to_ascii_uppercase())
            .unwrap_or_default();
        match command.as_str() {
            "EVALSHA" | "EVAL" => {
                let count: usize = words.get(2).and_then(|n| n.parse().ok()).unwrap_or(0);
                let keys = words.iter().skip(3).take(count).cloned().collect();
                groups.push((
                    format!("script {}", &words[1][..8.min(words[1].len())]),
                    keys,
                ));
            }
            "MULTI" => {
                open.insert(client, Vec::new());
            }
            "EXEC" => {
                if let Some(keys) = open.remove(&client) {
                    groups.push(("transaction".to_owned(), keys));
                }
            }
            _ => {
                if let (Some(keys), Some(key)) = (open.get_mut(&client), words.get(1)) {
                    keys.push(key.clone());
                }
            }
        }
    }
    groups
}

#[tokio::test]
async fn every_script_and_transaction_touches_one_cluster_slot() {
    let store = Backend::Redis.start();
    let redis = store.server.as_ref().unwrap();
    let port = redis.url().rsplit(':').next().unwrap().to_owned();
    let mut monitor = Command::new("redis-cli")
        .args(["-p", &port, "MONITOR"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-cli");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let lines = lines.clone();
        let stdout = monitor.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };
    testkit::support::eventually("MONITOR is on", crate::revocation::WITHIN, || {
        let lines = lines.clone();
        let url = redis.url();
        async move {
            let mut con = redis::Client::open(url)
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            let _: () = redis::cmd("PING").query_async(&mut con).await.unwrap();
            !lines.lock().unwrap().is_empty()
        }
    })
    .await;

    let clock = ManualClock::starting_now();
    let tasks_url = testkit::support::spawn_tasks_service(&clock, |settings| {
        settings.jwt.secret = Some(SECRET.into());
        store.apply(&mut settings.redis);
    })
    .await;
    let mut shared: Option<Arc<dyn AuthStore>> = None;
    let app = spawn_wrapped(
        None,
        clock.clone(),
        |settings| {
            store.apply(&mut settings.redis);
            settings.purge.tasks_urls = vec![tasks_url.clone()];
            settings.oauth.clients = vec![crate::oauth::billing_client()];
        },
        |inner| {
            shared = Some(inner.clone());
            inner
        },
    )
    .await;
    let store_of_app = shared.unwrap();
    lifecycle(&app, &tasks_url, store_of_app.as_ref()).await;

    monitor.kill().unwrap();
    monitor.wait().unwrap();
    reader.join().unwrap();
    let lines = lines.lock().unwrap().clone();
    let groups = key_groups(&lines);
    let scripts: BTreeSet<String> = lines
        .iter()
        .filter_map(|line| monitor_words(line))
        .filter(|(_, words)| {
            words
                .first()
                .is_some_and(|w| w.eq_ignore_ascii_case("evalsha"))
        })
        .map(|(_, words)| words[1].clone())
        .collect();
    // Every script of both stores ran: auth 12 (create_session, rotate, end_session,
    // logout, end_all, set_password, set_role, hit, delete_user, free_name, claim_purges,
    // record) and tasks 4 (create, update, delete, list).
    assert_eq!(scripts.len(), 16, "scripts seen: {scripts:?}");

    let cluster = RedisCluster::shared();
    let mut slots: BTreeMap<String, u16> = BTreeMap::new();
    for key in groups.iter().flat_map(|(_, keys)| keys) {
        slots
            .entry(key.clone())
            .or_insert_with(|| cluster.keyslot(key));
    }
    for (what, keys) in &groups {
        let of: BTreeSet<u16> = keys.iter().map(|key| slots[key]).collect();
        assert!(of.len() <= 1, "{what} spans slots {of:?}: {keys:?}");
    }
    assert!(
        groups.iter().filter(|(_, keys)| keys.len() > 1).count() >= 10,
        "multi-key steps were seen: {groups:?}"
    );
}

/// Every store operation of both services, through their APIs where one exists.
async fn lifecycle(app: &TestApp, tasks_url: &str, store: &dyn AuthStore) {
    app.register("ivy").await;
    let first = app.login("ivy").await;
    let second = app.login("ivy").await;
    let third = app.login("ivy").await;
    // Rotation, then reuse of the spent token past the grace window (revokes the session).
    app.refresh(token(&first, "refresh_token")).await;
    app.clock.advance(std::time::Duration::from_secs(60));
    let reused = app.refresh_response(token(&first, "refresh_token")).await;
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);
    // Tasks: create, update, list, delete.
    let access = token(&second, "access_token");
    let tasks = reqwest::Client::new();
    let created: serde_json::Value = tasks
        .post(format!("{tasks_url}/tasks"))
        .bearer_auth(access)
        .json(&json!({ "title": "one" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let updated = tasks
        .patch(format!("{tasks_url}/tasks/{id}"))
        .bearer_auth(access)
        .json(&json!({ "done": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), StatusCode::OK);
    let listed = tasks
        .get(format!("{tasks_url}/tasks"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let deleted = tasks
        .delete(format!("{tasks_url}/tasks/{id}"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    // Sessions: list, end one, log out one, an access token revoked (RFC 7009).
    let sessions = app.sessions(access).await;
    let third_sid = sessions
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .unwrap()
        .to_owned();
    let ended = app
        .client
        .delete(app.url(&format!("/auth/sessions/{third_sid}")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let logout = json!({ "refresh_token": token(&third, "refresh_token") });
    app.post("/auth/logout", &logout).await;
    let fourth = app.login("ivy").await;
    let revoked = app
        .client
        .post(app.url("/oauth/revoke"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "token={}&client_id=tessera-cli",
            token(&fourth, "access_token")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    // A role change that bumps the version, a password change, logout everywhere.
    let me = crate::helpers::json_ok(app.get_bearer("/auth/me", access).await).await;
    let user_id = me["user_id"].as_str().unwrap().to_owned();
    let at = Revoking {
        now: auth_core::Clock::now(&app.clock),
        until: auth_core::Clock::now(&app.clock) + 900,
    };
    assert!(store
        .set_role(&user_id, Role::Admin, true, at)
        .await
        .unwrap());
    let fifth = app.login("ivy").await;
    let changed = app
        .client
        .post(app.url("/auth/password"))
        .bearer_auth(token(&fifth, "access_token"))
        .json(&json!({ "current_password": PASSWORD, "new_password": "another long password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let sixth = app
        .login_response("ivy", "another long password")
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let all = app
        .post_bearer(
            "/auth/logout-all",
            token(&sixth, "access_token"),
            &json!({}),
        )
        .await;
    assert_eq!(all.status(), StatusCode::NO_CONTENT);
    // The account deleted (its purge queued, claimed and done).
    let last = app
        .login_response("ivy", "another long password")
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let gone = app
        .client
        .delete(app.url("/auth/account"))
        .bearer_auth(token(&last, "access_token"))
        .json(&json!({ "password": "another long password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    store.enqueue_purge(&user_id, 0).await.unwrap();
    auth_service::purge::run_due(&app.state).await.unwrap();
}
