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
    /// Page faults served without I/O (`wait4`'s `ru_minflt`): mostly first touches of fresh
    /// memory, which cost system time.
    pub minor_faults: u64,
    pub exit_code: Option<i32>,
    /// `(seconds since start, rows/s applied by StarRocks over the trailing 2 s)`, from the
    /// sink's counters sampled every 0.5 s (loads are bursty: one load applies ~10⁵ rows).
    pub series: Vec<(f64, f64)>,
    /// Rows StarRocks applied during the run (after the per-batch collapse by key).
    pub rows_applied: u64,
    /// The run's steady state, without start-up (a JVM's included), the group join and the
    /// tail. `None` when the run was too short to tell.
    pub steady: Option<SteadyState>,
}

/// The middle 80 % of a run's applied rows: from the moment 10 % of them had been applied to
/// the moment 90 % had (linear between the 0.5 s samples).
#[derive(Debug, Clone, Serialize)]
pub struct SteadyState {
    pub start_s: f64,
    pub end_s: f64,
    pub secs: f64,
    /// CPU (user + system) of the measured process and its descendants within the window,
    /// from `/proc/<pid>/stat` samples.
    pub cpu_s: Option<f64>,
}

/// Samples between the 10 % and 90 % points below which the window is not trusted: loads land
/// in bursts, and a window inside one or two samples is interpolation, not measurement.
const MIN_SAMPLES_IN_STEADY_STATE: usize = 4;

impl Measured {
    pub fn cpu_s(&self) -> f64 {
        self.cpu_user_s + self.cpu_sys_s
    }

    /// `rows` (the source rows the run replicated) per second of steady state: 80 % of them
    /// over [`SteadyState::secs`].
    pub fn steady_rows_per_s(&self, rows: u64) -> Option<f64> {
        self.steady.as_ref().map(|s| 0.8 * rows as f64 / s.secs)
    }

