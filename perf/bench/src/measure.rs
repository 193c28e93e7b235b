//! Running a program under measurement: wall time, CPU time (user + system of the whole
//! process and its waited-for children, from `wait4`), peak RSS (the kernel's `VmHWM`, sampled),
//! and a throughput time series read from the sink's own counters. Within the steady state it
//! also tells where the machine's CPU went: the measured process tree, the emulator, and the
//! whole machine (`/proc/stat`), so a run bounded by the machine rather than by the measured
//! program shows it.

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
    /// from `/proc/<pid>/stat` samples (and `wait4`'s at its exit).
    pub cpu_s: Option<f64>,
    /// CPU of the emulator (`starrocks-sim`) within the window.
    pub sim_cpu_s: Option<f64>,
    /// CPU the whole machine spent within the window, every process counted (the broker, the
    /// emulator, this harness and the measured program): `/proc/stat`'s user, nice, system, irq
    /// and softirq. Over `secs`, the cores that were busy.
    pub machine_busy_cpu_s: Option<f64>,
    /// CPU time the hypervisor ran something else while this VM had work (`/proc/stat`'s
    /// steal) within the window: the part of a slow run the VM's host took.
    pub machine_steal_cpu_s: Option<f64>,
    /// The busiest threads of the measured process tree (at most [`BUSIEST_THREADS`]), by
    /// name, with the cores each kept busy: for starpipe, whether one partition worker or one
    /// table's flusher carried the run. Between the thread samples last taken at or before the
    /// window's start and end (0.5 s apart at most); a thread that ended before the end sample
    /// is not listed, so these may add up to less than `cpu_s` over `secs`.
    pub busiest_threads: Vec<ThreadCores>,
}

/// One thread's share of a steady state.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadCores {
    /// The thread's name (`/proc/<pid>/task/<tid>/comm`, at most 15 bytes).
    pub name: String,
    /// CPU seconds it spent over the seconds between the two samples.
    pub cores: f64,
}

/// How many threads [`SteadyState::busiest_threads`] names.
const BUSIEST_THREADS: usize = 8;

/// Cores busy on average within a steady state: CPU seconds over its seconds.
#[derive(Debug, Clone, Serialize)]
pub struct Cores {
    /// The measured process tree.
    pub measured: Option<f64>,
    /// The emulator, `starrocks-sim`.
    pub sim: Option<f64>,
    /// Every process on the machine.
    pub machine: Option<f64>,
    /// Taken by the VM's host.
    pub steal: Option<f64>,
}

