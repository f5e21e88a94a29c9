//! A token bucket for `--max-bytes-per-sec`: at most one second of budget
//! can build up, so an idle start or a pause never turns into a burst.

use std::time::{Duration, Instant};

/// Limits a byte rate. Time is passed in, so the logic is testable.
#[derive(Debug, Clone)]
pub(crate) struct Throttle {
    rate: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl Throttle {
    /// `bytes_per_sec` must be positive.
    pub(crate) fn new(bytes_per_sec: u64) -> Self {
        Throttle {
            rate: bytes_per_sec.max(1) as f64,
            tokens: 0.0,
            last: None,
        }
    }

    /// Time until `now` was spent waiting for something else (the first
    /// acknowledgement of a partition): it builds up no budget.
    pub(crate) fn rest(&mut self, now: Instant) {
        if self.last.is_some() {
            self.last = Some(now);
        }
    }

    /// Takes `bytes` at `now` and returns how long to wait before going on.
    pub(crate) fn take(&mut self, bytes: u64, now: Instant) -> Duration {
        let capacity = self.rate;
        if let Some(last) = self.last {
            self.tokens = (self.tokens
                + now.saturating_duration_since(last).as_secs_f64() * self.rate)
                .min(capacity);
        }
        self.last = Some(now);
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulates a sender that sleeps as told: over 10 s it sends at most
    /// rate × 10 s plus one second of burst, whatever the idle time before.
    #[test]
    fn holds_the_rate_after_an_idle_start() {
        let start = Instant::now();
        let mut t = Throttle::new(1_000);
        // Idle for a minute: no credit beyond one second builds up.
        let mut now = start + Duration::from_secs(60);
        t.take(0, start);
        let end = now + Duration::from_secs(10);
        let mut sent = 0u64;
        while now < end {
            let wait = t.take(100, now);
            sent += 100;
            now += wait.max(Duration::from_millis(1));
        }
        assert!(
            sent <= 11_000 + 100,
            "sent {sent} bytes in 10 s at 1000 B/s"
        );
        assert!(sent >= 9_000, "sent only {sent}");
    }

    #[test]
    fn a_rest_builds_up_no_budget() {
        let start = Instant::now();
        let mut t = Throttle::new(1_000);
        assert_eq!(t.take(1_000, start), Duration::from_secs(1));
        // Two seconds spent waiting for something else.
        let later = start + Duration::from_secs(2);
        t.rest(later);
        assert_eq!(t.take(1_000, later), Duration::from_secs(2));
    }

    #[test]
    fn waits_in_proportion_to_the_overdraft() {
        let now = Instant::now();
        let mut t = Throttle::new(1_000);
        assert_eq!(t.take(500, now), Duration::from_millis(500));
        assert_eq!(t.take(500, now), Duration::from_millis(1000));
    }
}
