//! This node's wall clock: the system clock shifted by an admin offset and advancing at an
//! admin rate. It is handed to the core only as data (the `wall-clock-lease` bug reads it).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The wall clock with its admin adjustments.
#[derive(Debug, Clone)]
pub struct WallClock {
    offset_ms: i64,
    rate: f64,
    /// When the adjustment was set, on the monotonic clock: the rate applies from here.
    set_at: Instant,
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock {
            offset_ms: 0,
            rate: 1.0,
            set_at: Instant::now(),
        }
    }
}

impl WallClock {
    /// Sets the offset and rate; from now on the clock reads system time + `offset_ms`,
    /// and drifts from there by `rate - 1` milliseconds per real millisecond.
    pub fn set(&mut self, offset_ms: i64, rate: f64) {
        assert!(
            rate.is_finite() && rate >= 0.0,
            "rate {rate} was not validated"
        );
        self.offset_ms = offset_ms;
        self.rate = rate;
        self.set_at = Instant::now();
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Milliseconds since the Unix epoch as this node's clock reads them (0 before it).
    pub fn now_ms(&self) -> u64 {
        let system_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let since_set_ms = self.set_at.elapsed().as_millis() as f64;
        let drift_ms = ((self.rate - 1.0) * since_set_ms) as i64;
        system_ms
            .saturating_add(self.offset_ms)
            .saturating_add(drift_ms)
            .max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_shifts_the_reading() {
        let mut c = WallClock::default();
        let before = c.now_ms();
        c.set(-30_000, 1.0);
        let after = c.now_ms();
        assert!(after + 29_000 < before + 1000, "{before} {after}");
        c.set(60_000, 1.0);
        assert!(c.now_ms() > before + 59_000);
    }
}
