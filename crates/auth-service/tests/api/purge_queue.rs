//! The durable purge record and account deletion at the store level, the same suite on
//! the in-memory store and on Redis.

use std::sync::Arc;

use auth_service::store::{
    AuthStore, Backoff, MemoryStore, PendingPurge, RedisStore, Revoking, User,
};
use service_kit::redis::RedisConn;
use testkit::RedisServer;

const AT: Revoking = Revoking { now: 1, until: 631 };

fn due(user_id: &str, attempts: u32) -> PendingPurge {
    PendingPurge {
        user_id: user_id.into(),
        attempts,
    }
}

async fn queue_behaves(store: Arc<dyn AuthStore>) {
    let backoff = Backoff {
        base_secs: 10,
        max_secs: 25,
    };
    store.enqueue_purge("u1", 100).await.unwrap();
    store.enqueue_purge("u2", 105).await.unwrap();
    store.enqueue_purge("u1", 200).await.unwrap(); // already recorded: stays due at 100
    assert_eq!(store.pending_purges().await.unwrap(), 2);

    assert!(store
        .claim_purges(99, backoff, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.claim_purges(100, backoff, 10).await.unwrap(),
        [due("u1", 1)]
    );
    assert_eq!(
        store.claim_purges(105, backoff, 10).await.unwrap(),
        [due("u2", 1)]
    );
    assert!(
        store
            .claim_purges(109, backoff, 10)
            .await
            .unwrap()
            .is_empty(),
        "u1 waits 10 s"
    );
    assert_eq!(
        store.claim_purges(110, backoff, 10).await.unwrap(),
        [due("u1", 2)]
    );
    // Oldest first, at most `limit`: u2 (due 115) before u1 (due 130).
    assert_eq!(
        store.claim_purges(200, backoff, 1).await.unwrap(),
        [due("u2", 2)]
    );
    assert_eq!(
        store.claim_purges(200, backoff, 10).await.unwrap(),
        [due("u1", 3)]
    );
    // u2 is next due at 200 + 20, u1 at 200 + 25 (40, capped at 25).
    store.purge_done("u2").await.unwrap();
    assert_eq!(store.pending_purges().await.unwrap(), 1);
    assert!(store
        .claim_purges(224, backoff, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.claim_purges(225, backoff, 10).await.unwrap(),
        [due("u1", 4)],
        "capped"
    );
}

async fn deletion_frees_the_name(store: Arc<dyn AuthStore>) {
    let user = |id: &str| User {
        id: id.into(),
        username: "Dora".into(),
        password_hash: "$argon2id$fake".into(),
        role: auth_core::Role::User,
        ver: 0,
        created_at: 1,
    };
    let first = user("8d0f8a34-0000-4000-8000-000000000001");
    store.create_user(&first).await.unwrap();
    let moved_on = User {
        ver: 1,
        ..first.clone()
    };
    assert!(
        !store.delete_user(&moved_on, AT).await.unwrap(),
        "a record whose version moved on since the check is kept"
    );
    assert_eq!(
        store.user_by_id(&first.id).await.unwrap(),
        Some(first.clone())
    );
    assert!(store.delete_user(&first, AT).await.unwrap());
    assert_eq!(store.user_by_id(&first.id).await.unwrap(), None);
    assert_eq!(store.user_by_name("dora").await.unwrap(), None);
    let second = user("8d0f8a34-0000-4000-8000-000000000002");
    store.create_user(&second).await.unwrap();
    // Deleting the old record again must not free the name the new user holds.
    assert!(store.delete_user(&first, AT).await.unwrap(), "already gone");
    assert_eq!(store.user_by_name("DORA").await.unwrap(), Some(second));
}

#[tokio::test]
async fn memory_store() {
    queue_behaves(Arc::new(MemoryStore::new())).await;
    deletion_frees_the_name(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn redis_store() {
    let redis = RedisServer::start();
    let store = |prefix: &str| -> Arc<dyn AuthStore> {
        Arc::new(RedisStore::new(
            RedisConn::open(&redis.url()).unwrap(),
            prefix,
        ))
    };
    queue_behaves(store("a:")).await;
    deletion_frees_the_name(store("b:")).await;
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let backoff = Backoff {
        base_secs: 5,
        max_secs: 600,
    };
    let waits: Vec<u64> = (1..=9).map(|n| backoff.after(n)).collect();
    assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 600, 600]);
    assert_eq!(backoff.after(200), 600, "no overflow");
}
