//! The one way this program runs another: no shell, a cleared environment plus an allowlist,
//! stdin fed from memory, bounded capture of stdout and stderr, and a timeout that kills the
//! child's whole process group (so nothing it spawned outlives it).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

/// How much of each output stream is kept: the tail, where the URL and the error are.
pub const CAPTURE_LIMIT: usize = 64 * 1024;

/// A fully prepared child process.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Absolute path of the program.
    pub program: PathBuf,
    /// Arguments (argv[1..]).
    pub args: Vec<OsString>,
    /// The whole environment the child gets.
    pub env: Vec<(OsString, OsString)>,
    /// Bytes written to its stdin, which is then closed.
    pub stdin: Vec<u8>,
    /// Kill it after this long.
    pub timeout: Duration,
}

/// How the child ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status; `None` when it had to be killed at the timeout.
    pub status: Option<ExitStatus>,
    /// The tail of stdout (lossy UTF-8).
    pub stdout: String,
    /// The tail of stderr (lossy UTF-8).
    pub stderr: String,
}

impl Finished {
    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// `exit status 3`, `killed by signal 9`, `timed out`, for failure reasons.
    pub fn describe(&self, timeout: Duration) -> String {
        match self.status {
            None => format!("timed out after {}", humantime::format_duration(timeout)),
            Some(s) => match (s.code(), s.signal()) {
                (Some(code), _) => format!("exit status {code}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                (None, None) => "ended abnormally".to_owned(),
            },
        }
    }

    /// A failure reason: `what` failed, how it ended, and the tail of stderr (at most 300
    /// characters).
    pub fn failure_reason(&self, what: &str, timeout: Duration) -> String {
        let stderr = tail(&self.stderr, 300);
        let how = self.describe(timeout);
        if stderr.is_empty() {
            format!("{what} failed: {how}")
        } else {
            format!("{what} failed: {how}: {stderr}")
        }
    }
}

/// The environment a child starts from: PATH and HOME, plus the variables a handler's
/// allowlist names, taken from ours.
#[derive(Debug, Clone, Default)]
pub struct ChildEnv {
    vars: BTreeMap<OsString, OsString>,
}

impl ChildEnv {
    /// From this process's variables.
    pub fn new(vars: BTreeMap<OsString, OsString>) -> ChildEnv {
        ChildEnv { vars }
    }

    /// PATH, HOME and the allowlisted names that are set.
    pub fn allow(&self, names: &[String]) -> Vec<(OsString, OsString)> {
        let always = [OsString::from("PATH"), OsString::from("HOME")];
        let mut env: Vec<(OsString, OsString)> = Vec::new();
        for name in always
            .iter()
            .cloned()
            .chain(names.iter().map(OsString::from))
        {
            if env.iter().any(|(k, _)| *k == name) {
                continue;
            }
            if let Some(value) = self.vars.get(&name) {
                env.push((name, value.clone()));
            }
        }
        env
    }

