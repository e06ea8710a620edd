//! argon2id hashing on a fixed pool of dedicated threads fed through a bounded queue, so a
//! login storm can neither exhaust memory nor occupy the async workers that serve refresh
//! and verification. Each thread keeps one argon2 memory buffer (`memory_kib`), allocated
//! at its first hash and reused: memory is bounded by the pool size, and no hash pays for
//! allocating and zeroing 19 MiB.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use prometheus::{Histogram, IntGauge};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::config::PasswordSettings;
use crate::refresh::NoRandomness;

/// Why hashing did not happen.
#[derive(Debug, Error)]
pub enum PasswordError {
    /// The pool and its queue are full: shed load rather than queue without bound.
    #[error("too many password operations in progress")]
    Busy,
    #[error("password hashing failed: {context}")]
    Internal {
        context: &'static str,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl PasswordError {
    fn internal(
        context: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> PasswordError {
        PasswordError::Internal {
            context,
            source: Some(Box::new(source)),
        }
    }
}

fn phc_error(err: impl std::error::Error + Send + Sync + 'static) -> PasswordError {
    PasswordError::internal("PHC encoding", err)
}

/// Work for a hashing thread.
type Job = Box<dyn FnOnce(&mut Hasher) + Send>;

/// A hashing thread's state: the parameters new hashes use and the argon2 memory, kept
/// between jobs.
struct Hasher {
    params: Params,
    memory: Vec<Block>,
}

impl Hasher {
    fn new(params: Params) -> Hasher {
        Hasher {
            params,
            memory: Vec::new(),
        }
    }

    /// The memory for `params`, grown (once) if needed.
    fn memory(&mut self, params: &Params) -> &mut [Block] {
        let blocks = params.block_count();
        if self.memory.len() < blocks {
            self.memory.resize(blocks, Block::default());
        }
        &mut self.memory[..blocks]
    }

    /// A PHC-format argon2id hash of `password` with a fresh 16-byte salt.
    fn hash(&mut self, password: &[u8]) -> Result<String, PasswordError> {
        let mut salt = [0u8; 16];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| PasswordError::internal("no randomness", NoRandomness))?;
        let params = self.params.clone();
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(password, &salt, &mut out, self.memory(&params))
            .map_err(|e| PasswordError::internal("argon2", e))?;
        let phc = PasswordHash {
            algorithm: argon2::ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(phc_error)?,
            salt: Some(Salt::new(&salt).map_err(phc_error)?),
            hash: Some(Output::new(&out).map_err(phc_error)?),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches the PHC string `phc`, under the parameters stored in it
    /// (so hashes made with older parameters still verify). Constant-time comparison.
    fn verify(&mut self, password: &[u8], phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
            return false;
        };
        let version = hash.version.map_or(Ok(Version::V0x13), Version::try_from);
        let (Ok(version), Ok(params)) = (version, Params::try_from(&hash)) else {
            return false;
        };
        let mut out = vec![0u8; expected.len()];
        let argon = Argon2::new(algorithm, version, params.clone());
        argon
            .hash_password_into_with_memory(password, salt.as_ref(), &mut out, self.memory(&params))
            .is_ok()
            && Output::new(&out).is_ok_and(|actual| actual == *expected)
    }
}

/// The argon2id hasher and its pool.
pub struct Passwords {
    /// Bounded: when every thread is busy and the queue is full, callers get
    /// [`PasswordError::Busy`] at once. Dropping it stops the threads.
    jobs: SyncSender<Job>,
    /// Verified against when the username is unknown, so that costs what a wrong
    /// password costs.
    dummy_hash: String,
    meter: Option<Meter>,
}

/// Where the pool reports: each job's hashing time, and the jobs queued or running.
#[derive(Clone, Debug)]
struct Meter {
    seconds: Histogram,
    queue: IntGauge,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

impl Passwords {
    /// Builds the hasher; computes one hash (the dummy) to fail fast on bad parameters.
    pub fn new(settings: &PasswordSettings) -> Result<Passwords, PasswordError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| PasswordError::internal("argon2 parameters", e))?;
        let max_concurrent = match settings.max_concurrent {
            0 => {
                std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
            }
            n => n,
        };
        let mut random = [0u8; 32];
        SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| PasswordError::internal("no randomness", NoRandomness))?;
        let dummy_hash = Hasher::new(params.clone()).hash(&random)?;
        let (jobs, queue) = mpsc::sync_channel::<Job>(settings.max_queue);
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..max_concurrent {
            let (queue, hasher) = (queue.clone(), Hasher::new(params.clone()));
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || work(&queue, hasher))
                .map_err(|e| PasswordError::internal("starting a hashing thread", e))?;
        }
        Ok(Passwords {
            jobs,
            dummy_hash,
            meter: None,
        })
    }

    /// Reports each job's hashing time to `seconds` and the jobs queued or running to
    /// `queue`.
    pub fn with_metrics(mut self, seconds: Histogram, queue: IntGauge) -> Passwords {
        self.meter = Some(Meter { seconds, queue });
        self
    }

    /// A PHC-format argon2id hash of `password` with a fresh salt.
    pub async fn hash(&self, password: SecretString) -> Result<String, PasswordError> {
        self.run(move |hasher| hasher.hash(password.expose_secret().as_bytes()))
            .await?
    }

    /// Whether `password` matches `hash`; with no hash (unknown user) it checks against
    /// the dummy and returns `false`, at the same cost.
    pub async fn verify(
        &self,
        password: SecretString,
        hash: Option<String>,
    ) -> Result<bool, PasswordError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let matches = self
            .run(move |hasher| hasher.verify(password.expose_secret().as_bytes(), &hash))
            .await?;
        Ok(known && matches)
    }

    /// Runs `job` on a hashing thread, or refuses at once when the queue is full.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Hasher) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        // Traced from the queue to the answer: waiting for a thread is part of the cost.
        self.submit(job)?
            .instrument(tracing::debug_span!("password_hash"))
            .await
            .map_err(|e| PasswordError::internal("a hashing job was dropped", e))
    }

    /// Queues `job` now; the receiver yields its result.
    fn submit<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Hasher) -> T + Send + 'static,
    ) -> Result<oneshot::Receiver<T>, PasswordError> {
        let (done, result) = oneshot::channel();
        let meter = self.meter.clone();
        let job: Job = Box::new(move |hasher| {
            let started = Instant::now();
            let output = job(hasher);
            if let Some(meter) = &meter {
                meter.seconds.observe(started.elapsed().as_secs_f64());
                meter.queue.dec();
            }
            let _ = done.send(output);
        });
        // Counted before it is queued: a thread may finish it before `try_send` returns.
        if let Some(meter) = &self.meter {
            meter.queue.inc();
        }
        self.jobs.try_send(job).map_err(|err| {
            if let Some(meter) = &self.meter {
                meter.queue.dec();
            }
            match err {
                TrySendError::Full(_) => PasswordError::Busy,
                TrySendError::Disconnected(_) => PasswordError::Internal {
                    context: "hashing threads stopped",
                    source: None,
                },
            }
        })?;
        Ok(result)
    }
}

