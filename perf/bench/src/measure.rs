//! Running a program under measurement: wall time, CPU time (user + system of the whole
//! process and its waited-for children, from `wait4`), peak RSS (the kernel's `VmHWM`, sampled),
//! and a throughput time series read from the sink's own counters.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::env::Sim;

#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub wall_s: f64,
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
    /// Largest `VmHWM` seen (sampled every 50 ms; the process image after any `exec`). Not
    /// `wait4`'s `ru_maxrss`: a forked child starts with the parent's resident pages counted,
    /// and Linux carries that high-water mark across `exec`, so it would report this harness's
    /// own RSS.
    pub peak_rss_mb: f64,
    pub exit_code: Option<i32>,
    /// `(seconds since start, rows/s applied by StarRocks over the trailing 2 s)`, from the
    /// sink's counters sampled every 0.5 s (loads are bursty: one load applies ~10⁵ rows).
    pub series: Vec<(f64, f64)>,
    /// Rows StarRocks applied during the run (after the per-batch collapse by key).
    pub rows_applied: u64,
    /// Seconds between the moments 10 % and 90 % of `rows_applied` had been applied (linear
    /// between the 0.5 s samples): the run's steady state, without start-up, the group join and
    /// the tail. `None` when too few rows were applied to tell.
    pub middle_80_secs: Option<f64>,
}

impl Measured {
    pub fn cpu_s(&self) -> f64 {
        self.cpu_user_s + self.cpu_sys_s
    }

    /// `rows` (the source rows the run replicated) per second of steady state: 80 % of them
    /// over [`Measured::middle_80_secs`].
    pub fn steady_rows_per_s(&self, rows: u64) -> Option<f64> {
        self.middle_80_secs.map(|s| 0.8 * rows as f64 / s)
    }
}

pub fn timeval_secs(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Spawns `cmd`, samples it until it exits (or `until` says stop, then SIGTERM), and returns
/// the measurements. `until` is polled every 50 ms with the elapsed time.
pub fn run(
    mut cmd: Command,
    sim: &Sim,
    timeout: Duration,
    mut until: impl FnMut(Duration) -> bool,
) -> anyhow::Result<Measured> {
    let rows_before = sim.rows_loaded()?;
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("spawning {:?}", cmd.get_program()))?;
    let pid = child.id() as libc::pid_t;
    let mut peak_kb = 0u64;
    // Cumulative `(t, rows applied)` samples.
    let mut samples: Vec<(f64, u64)> = vec![(0.0, rows_before)];
    let mut next_sample = Duration::from_millis(500);
    let mut terminated = false;
    loop {
        let mut status = 0;
        // SAFETY: plain syscall on our own child; `rusage` is fully written on success.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            let wall = started.elapsed().as_secs_f64();
            let rows_after = sim.rows_loaded()?;
            samples.push((wall, rows_after));
            let exit_code = if libc::WIFEXITED(status) {
                Some(libc::WEXITSTATUS(status))
            } else {
                None
            };
            // `child` was reaped by wait4; forget it so std does not wait again.
            std::mem::forget(child);
            return Ok(Measured {
                wall_s: wall,
                cpu_user_s: timeval_secs(usage.ru_utime),
                cpu_sys_s: timeval_secs(usage.ru_stime),
                peak_rss_mb: peak_kb as f64 / 1024.0,
                exit_code,
                series: trailing_rate(&samples, 2.0),
                rows_applied: rows_after - rows_before,
                middle_80_secs: middle_80_secs(&samples),
            });
        }
        if r < 0 {
            bail!("wait4: {}", std::io::Error::last_os_error());
        }
        if let Some(kb) = vm_hwm_kb(pid as u32) {
            peak_kb = peak_kb.max(kb);
        }
        let el = started.elapsed();
        if el >= next_sample {
            if let Ok(rows) = sim.rows_loaded() {
                samples.push((el.as_secs_f64(), rows));
            }
            next_sample += Duration::from_millis(500);
        }
        if !terminated && (el > timeout || until(el)) {
            // SAFETY: signalling our own, not yet reaped child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            terminated = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The time between 10 % and 90 % of the rows applied over cumulative samples (`(t, rows)`,
/// starting at the count before the run).
fn middle_80_secs(samples: &[(f64, u64)]) -> Option<f64> {
    let (&(_, first), &(_, last)) = (samples.first()?, samples.last()?);
    let total = last.checked_sub(first).filter(|&n| n >= 10)? as f64;
    let at = |fraction: f64| {
        let goal = first as f64 + fraction * total;
        let i = samples.iter().position(|&(_, r)| r as f64 >= goal)?;
        let (t1, r1) = samples[i];
        let Some(&(t0, r0)) = i.checked_sub(1).map(|j| &samples[j]) else {
            return Some(t1);
        };
        Some(t0 + (t1 - t0) * (goal - r0 as f64) / (r1 - r0) as f64)
    };
    let secs = at(0.9)? - at(0.1)?;
    (secs > 0.0).then_some(secs)
}

/// Rates over a trailing window from cumulative samples.
fn trailing_rate(samples: &[(f64, u64)], window: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut j = 0;
    for &(t, rows) in samples.iter().skip(1) {
        while samples[j + 1].0 <= t - window {
            j += 1;
        }
        let (t0, r0) = samples[j];
        if t > t0 {
            out.push((t, rows.saturating_sub(r0) as f64 / (t - t0)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn middle_80_skips_start_up_and_tail() {
        // Nothing for 3 s (start-up), then 100 rows/s for 10 s, then a 1 s tail.
        let mut s = vec![(0.0, 5000u64)];
        for i in 1..=28 {
            let t = i as f64 * 0.5;
            let rows = if t <= 3.0 {
                0.0
            } else {
                ((t - 3.0) * 100.0).min(1000.0)
            };
            s.push((t, 5000 + rows as u64));
        }
        let m = super::middle_80_secs(&s).unwrap();
        assert!((m - 8.0).abs() < 1e-9, "{m}");
        assert_eq!(super::middle_80_secs(&s[..2]), None);
    }

    #[test]
    fn trailing_rate_averages_bursts() {
        // 100 rows land at t = 1.0; samples every 0.5 s.
        let s = [
            (0.0, 0),
            (0.5, 0),
            (1.0, 100),
            (1.5, 100),
            (2.0, 100),
            (2.5, 100),
            (3.0, 100),
            (3.5, 100),
        ];
        let r = super::trailing_rate(&s, 2.0);
        assert_eq!(r[0], (0.5, 0.0));
        assert_eq!(r[1], (1.0, 100.0));
        assert_eq!(r[3], (2.0, 50.0));
        // t = 3.0: window (1.0, 3.0] holds no new rows.
        assert_eq!(r[5], (3.0, 0.0));
    }
}