    /// Resolves a program to an absolute path: a path must already be absolute, a bare name
    /// is looked up on our PATH. Relative PATH entries (an empty one means the working
    /// directory) are skipped, so nothing planted where a run happens to start is executed.
    pub fn resolve(&self, program: &Path) -> Result<PathBuf, String> {
        if program.is_absolute() {
            return Ok(program.to_owned());
        }
        if program.components().count() > 1 {
            return Err(format!(
                "{} is a relative path: configure an absolute one",
                program.display()
            ));
        }
        let path = self
            .vars
            .get(&OsString::from("PATH"))
            .cloned()
            .unwrap_or_default();
        std::env::split_paths(&path)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable(candidate))
            .ok_or_else(|| format!("{} not found on PATH", program.display()))
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Why [`run`] has no [`Finished`] to give.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started: nothing ran.
    #[error("cannot start {program}: {source}")]
    Start {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// It started, but watching it failed (making its pipes non-blocking, poll(2), waitid(2)
    /// or the final wait; never seen in practice): it was killed, with its process group,
    /// and may have acted before that.
    #[error("{program} was killed when watching it failed: {source}")]
    Watch {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },
}

/// Runs the invocation to completion or timeout.
///
/// One thread does it all with poll(2): it feeds stdin, drains both outputs and notices the
/// exit through a pidfd, so a dispatch starts no thread and wakes only when something
/// happened.
pub fn run(inv: &Invocation) -> Result<Finished, RunError> {
    run_watching(inv, Watch::Pidfd)
}

/// How [`run`] notices the exit: the pidfd, or the tick a kernel without one falls back to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Watch {
    Pidfd,
    #[cfg_attr(not(test), allow(dead_code))]
    Tick,
}

fn run_watching(inv: &Invocation, watch: Watch) -> Result<Finished, RunError> {
    let program = || inv.program.display().to_string();
    // From before the spawn: a second stop signal then reaches the loop below, which kills
    // the child's group before the process exits (`crate::stop`).
    let during = crate::stop::during_dispatch();
    let mut child = Command::new(&inv.program)
        .args(&inv.args)
        .env_clear()
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout can kill everything it started.
        .process_group(0)
        .spawn()
        .map_err(|source| RunError::Start {
            program: program(),
            source,
        })?;
    // The group's id is the child's pid (`process_group(0)`).
    let pid = Pid::from_child(&child);
    let mut pipes = Pipes {
        stdin: child.stdin.take(),
        fed: 0,
        stdout: Output::new(child.stdout.take()),
        stderr: Output::new(child.stderr.take()),
    };
    let ended = pipes.nonblocking().and_then(|()| {
        let exit = ExitWatch::new(pid, watch);
        pipes.until_exit(inv, &exit, &during, Instant::now().checked_add(inv.timeout))
    });
    let stop_now = matches!(ended, Ok(Ended::StopNow));
    let in_time = ended.map(|e| e == Ended::Exited);
    // Whether it exited or timed out, nothing it spawned may live on holding our pipes open.
    // The child is not reaped yet (it is at most a zombie), so its pid, which is the group's
    // id, cannot have been reused: the kill reaches only what it started. The child itself
    // is killed by pid as well: it may have moved to another process group (setpgid), and
    // the wait below must never outlast the timeout.
    // ESRCH (already gone) is the common case and not an error.
    let _ = rustix::process::kill_process_group(pid, Signal::KILL);
    let _ = child.kill();
    if stop_now {
        // Not waited for: SIGKILL is on its way, and a child stuck in the kernel (a hung
        // mount) must not hold a run asked to stop now.
        log::error!(
            "stopped now, by a second stop signal: {} (pid {}) was killed with its process group; the draft in hand stays executing",
            program(),
            pid.as_raw_nonzero()
        );
        crate::stop::exit_now();
    }
    let watched = child
        .wait()
        .and_then(|status| Ok(in_time?.then_some(status)));
    let status = watched.map_err(|source| RunError::Watch {
        program: program(),
        source,
    })?;
    // Something that left the process group (setsid) can still hold a pipe open: wait a
    // moment for the pipes to close, then take what was written so far (everything the child
    // itself wrote before it exited) rather than hang the cycle.
    pipes.stdin = None;
    match pipes.drain(Instant::now() + PIPE_GRACE, &during) {
        Ok(true) => {}
        Ok(false) => log::warn!(
            "a process the handler started kept its output open; only what was written until now is kept"
        ),
        Err(e) => log::warn!(
            "stopped reading the handler's output ({e}); only what was read until now is kept"
        ),
    }
    Ok(Finished {
        status,
        stdout: pipes.stdout.text(),
        stderr: pipes.stderr.text(),
    })
}

/// How long output may keep arriving once the child is gone.
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// Without a pidfd (a kernel older than 5.3, or a sandbox that refuses it), how often the
/// child is checked for an exit.
const EXIT_TICK: Duration = Duration::from_millis(10);

/// Our end of each of the child's pipes, while it is open.
struct Pipes {
    /// Closed (`None`) once all of the input is written or the child stops reading.
    stdin: Option<ChildStdin>,
    /// How much of the input has been written.
    fed: usize,
    stdout: Output<ChildStdout>,
    stderr: Output<ChildStderr>,
}

/// What a poll(2) found ready.
#[derive(Clone, Copy)]
enum Ready {
    Stdin,
    Stdout,
    Stderr,
    Exit,
    Stop,
}

/// How [`Pipes::until_exit`] ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The child exited.
    Exited,
    /// The deadline passed.
    TimedOut,
    /// A second stop signal came: the child is to be killed, and the process to exit.
    StopNow,
}

impl Pipes {
    /// Every pipe non-blocking, so no read or write waits on the child: one that never reads
    /// its stdin, or writes without end, cannot hold the loop past its deadline.
    fn nonblocking(&self) -> io::Result<()> {
        if let Some(p) = &self.stdin {
            rustix::io::ioctl_fionbio(p, true)?;
        }
        for pipe in [
            self.stdout.pipe.as_ref().map(AsFd::as_fd),
            self.stderr.pipe.as_ref().map(AsFd::as_fd),
        ]
        .into_iter()
        .flatten()
        {
            rustix::io::ioctl_fionbio(pipe, true)?;
        }
        Ok(())
    }