/// Hashing threads run at the lowest normal CPU priority (Linux: `SCHED_BATCH`, nice 19):
/// when a core is shared, refresh and verification preempt a hash instead of waiting out
/// its time slice, while hashing still progresses on whatever CPU is left (unlike
/// `SCHED_IDLE`, which could starve logins entirely under sustained load).
fn lower_priority() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);
    if let Err(err) =
        set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, policy)
    {
        tracing::warn!(error = %err, "could not lower the priority of a hashing thread");
    }
}

/// A hashing thread: takes jobs until the pool is dropped. The queue lock is held only
/// while waiting for a job, never while hashing.
fn work(queue: &Mutex<Receiver<Job>>, mut hasher: Hasher) {
    lower_priority();
    loop {
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(&mut hasher),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small parameters: these tests check behaviour, not cost.
    fn passwords(max_concurrent: usize, max_queue: usize) -> Passwords {
        Passwords::new(&PasswordSettings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            max_concurrent,
            max_queue,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id_with_salt() {
        let pw = passwords(1, 8);
        let hash = pw.hash(SecretString::from("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert_ne!(
            hash,
            pw.hash(SecretString::from("correct horse")).await.unwrap()
        );
        assert!(pw
            .verify(SecretString::from("correct horse"), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!pw
            .verify(SecretString::from("wrong horse"), Some(hash))
            .await
            .unwrap());
        assert!(!pw
            .verify(SecretString::from("correct horse"), None)
            .await
            .unwrap());
    }

    /// Our PHC strings are the standard ones: the argon2 crate's own verifier accepts ours,
    /// and ours accepts its hashes, including ones made with other parameters.
    #[test]
    fn hashes_interoperate_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let params = Params::new(64, 1, 1, None).unwrap();
        let mut hasher = Hasher::new(params);
        let ours = hasher.hash(b"interop password").unwrap();
        let theirs = Argon2::default();
        assert!(theirs
            .verify_password(b"interop password", ours.as_str())
            .is_ok());
        assert!(theirs
            .verify_password(b"other password", ours.as_str())
            .is_err());

        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(128, 2, 1, None).unwrap(),
        );
        let phc = other
            .hash_password_with_salt(b"older params", b"saltsaltsaltsalt")
            .unwrap()
            .to_string();
        assert!(hasher.verify(b"older params", &phc));
        assert!(!hasher.verify(b"wrong", &phc));
        assert!(!hasher.verify(b"older params", "not a phc string"));
    }

    /// One thread, a queue of one: a third job while the first runs and the second waits
    /// is refused at once, and the queued one still completes.
    #[tokio::test]
    async fn a_full_queue_sheds_load() {
        let pw = passwords(1, 1);
        let (started, wait_started) = std::sync::mpsc::channel();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let first = pw
            .submit(move |_| {
                started.send(()).unwrap();
                gate.recv().unwrap();
            })
            .unwrap();
        wait_started.recv().unwrap();
        let queued = pw.submit(|_| 42).unwrap();
        assert!(matches!(pw.submit(|_| 0), Err(PasswordError::Busy)));
        release.send(()).unwrap();
        assert_eq!(queued.await.unwrap(), 42);
        first.await.unwrap();
    }
}