impl SteadyState {
    pub fn cores(&self) -> Cores {
        let per_sec = |cpu: Option<f64>| cpu.map(|c| c / self.secs);
        Cores {
            measured: per_sec(self.cpu_s),
            sim: per_sec(self.sim_cpu_s),
            machine: per_sec(self.machine_busy_cpu_s),
            steal: per_sec(self.machine_steal_cpu_s),
        }
    }
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
    let sim_pid = sim.pid as libc::pid_t;
    let mut cpu = CpuSeries::default();
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("spawning {:?}", cmd.get_program()))?;
    let pid = child.id() as libc::pid_t;
    cpu.sample(0.0, pid, sim_pid);
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
            let (cpu_user_s, cpu_sys_s) =
                (timeval_secs(usage.ru_utime), timeval_secs(usage.ru_stime));
            cpu.sample_at_exit(wall, cpu_user_s + cpu_sys_s, sim_pid);
            let exit_code = if libc::WIFEXITED(status) {
                Some(libc::WEXITSTATUS(status))
            } else {
                None
            };
            // `child` was reaped by wait4; forget it so std does not wait again.
            std::mem::forget(child);
            return Ok(Measured {
                wall_s: wall,
                cpu_user_s,
                cpu_sys_s,
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
            cpu.sample(el.as_secs_f64(), pid, sim_pid);
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

/// Cumulative CPU seconds sampled beside the applied-row counter, each as `(t, seconds)`.
#[derive(Debug, Default)]
struct CpuSeries {
    /// The measured process and its descendants (0 at spawn).
    measured: Vec<(f64, f64)>,
    sim: Vec<(f64, f64)>,
    machine_busy: Vec<(f64, f64)>,
    machine_steal: Vec<(f64, f64)>,
    /// The threads of the measured process tree: `(t, threads)`.
    threads: Vec<(f64, Vec<ThreadStat>)>,
}

impl CpuSeries {
    /// Samples at `t` the CPU of `pid`'s process tree, of the emulator `sim_pid`, and of the
    /// machine. A value that cannot be read leaves its series without a point at `t`.
    fn sample(&mut self, t: f64, pid: libc::pid_t, sim_pid: libc::pid_t) {
        let stats = proc_stats();
        if let Some(c) = tree_cpu_s(&stats, pid) {
            self.measured.push((t, c));
        }
        let tree = tree_pids(&stats, pid);
        self.threads
            .push((t, tree.into_iter().flat_map(thread_stats).collect()));
        self.sample_others(t, &stats, sim_pid);
    }

    /// The last samples, at `t` when the measured process exited having spent `measured_cpu_s`
    /// (from `wait4`: its `/proc` entry is gone). A short run's 90 % point may fall after the
    /// last periodic sample.
    fn sample_at_exit(&mut self, t: f64, measured_cpu_s: f64, sim_pid: libc::pid_t) {
        // `wait4` counts reaped descendants only; a periodic sample also counted live ones
        // (say, a JVM outliving its SIGTERMed launcher). The series must not go down.
        let last = self.measured.last().map_or(0.0, |&(_, c)| c);
        self.measured.push((t, measured_cpu_s.max(last)));
        self.sample_others(t, &proc_stats(), sim_pid);
    }

    fn sample_others(&mut self, t: f64, stats: &[ProcStat], sim_pid: libc::pid_t) {
        if let Some(c) = tree_cpu_s(stats, sim_pid) {
            self.sim.push((t, c));
        }
        if let Some(m) = machine_cpu() {
            self.machine_busy.push((t, m.busy_s));
            self.machine_steal.push((t, m.steal_s));
        }
    }
}

/// What `points` (cumulative `(t, v)` samples) grew by between `start` and `end`.
fn spent(points: &[(f64, f64)], start: f64, end: f64) -> Option<f64> {
    Some(value_at(points, end)? - value_at(points, start)?)
}

/// The steady state of cumulative row samples `(t, rows)` (starting at the count before the
/// run), and the CPU spent in it from the cumulative CPU samples.
fn steady_state(rows: &[(f64, u64)], cpu: &CpuSeries) -> Option<SteadyState> {
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
    Some(SteadyState {
        start_s,
        end_s,
        secs: end_s - start_s,
        cpu_s: spent(&cpu.measured, start_s, end_s),
        sim_cpu_s: spent(&cpu.sim, start_s, end_s),
        machine_busy_cpu_s: spent(&cpu.machine_busy, start_s, end_s),
        machine_steal_cpu_s: spent(&cpu.machine_steal, start_s, end_s),
        busiest_threads: busiest_threads(&cpu.threads, start_s, end_s),
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

/// The threads busiest between the thread samples nearest `start` and `end` (the last one
/// taken at or before each): CPU each thread gained over the seconds between the samples.
fn busiest_threads(samples: &[(f64, Vec<ThreadStat>)], start: f64, end: f64) -> Vec<ThreadCores> {
    let at = |t: f64| samples.iter().rev().find(|(st, _)| *st <= t);
    let (Some((t0, first)), Some((t1, last))) = (at(start), at(end)) else {
        return Vec::new();
    };
    if t1 <= t0 {
        return Vec::new();
    }
    let mut busiest: Vec<ThreadCores> = last
        .iter()
        .map(|th| {
            // A thread id may be reused: the same thread also has the same start time.
            let before = first
                .iter()
                .find(|b| (b.tid, b.start_ticks) == (th.tid, th.start_ticks))
                .map_or(0.0, |b| b.cpu_s);
            ThreadCores {
                name: th.name.clone(),
                cores: ((th.cpu_s - before) / (t1 - t0)).max(0.0),
            }
        })
        .collect();
    busiest.sort_by(|a, b| b.cores.total_cmp(&a.cores));
    busiest.truncate(BUSIEST_THREADS);
    busiest
}

#[derive(Debug, Clone)]
struct ThreadStat {
    tid: i32,
    /// When it started, in clock ticks after boot.
    start_ticks: u64,
    name: String,
    /// utime + stime, seconds.
    cpu_s: f64,
}

/// The threads of `pid` (`/proc/<pid>/task/*/stat`); empty once it has exited.
fn thread_stats(pid: libc::pid_t) -> Vec<ThreadStat> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let hz = clock_ticks_per_s();
    dir.flatten()
        .filter_map(|entry| {
            let tid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let bytes = std::fs::read(entry.path().join("stat")).ok()?;
            let text = String::from_utf8_lossy(&bytes);
            let stat = StatLine::parse(&text)?;
            Some(ThreadStat {
                tid,
                start_ticks: stat.field(22)?,
                name: stat.name.to_string(),
                cpu_s: (stat.field(14)? + stat.field(15)?) as f64 / hz,
            })
        })
        .collect()
}

/// `pid` and its live descendants in `stats`.
fn tree_pids(stats: &[ProcStat], pid: libc::pid_t) -> Vec<libc::pid_t> {
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(stats.iter().filter(|s| s.ppid == parent).map(|s| s.pid));
        i += 1;
    }
    tree
}

/// Every process's `/proc/<pid>/stat` (those that vanish while being read are left out).
fn proc_stats() -> Vec<ProcStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(proc_stat)
        .collect()
}

/// User + system CPU seconds of `pid` and every live descendant in `stats` (the children a
/// process has reaped are in its own `cutime`/`cstime`, counted too). `perf/flink/run-peer`
/// runs the JVM under a shell and python, so the peer is a process tree.
fn tree_cpu_s(stats: &[ProcStat], pid: libc::pid_t) -> Option<f64> {
    let tree = tree_pids(stats, pid);
    let ticks = clock_ticks_per_s();
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
    let bytes = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let stat = StatLine::parse(&text)?;
    let f = |n| stat.field(n);
    Some(ProcStat {
        pid,
        ppid: f(4)? as i32,
        ticks: f(14)? + f(15)? + f(16)? + f(17)?,
    })
}

/// A process's or thread's `/proc/.../stat` line, split.
struct StatLine<'a> {
    /// The command name (field 2, at most 15 bytes; a name cut inside a UTF-8 character is read
    /// lossily by the caller).
    name: &'a str,
    /// Fields 3 (state) onwards.
    fields: Vec<&'a str>,
}

impl<'a> StatLine<'a> {
    fn parse(text: &'a str) -> Option<StatLine<'a>> {
        // The name may hold spaces and parentheses: the fields start after the last ')'.
        let (head, tail) = text.rsplit_once(')')?;
        Some(StatLine {
            name: head.split_once('(')?.1,
            fields: tail.split_whitespace().collect(),
        })
    }

    /// Field `n` as proc(5) numbers them (1 is the pid): 4 ppid, 14 utime, 15 stime, 16 cutime,
    /// 17 cstime, 22 starttime.
    fn field(&self, n: usize) -> Option<u64> {
        self.fields.get(n.checked_sub(3)?)?.parse().ok()
    }
}

/// The unit of `/proc`'s CPU times.
fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// The machine's cumulative CPU time since boot, all CPUs summed (`/proc/stat`'s `cpu` line).
struct MachineCpu {
    /// user + nice + system + irq + softirq (guest time is inside user).
    busy_s: f64,
    steal_s: f64,
}

fn machine_cpu() -> Option<MachineCpu> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine_cpu(text.lines().next()?)
}

fn parse_machine_cpu(line: &str) -> Option<MachineCpu> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let ticks: Vec<u64> = fields.map(|f| f.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal …
    let [user, nice, system, _idle, _iowait, irq, softirq, steal, ..] = ticks[..] else {
        return None;
    };
    let hz = clock_ticks_per_s();
    Some(MachineCpu {
        busy_s: (user + nice + system + irq + softirq) as f64 / hz,
        steal_s: steal as f64 / hz,
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
        let mut cpu = super::CpuSeries::default();
        for i in 1..=28 {
            let t = i as f64 * 0.5;
            let r = if t <= 3.0 {
                0.0
            } else {
                ((t - 3.0) * 100.0).min(1000.0)
            };
            rows.push((t, 5000 + r as u64));
            cpu.measured.push((t, t * 0.5));
            cpu.sim.push((t, t * 0.25));
            cpu.machine_busy.push((t, 100.0 + t * 1.5));
        }
        let s = super::steady_state(&rows, &cpu).unwrap();
        assert!(
            (s.start_s - 4.0).abs() < 1e-9 && (s.end_s - 12.0).abs() < 1e-9,
            "{s:?}"
        );
        assert!((s.secs - 8.0).abs() < 1e-9);
        assert!((s.cpu_s.unwrap() - 4.0).abs() < 1e-9);
        assert!((s.sim_cpu_s.unwrap() - 2.0).abs() < 1e-9);
        assert!((s.machine_busy_cpu_s.unwrap() - 12.0).abs() < 1e-9);
        assert_eq!(s.machine_steal_cpu_s, None, "no steal samples");
        assert!(super::steady_state(&rows[..2], &cpu).is_none());
    }

    #[test]
    fn a_steady_state_inside_a_few_samples_is_not_trusted() {
        // Every row lands between two samples: interpolation would make up a 0.4 s window.
        let rows = [(0.0, 0u64), (0.5, 0), (1.0, 1000), (1.5, 1000)];
        assert!(super::steady_state(&rows, &super::CpuSeries::default()).is_none());
    }

    #[test]
    fn the_process_tree_of_this_test_has_cpu_time() {
        let me = std::process::id() as libc::pid_t;
        let stats = super::proc_stats();
        assert!(super::tree_cpu_s(&stats, me).is_some_and(|s| s >= 0.0));
        assert_eq!(super::tree_cpu_s(&stats, -7), None);
    }

    #[test]
    fn the_busiest_threads_are_named_with_their_cores_in_the_window() {
        let th = |tid, name: &str, cpu_s| super::ThreadStat {
            tid,
            start_ticks: 7,
            name: name.into(),
            cpu_s,
        };
        let samples = vec![
            (0.0, vec![th(1, "main", 0.0)]),
            (1.0, vec![th(1, "main", 0.1), th(2, "worker-0", 0.5)]),
            (
                3.0,
                vec![
                    th(1, "main", 0.3),
                    th(2, "worker-0", 2.3),
                    th(3, "flush-t", 0.4),
                ],
            ),
        ];
        let b = super::busiest_threads(&samples, 1.5, 3.2);
        // Between the samples at 1.0 and 3.0: a thread born in between counts from zero.
        let got: Vec<(&str, f64)> = b
            .iter()
            .map(|t| (t.name.as_str(), (t.cores * 1e6).round() / 1e6))
            .collect();
        assert_eq!(got, [("worker-0", 0.9), ("flush-t", 0.2), ("main", 0.1)]);
        assert!(super::busiest_threads(&samples, 2.0, 2.5).is_empty());
        // Thread id 5 reused by a thread started later: counted from zero, not from the old one.
        let reused = super::ThreadStat {
            start_ticks: 9,
            ..th(5, "new", 0.25)
        };
        let samples = vec![(0.0, vec![th(5, "old", 3.0)]), (1.0, vec![reused])];
        let b = super::busiest_threads(&samples, 0.0, 1.0);
        assert_eq!((b[0].name.as_str(), b[0].cores), ("new", 0.25));
        let me = super::thread_stats(std::process::id() as libc::pid_t);
        assert!(!me.is_empty() && me.iter().all(|t| t.cpu_s >= 0.0));
    }

    #[test]
    fn the_machine_cpu_line_splits_busy_from_idle_and_steal() {
        let hz = super::clock_ticks_per_s();
        let m = super::parse_machine_cpu("cpu  1393 7 1039 14261 256 0 17 3 0 0").unwrap();
        assert!((m.busy_s - (1393.0 + 7.0 + 1039.0 + 17.0) / hz).abs() < 1e-9);
        assert!((m.steal_s - 3.0 / hz).abs() < 1e-9);
        assert!(super::parse_machine_cpu("cpu0 1 2 3 4 5 6 7 8").is_none());
        assert!(super::parse_machine_cpu("cpu 1 2 3").is_none());
        assert!(super::machine_cpu().is_some(), "this machine's /proc/stat");
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
