//! The one way this program runs another: no shell, a cleared environment plus an allowlist,
//! stdin fed from memory, bounded capture of stdout and stderr, and a timeout that kills the
//! child's whole process group (so nothing it spawned outlives it).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

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

/// Runs the invocation to completion or timeout. An error means it could not be started.
pub fn run(inv: &Invocation) -> io::Result<Finished> {
    let mut child = Command::new(&inv.program)
        .args(&inv.args)
        .env_clear()
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout can kill everything it started.
        .process_group(0)
        .spawn()?;
    let pgid = child.id();

    let mut stdin = child.stdin.take().expect("stdin was piped");
    let input = inv.stdin.clone();
    // A child that never reads its stdin must not block us: write from a thread, and ignore
    // EPIPE when it exits without reading.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let stdout = capture(child.stdout.take().expect("stdout was piped"));
    let stderr = capture(child.stderr.take().expect("stderr was piped"));

    let exited = exit_signal(pgid);
    let in_time = exited.recv_timeout(inv.timeout).is_ok();
    // Whether it exited or timed out, nothing it spawned may live on holding our pipes open.
    // The child is not reaped yet (it is at most a zombie), so its pid, which is the group's
    // id, cannot have been reused: the kill reaches only what it started.
    kill_group(pgid);
    let status = child.wait()?;
    let status = in_time.then_some(status);
    // Something that left the process group (setsid) can still hold a pipe open: wait a
    // moment for the pipe to close, then take what was written so far (everything the child
    // itself wrote before it exited) rather than hang the cycle. The writer is not waited
    // for at all; a blocked one ends with the process.
    drop(writer);
    let grace = Instant::now() + PIPE_GRACE;
    Ok(Finished {
        status,
        stdout: collect(&stdout, grace),
        stderr: collect(&stderr, grace),
    })
}

/// How long output may keep arriving once the child is gone.
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// Waits until the pipe is closed or `deadline`, then takes what was read so far: whatever
/// the handler wrote before it exited is in the buffer by then, even when something it left
/// behind keeps the pipe open.
fn collect(capture: &Capture, deadline: Instant) -> String {
    let wait = deadline.saturating_duration_since(Instant::now());
    if capture.closed.recv_timeout(wait).is_err() {
        log::warn!(
            "a process the handler started kept its output open; only what was written until now is kept"
        );
    }
    let kept = capture.kept.lock().map_or_else(
        |poisoned| poisoned.into_inner().clone(),
        |kept| kept.clone(),
    );
    let start = kept.len().saturating_sub(CAPTURE_LIMIT);
    String::from_utf8_lossy(&kept[start..]).into_owned()
}

/// A channel that receives once the child has exited, without reaping it (`WNOWAIT`): the
/// wait blocks on a thread instead of polling, so a handler's exit is noticed at once.
fn exit_signal(pid: u32) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return;
        };
        let options =
            rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOWAIT;
        while let Err(rustix::io::Errno::INTR) =
            rustix::process::waitid(rustix::process::WaitId::Pid(pid), options)
        {}
        let _ = tx.send(());
    });
    rx
}

fn kill_group(pgid: u32) {
    if let Some(pid) = i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        // ESRCH (already gone) is the common case and not an error.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// What a capture thread has read so far, and word when the pipe closed.
struct Capture {
    kept: Arc<Mutex<Vec<u8>>>,
    closed: mpsc::Receiver<()>,
}

/// Reads a pipe to its end, keeping only the last [`CAPTURE_LIMIT`] bytes: a flood is
/// drained (so the child never blocks on a full pipe) but never held in memory. What was read
/// is in a shared buffer at every moment, so it can be taken without waiting for the end.
fn capture(mut pipe: impl Read + Send + 'static) -> Capture {
    let kept = Arc::new(Mutex::new(Vec::with_capacity(4096)));
    let (tx, closed) = mpsc::channel();
    let shared = Arc::clone(&kept);
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let Ok(mut kept) = shared.lock() else { break };
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > 2 * CAPTURE_LIMIT {
                        let excess = kept.len() - CAPTURE_LIMIT;
                        kept.drain(..excess);
                    }
                }
            }
        }
        // The receiver may have given up waiting; then nobody needs this.
        let _ = tx.send(());
    });
    Capture { kept, closed }
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