    /// Feeds stdin and drains the outputs until the child exits, `deadline` passes or a
    /// second stop signal comes.
    fn until_exit(
        &mut self,
        inv: &Invocation,
        exit: &ExitWatch,
        during: &crate::stop::During,
        deadline: Option<Instant>,
    ) -> io::Result<Ended> {
        if inv.stdin.is_empty() {
            self.stdin = None;
        }
        loop {
            let wait = match deadline {
                // Exactly at the deadline, a poll that does not wait; past it, no more.
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) => Some(left),
                    None => return Ok(Ended::TimedOut),
                },
                None => None,
            };
            let wait = if exit.fd.is_some() {
                wait
            } else {
                Some(wait.map_or(EXIT_TICK, |w| w.min(EXIT_TICK)))
            };
            let ready = self.poll(exit.fd.as_ref(), during.fd(), wait)?;
            for what in ready.into_iter().flatten() {
                match what {
                    Ready::Stdin => self.feed(&inv.stdin),
                    Ready::Stdout => self.stdout.read_some(),
                    Ready::Stderr => self.stderr.read_some(),
                    Ready::Exit => {}
                    Ready::Stop => {
                        if during.now() {
                            return Ok(Ended::StopNow);
                        }
                    }
                }
            }
            if exit.exited()? {
                return Ok(Ended::Exited);
            }
        }
    }

    /// Reads what is left once the child is gone, until both outputs close (`true`) or
    /// `deadline` passes (`false`).
    /// A second stop signal meanwhile exits now (the child is dead already).
    fn drain(&mut self, deadline: Instant, during: &crate::stop::During) -> io::Result<bool> {
        while self.stdout.pipe.is_some() || self.stderr.pipe.is_some() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Ok(false);
            };
            let ready = self.poll(None, during.fd(), Some(left))?;
            for what in ready.into_iter().flatten() {
                match what {
                    Ready::Stdout => self.stdout.read_some(),
                    Ready::Stderr => self.stderr.read_some(),
                    Ready::Stop => {
                        if during.now() {
                            crate::stop::exit_now();
                        }
                    }
                    Ready::Stdin | Ready::Exit => {}
                }
            }
        }
        Ok(true)
    }

    /// One poll(2) of whatever is still open, and of the exit's pidfd if given; `None`
    /// entries were not ready.
    fn poll(
        &self,
        exit: Option<&OwnedFd>,
        stop: Option<BorrowedFd<'_>>,
        wait: Option<Duration>,
    ) -> io::Result<[Option<Ready>; 5]> {
        let mut fds = Vec::with_capacity(5);
        let mut what = Vec::with_capacity(5);
        if let Some(p) = &self.stdin {
            fds.push(PollFd::new(p, PollFlags::OUT));
            what.push(Ready::Stdin);
        }
        if let Some(p) = &self.stdout.pipe {
            fds.push(PollFd::new(p, PollFlags::IN));
            what.push(Ready::Stdout);
        }
        if let Some(p) = &self.stderr.pipe {
            fds.push(PollFd::new(p, PollFlags::IN));
            what.push(Ready::Stderr);
        }
        if let Some(p) = exit {
            fds.push(PollFd::new(p, PollFlags::IN));
            what.push(Ready::Exit);
        }
        if let Some(p) = &stop {
            fds.push(PollFd::new(p, PollFlags::IN));
            what.push(Ready::Stop);
        }
        // A wait too long for a timespec is as good as no limit.
        let timeout = wait.and_then(|w| Timespec::try_from(w).ok());
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let mut ready = [None; 5];
        for (slot, (fd, what)) in ready.iter_mut().zip(fds.iter().zip(what)) {
            // Hang-up and error count as ready: the read or write that follows says which.
            if !fd.revents().is_empty() {
                *slot = Some(what);
            }
        }
        Ok(ready)
    }

    /// Writes what the pipe takes now. EPIPE (a child that exits without reading) or any
    /// other error ends the input; so does its last byte, so the child sees end-of-file.
    fn feed(&mut self, input: &[u8]) {
        let Some(pipe) = &mut self.stdin else { return };
        match pipe.write(&input[self.fed..]) {
            Ok(n) => {
                self.fed += n;
                if self.fed >= input.len() {
                    self.stdin = None;
                }
            }
            // After poll's POLLOUT a pipe takes at least a byte, so this is only a guard; and
            // a non-blocking write never sleeps, so no EINTR.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => self.stdin = None,
        }
    }
}

