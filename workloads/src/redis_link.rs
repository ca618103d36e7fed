//! Connections to Redis servers shared by the Redis adapters: one multiplexed
//! connection per address, opened on first use and dropped after any fault but an
//! answer, and every call bounded by a deadline; what went wrong is a [`Fault`] that
//! says whether a command may have taken effect.

use std::collections::HashMap;
use std::time::Duration;

use checkers::ErrorCode;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use tokio::time::Instant;

use crate::client::Outcome;

/// What is left of the time until `deadline`.
pub fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Open connections by `ip:port`. The lock is never held across a wait: a connection
/// that takes its whole bound to fail (a node that is down or paused) must not hold up
/// calls to the other nodes.
#[derive(Default)]
pub struct Links(std::sync::Mutex<HashMap<String, MultiplexedConnection>>);

/// What went wrong with a call.
#[derive(Debug)]
pub enum Fault {
    /// No connection could be opened: nothing was sent.
    Unreachable,
    /// No answer within the bound.
    Timeout,
    /// The server answered with an error: the command was refused.
    Refused { code: String, detail: String },
    /// The connection failed after the command may have been sent.
    Lost,
    /// An answer that cannot be read.
    Malformed,
}

impl Fault {
    pub fn name(&self) -> String {
        match self {
            Fault::Unreachable => ErrorCode::Unreachable.into(),
            Fault::Timeout => ErrorCode::Timeout.into(),
            Fault::Lost => ErrorCode::ConnectionLost.into(),
            Fault::Malformed => ErrorCode::MalformedAnswer.into(),
            // A replica refuses writes: the primary moved.
            Fault::Refused { code, .. } if code == "READONLY" => ErrorCode::NotLeader.into(),
            Fault::Refused { code, .. } => format!("redis-{}", code.to_ascii_lowercase()),
        }
    }

    /// A command certainly did not take effect only if it was never sent or Redis
    /// refused it.
    pub fn took_no_effect(&self) -> bool {
        match self {
            Fault::Unreachable | Fault::Refused { .. } => true,
            Fault::Timeout | Fault::Lost | Fault::Malformed => false,
        }
    }

    /// A write that certainly did not happen is `fail`, else `info`.
    pub fn write_outcome<T>(self) -> Outcome<T> {
        if self.took_no_effect() {
            Outcome::fail(self.name())
        } else {
            Outcome::info(self.name())
        }
    }

    /// Reads and status have no effect: any fault is a failure.
    pub fn read_outcome<T>(self) -> Outcome<T> {
        Outcome::fail(self.name())
    }
}

impl Links {
    /// A connection to `addr`, opened if there is none.
    pub async fn connection(
        &self,
        addr: &str,
        deadline: Instant,
    ) -> Result<MultiplexedConnection, Fault> {
        if let Some(c) = self.open().get(addr) {
            return Ok(c.clone());
        }
        let client = redis::Client::open(format!("redis://{addr}/")).map_err(|e| {
            tracing::debug!(addr, error = %e, "not a Redis address");
            Fault::Malformed
        })?;
        let bound = remaining(deadline);
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(bound))
            .set_response_timeout(None);
        let connecting = client.get_multiplexed_async_connection_with_config(&config);
        match tokio::time::timeout(bound, connecting).await {
            Ok(Ok(c)) => {
                self.open().insert(addr.to_string(), c.clone());
                Ok(c)
            }
            Ok(Err(e)) => {
                tracing::debug!(addr, error = %e, "no connection to Redis");
                Err(Fault::Unreachable)
            }
            Err(_) => Err(Fault::Unreachable),
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<String, MultiplexedConnection>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn forget(&self, addr: &str) {
        self.open().remove(addr);
    }

    /// Sends `cmd` to `addr` and waits for its answer until `deadline`.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        addr: &str,
        cmd: &redis::Cmd,
        deadline: Instant,
    ) -> Result<T, Fault> {
        let mut connection = self.connection(addr, deadline).await?;
        self.query_on(&mut connection, addr, cmd, deadline).await
    }

    /// Sends `cmd` on `connection`, one of `addr`'s: for commands that must follow
    /// another on the same connection (`WAIT` counts the replicas that have the
    /// connection's own last write; on a fresh connection it has none to wait for and
    /// answers at once).
    pub async fn query_on<T: redis::FromRedisValue>(
        &self,
        connection: &mut MultiplexedConnection,
        addr: &str,
        cmd: &redis::Cmd,
        deadline: Instant,
    ) -> Result<T, Fault> {
        let answer = tokio::time::timeout(
            remaining(deadline),
            cmd.query_async::<redis::Value>(connection),
        )
        .await;
        let value = match answer {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                if let Some(code) = e.code() {
                    return Err(Fault::Refused {
                        code: code.to_string(),
                        detail: e.detail().unwrap_or_default().to_string(),
                    });
                }
                self.forget(addr);
                return Err(Fault::Lost);
            }
            Err(_) => {
                self.forget(addr);
                return Err(Fault::Timeout);
            }
        };
        if let redis::Value::ServerError(e) = &value {
            return Err(Fault::Refused {
                code: e.code().to_string(),
                detail: e.details().unwrap_or_default().to_string(),
            });
        }
        redis::from_redis_value(value).map_err(|e| {
            tracing::debug!(addr, error = %e, "an answer that cannot be read");
            Fault::Malformed
        })
    }
}
