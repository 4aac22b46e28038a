//! Password hashing with argon2id (OWASP parameters: 19 MiB, t=2, p=1). Every
//! hash and verification runs on the blocking pool behind a semaphore sized to
//! the cores, so a burst of logins queues instead of starving other requests.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::anyhow;
use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier, Version,
    password_hash::SaltString,
};
use tokio::sync::{OnceCell, Semaphore};

use crate::error::{AppError, Result};

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    queue_timeout: Duration,
    dummy_hash: Arc<OnceCell<String>>,
    /// Verifications against a real stored hash (not the dummy), for tests and metrics.
    real_verifications: Arc<AtomicU64>,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl PasswordHasher {
    /// At most `concurrency` computations run at once; a request that cannot
    /// start one within `queue_timeout` gets `RATE_LIMITED` instead of waiting on.
    pub fn new(concurrency: usize, queue_timeout: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            queue_timeout,
            dummy_hash: Arc::new(OnceCell::new()),
            real_verifications: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many verifications ran against a real stored hash so far.
    pub fn real_verifications(&self) -> u64 {
        self.real_verifications.load(Ordering::Relaxed)
    }

    /// A PHC-format argon2id hash of `password`.
    pub async fn hash(&self, password: String) -> Result<String> {
        self.run_bounded(move || {
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| AppError::Internal(anyhow!("hashing failed: {e}")))
        })
        .await
    }

    /// Checks `password` against `hash`; with no hash (unknown user) it checks
    /// against a dummy one, so both failures cost the same time.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let (hash, real) = match hash {
            Some(hash) => (hash, true),
            None => (self.dummy_hash().await?, false),
        };
        if real {
            self.real_verifications.fetch_add(1, Ordering::Relaxed);
        }
        let matches = self
            .run_bounded(move || {
                if !super::imported_hash::is_current(&hash) {
                    return Ok(super::imported_hash::verify(&hash, &password));
                }
                let parsed = PasswordHash::new(&hash)
                    .map_err(|e| AppError::Internal(anyhow!("stored hash unreadable: {e}")))?;
                Ok(argon2()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        Ok(real && matches)
    }

    async fn dummy_hash(&self) -> Result<String> {
        self.dummy_hash
            .get_or_try_init(|| self.hash("usergraph-dummy-password".to_owned()))
            .await
            .cloned()
    }

    /// Runs CPU-heavy password work (a hash, a verification, the strength
    /// estimate) on the blocking pool, behind the same bound as every other.
    pub async fn run_bounded<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let queued = std::time::Instant::now();
        let queue = metrics::gauge!(crate::metrics::HASH_QUEUE);
        queue.increment(1.0);
        let permit = tokio::time::timeout(self.queue_timeout, self.permits.acquire()).await;
        queue.decrement(1.0);
        metrics::histogram!(crate::metrics::HASH_WAIT).record(queued.elapsed().as_secs_f64());
        let _permit = permit
            .map_err(|_| AppError::RateLimited { retry_after: 1 })?
            .map_err(|e| AppError::Internal(anyhow!("hasher closed: {e}")))?;
        // A span of its own, so a trace shows the time spent hashing apart
        // from the time spent waiting for a slot.
        let span = tracing::info_span!("password.work");
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .await
            .map_err(|e| AppError::Internal(anyhow!("hashing task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let hasher = PasswordHasher::new(2, Duration::from_secs(5));
        let hash = hasher.hash("tangerine-kettle-42".into()).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(super::super::imported_hash::is_current(&hash));
        assert!(
            hasher
                .verify("tangerine-kettle-42".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("tangerine-kettle-43".into(), Some(hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_full_queue_answers_rate_limited_instead_of_waiting_on() {
        let hasher = PasswordHasher::new(1, Duration::from_millis(1));
        let busy = hasher.clone();
        let first = tokio::spawn(async move { busy.hash("tangerine-kettle-42".into()).await });
        tokio::task::yield_now().await;
        let results: Vec<_> =
            futures::future::join_all((0..4).map(|_| hasher.hash("x".into()))).await;
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(AppError::RateLimited { .. })))
        );
        assert!(first.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        let hasher = PasswordHasher::new(1, Duration::from_secs(5));
        assert!(
            !hasher
                .verify("usergraph-dummy-password".into(), None)
                .await
                .unwrap()
        );
    }
}