/// One output stream of the child: the pipe while it is open, and its tail.
struct Output<R> {
    pipe: Option<R>,
    kept: Vec<u8>,
}

impl<R: Read> Output<R> {
    fn new(pipe: Option<R>) -> Output<R> {
        Output {
            pipe,
            kept: Vec::with_capacity(4096),
        }
    }

    /// One read of what is there: a flood is drained (so the child never blocks on a full
    /// pipe) but never held, keeping only the last [`CAPTURE_LIMIT`] bytes. One read per
    /// wake-up, so a child that writes without end cannot keep us from its deadline.
    fn read_some(&mut self) {
        let Some(pipe) = &mut self.pipe else { return };
        let mut buf = [0u8; 16 * 1024];
        match pipe.read(&mut buf) {
            Ok(0) => self.pipe = None,
            Ok(n) => {
                self.kept.extend_from_slice(&buf[..n]);
                if self.kept.len() > 2 * CAPTURE_LIMIT {
                    let excess = self.kept.len() - CAPTURE_LIMIT;
                    self.kept.drain(..excess);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => self.pipe = None,
        }
    }

    /// The last [`CAPTURE_LIMIT`] bytes read, as lossy UTF-8.
    fn text(&self) -> String {
        let start = self.kept.len().saturating_sub(CAPTURE_LIMIT);
        String::from_utf8_lossy(&self.kept[start..]).into_owned()
    }
}

/// Notices the child's exit without reaping it (`WNOWAIT`), so its pid stays its own until
/// the group is killed: through a pidfd, which poll(2) reports readable at the exit, or by
/// asking every [`EXIT_TICK`] where there is none.
struct ExitWatch {
    pid: Pid,
    fd: Option<OwnedFd>,
}

impl ExitWatch {
    fn new(pid: Pid, watch: Watch) -> ExitWatch {
        let fd = (watch == Watch::Pidfd)
            .then(|| rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok())
            .flatten();
        ExitWatch { pid, fd }
    }

    /// Whether the child has exited (it is then a zombie, not yet reaped).
    fn exited(&self) -> io::Result<bool> {
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG;
        loop {
            match rustix::process::waitid(WaitId::Pid(self.pid), options) {
                Ok(status) => return Ok(status.is_some()),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The last `max` characters of `text`, trimmed, for reasons and log lines.
pub fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let skip = count - max;
    let cut = text.char_indices().nth(skip).map_or(0, |(i, _)| i);
    format!("…{}", &text[cut..])
}

/// A URL longer than this is not one a person will follow; storing it would only bloat the
/// registry with whatever a handler printed last.
const MAX_URL: usize = 2048;

/// The last non-empty line of `text`, as an executed URL: `None` when there is none or it is
/// implausibly long.
pub fn last_line(text: &str) -> Option<&str> {
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    if line.len() > MAX_URL {
        log::warn!(
            "the handler's last output line is {} bytes long; not recorded as a URL",
            line.len()
        );
        return None;
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name` as looked up on this process's PATH, the way handlers are.
    fn program(name: &str, args: &[&str], stdin: &[u8], timeout: Duration) -> Invocation {
        let path = ChildEnv::new(std::env::vars_os().collect())
            .resolve(Path::new(name))
            .unwrap_or_else(|e| panic!("{e}"));
        Invocation {
            program: path,
            args: args.iter().map(OsString::from).collect(),
            env: Vec::new(),
            stdin: stdin.to_vec(),
            timeout,
        }
    }

    /// Both ways of noticing the exit give the same result: input fed whole, each output
    /// kept, the exit status, and a timeout that ends a child which never exits.
    #[test]
    fn with_or_without_a_pidfd_a_child_is_fed_drained_and_timed() {
        // More input than a pipe holds, so feeding takes many wake-ups.
        let input = vec![b'x'; 300 * 1024];
        let long = Duration::from_secs(30);
        for watch in [Watch::Pidfd, Watch::Tick] {
            let done =
                run_watching(&program("wc", &["--bytes"], &input, long), watch).expect("ran");
            assert_eq!(done.stdout.trim(), "307200");
            assert!(done.success());

            let missing = "/nonexistent/inbox-exec-test";
            let done = run_watching(&program("ls", &[missing], b"", long), watch).expect("ran");
            assert!(done.stderr.contains(missing), "{:?}", done.stderr);
            assert_eq!(done.status.and_then(|s| s.code()), Some(2));

            let started = Instant::now();
            let inv = program("sleep", &["30"], b"", Duration::from_millis(200));
            let done = run_watching(&inv, watch).expect("ran");
            assert!(done.status.is_none(), "not timed out: {:?}", done.status);
            assert!(started.elapsed() < Duration::from_secs(10));
        }
    }

    /// A child that writes without end is still ended at its deadline, and only the tail of
    /// what it wrote is kept.
    #[test]
    fn a_child_flooding_its_output_forever_is_ended_at_the_deadline() {
        for watch in [Watch::Pidfd, Watch::Tick] {
            let started = Instant::now();
            let inv = program("yes", &[], b"", Duration::from_millis(300));
            let done = run_watching(&inv, watch).expect("ran");
            assert!(started.elapsed() < Duration::from_secs(10));
            assert!(done.status.is_none(), "not timed out: {:?}", done.status);
            assert!(
                done.stdout.len() <= CAPTURE_LIMIT && done.stdout.trim_end().ends_with('y'),
                "{} bytes kept",
                done.stdout.len()
            );
        }
    }

    /// A child that neither reads its input nor exits is still ended at its deadline: input
    /// the pipe cannot take never blocks the loop.
    #[test]
    fn a_child_that_never_reads_its_input_is_ended_at_the_deadline() {
        let input = vec![b'x'; 1024 * 1024];
        let started = Instant::now();
        let inv = program("sleep", &["30"], &input, Duration::from_millis(300));
        let done = run_watching(&inv, Watch::Pidfd).expect("ran");
        assert!(done.status.is_none(), "not timed out: {:?}", done.status);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    /// CPU time this thread has used so far, in clock ticks (`/proc/thread-self/stat`).
    fn thread_cpu_ticks() -> u64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        let fields: Vec<&str> = stat.rsplit_once(')').expect("comm").1.split(' ').collect();
        // utime and stime are fields 14 and 15; after the comm, field 3 is at index 1.
        fields[12].parse::<u64>().expect("utime") + fields[13].parse::<u64>().expect("stime")
    }

    /// A child that closes its stdin without reading all of it ends the input at once: the
    /// loop never spins on a pipe that can only report an error until the child exits.
    #[test]
    fn input_a_child_stops_reading_is_dropped_without_spinning() {
        let input = vec![b'x'; 1024 * 1024];
        let script = "close STDIN; select(undef, undef, undef, 1)";
        let inv = program("perl", &["-e", script], &input, Duration::from_secs(30));
        let before = thread_cpu_ticks();
        let done = run_watching(&inv, Watch::Pidfd).expect("ran");
        let used = thread_cpu_ticks() - before;
        assert!(done.success());
        // A second of the child's life: spinning would take about 100 ticks of it.
        assert!(used < 20, "{used} ticks of CPU while the child slept");
    }

    /// A program is found on PATH only as an executable file: not as a file without an
    /// execute bit, not as a directory; a relative path with a directory is refused.
    #[test]
    fn only_executable_files_are_found_on_path() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().expect("temp dir");
        let dirs: Vec<PathBuf> = ["a", "b", "c"]
            .iter()
            .map(|d| root.path().join(d))
            .collect();
        for d in &dirs {
            std::fs::create_dir(d).expect("mkdir");
        }
        let plain = dirs[0].join("tool");
        std::fs::write(&plain, "#!/bin/true\n").expect("write");
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        std::fs::create_dir(dirs[1].join("tool")).expect("a directory named tool");
        let real = dirs[2].join("tool");
        std::fs::write(&real, "#!/bin/true\n").expect("write");
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = std::env::join_paths(&dirs).expect("PATH");
        let env = ChildEnv::new(BTreeMap::from([(OsString::from("PATH"), path)]));
        assert_eq!(env.resolve(Path::new("tool")), Ok(real));
        let relative = env.resolve(Path::new("c/tool")).expect_err("relative");
        assert!(relative.contains("relative path"), "{relative}");
    }

    /// A child that never reads its input still ends on its own, and what it wrote is kept.
    #[test]
    fn a_child_that_never_reads_its_input_is_not_waited_on_for_it() {
        let input = vec![b'x'; 1024 * 1024];
        let inv = program("echo", &["ignored"], &input, Duration::from_secs(30));
        let done = run_watching(&inv, Watch::Pidfd).expect("ran");
        assert!(done.success());
        assert_eq!(done.stdout.trim(), "ignored");
    }
}