    /// CPU seconds per million of `rows` in the steady state (80 % of them were applied in it).
    pub fn steady_cpu_s_per_m_rows(&self, rows: u64) -> Option<f64> {
        let cpu = self.steady.as_ref()?.cpu_s?;
        Some(cpu / (0.8 * rows as f64 / 1e6))
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
    // Cumulative `(t, rows applied)` and `(t, CPU seconds of the process tree)` samples.
    let mut samples: Vec<(f64, u64)> = vec![(0.0, rows_before)];
    let mut cpu: Vec<(f64, f64)> = vec![(0.0, 0.0)];
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
                minor_faults: usage.ru_minflt as u64,
                exit_code,
                series: trailing_rate(&samples, 2.0),
                rows_applied: rows_after - rows_before,
                steady: steady_state(&samples, &cpu),
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
            if let Some(c) = tree_cpu_s(pid) {
                cpu.push((el.as_secs_f64(), c));
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

/// The steady state of cumulative row samples `(t, rows)` (starting at the count before the
/// run), and the CPU spent in it from cumulative CPU samples `(t, cpu_s)`.
fn steady_state(rows: &[(f64, u64)], cpu: &[(f64, f64)]) -> Option<SteadyState> {
    let (&(_, first), &(_, last)) = (rows.first()?, rows.last()?);
    let total = last.checked_sub(first).filter(|&n| n >= 10)? as f64;
    let points: Vec<(f64, f64)> = rows.iter().map(|&(t, r)| (t, r as f64)).collect();
    let start_s = time_at(&points, first as f64 + 0.1 * total)?;
    let end_s = time_at(&points, first as f64 + 0.9 * total)?;
    let inside = rows
        .iter()
        .filter(|&&(t, _)| t > start_s && t < end_s)
        .count();
    if inside < MIN_SAMPLES_IN_STEADY_STATE {
        return None;
    }
    let cpu_s = value_at(cpu, end_s)
        .zip(value_at(cpu, start_s))
        .map(|(e, s)| e - s);
    Some(SteadyState {
        start_s,
        end_s,
        secs: end_s - start_s,
        cpu_s,
    })
}

/// When non-decreasing samples `(t, v)` first reach `goal` (linear between samples); `None`
/// if they never do or already had at the first sample.
fn time_at(points: &[(f64, f64)], goal: f64) -> Option<f64> {
    let i = points.iter().position(|&(_, v)| v >= goal)?;
    let (t0, v0) = points[i.checked_sub(1)?];
    let (t1, v1) = points[i];
    Some(t0 + (t1 - t0) * (goal - v0) / (v1 - v0))
}

/// The value of samples `(t, v)` at time `t` (linear between samples; `None` outside them).
fn value_at(points: &[(f64, f64)], t: f64) -> Option<f64> {
    let i = points.iter().position(|&(pt, _)| pt >= t)?;
    let (t1, v1) = points[i];
    let Some(j) = i.checked_sub(1) else {
        return (t1 == t).then_some(v1);
    };
    let (t0, v0) = points[j];
    Some(v0 + (v1 - v0) * (t - t0) / (t1 - t0))
}

/// User + system CPU seconds of `pid` and every live descendant (`/proc/<pid>/stat`; the
/// children a process has reaped are in its own `cutime`/`cstime`, counted too). `perf/flink/
/// run-peer` runs the JVM under a shell and python, so the peer is a process tree.
fn tree_cpu_s(pid: libc::pid_t) -> Option<f64> {
    let mut stats = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(st) = proc_stat(p) {
            stats.push(st);
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(stats.iter().filter(|s| s.ppid == parent).map(|s| s.pid));
        i += 1;
    }
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let total: u64 = stats
        .iter()
        .filter(|s| tree.contains(&s.pid))
        .map(|s| s.ticks)
        .sum();
    stats
        .iter()
        .any(|s| s.pid == pid)
        .then(|| total as f64 / ticks)
}

struct ProcStat {
    pid: i32,
    ppid: i32,
    /// utime + stime + cutime + cstime.
    ticks: u64,
}

fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    // fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
    let num = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok());
    Some(ProcStat {
        pid,
        ppid: num(4)? as i32,
        ticks: num(14)? + num(15)? + num(16)? + num(17)?,
    })
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
    fn the_steady_state_skips_start_up_and_tail() {
        // Nothing for 3 s (start-up), then 100 rows/s for 10 s, then a 1 s tail; CPU 0.5 s per s.
        let mut rows = vec![(0.0, 5000u64)];
        let mut cpu = vec![(0.0, 0.0)];
        for i in 1..=28 {
            let t = i as f64 * 0.5;
            let r = if t <= 3.0 {
                0.0
            } else {
                ((t - 3.0) * 100.0).min(1000.0)
            };
            rows.push((t, 5000 + r as u64));
            cpu.push((t, t * 0.5));
        }
        let s = super::steady_state(&rows, &cpu).unwrap();
        assert!(
            (s.start_s - 4.0).abs() < 1e-9 && (s.end_s - 12.0).abs() < 1e-9,
            "{s:?}"
        );
        assert!((s.secs - 8.0).abs() < 1e-9);
        assert!((s.cpu_s.unwrap() - 4.0).abs() < 1e-9);
        assert!(super::steady_state(&rows[..2], &cpu).is_none());
    }

    #[test]
    fn a_steady_state_inside_a_few_samples_is_not_trusted() {
        // Every row lands between two samples: interpolation would make up a 0.4 s window.
        let rows = [(0.0, 0u64), (0.5, 0), (1.0, 1000), (1.5, 1000)];
        assert!(super::steady_state(&rows, &[]).is_none());
    }

    #[test]
    fn the_process_tree_of_this_test_has_cpu_time() {
        let me = std::process::id() as libc::pid_t;
        assert!(super::tree_cpu_s(me).is_some_and(|s| s >= 0.0));
        assert_eq!(super::tree_cpu_s(-7), None);
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
