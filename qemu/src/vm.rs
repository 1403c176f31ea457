//! Booting one QEMU virtual machine and judging how it ended.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::serial::{Banner, ExceptionReport, PanicReport, TestReport};
use crate::{Error, Repo, Result, QEMU_BINARY};

/// QEMU's exit status after the guest writes 0x10 to the debug-exit port.
pub const EXIT_SUCCESS_CODE: i32 = (0x10 << 1) | 1;
/// QEMU's exit status after the guest writes 0x11.
pub const EXIT_FAILURE_CODE: i32 = (0x11 << 1) | 1;

/// A name no other run — in this process, another process, or earlier —
/// has used: `<prefix>-<pid>-<counter>-<time>`. For run directories, shared
/// memory files, socket names and the like.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() & 0xffff_ffff_ffff);
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

/// How QEMU executes guest code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Accel {
    /// Binary translation: the default, and the fast choice on this kind of
    /// VM host (its KVM is emulated in software).
    #[default]
    Tcg,
    /// Hardware virtualisation on real hosts.
    Kvm,
}

impl Accel {
    fn args(self) -> [&'static str; 4] {
        match self {
            Accel::Tcg => ["-accel", "tcg", "-cpu", "max"],
            // arch-capabilities is not accepted by every host KVM; invtsc
            // gives the guest an invariant TSC it may calibrate once.
            Accel::Kvm => ["-accel", "kvm", "-cpu", "host,-arch-capabilities,+invtsc"],
        }
    }
}

impl std::str::FromStr for Accel {
    type Err = Error;
    fn from_str(s: &str) -> Result<Accel> {
        match s {
            "tcg" => Ok(Accel::Tcg),
            "kvm" => Ok(Accel::Kvm),
            other => Err(Error::InvalidArgument(format!(
                "unknown accelerator `{other}` (tcg or kvm)"
            ))),
        }
    }
}

/// What the machine boots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Boot {
    /// An ELF with a PVH note, via `-kernel` and `-append`.
    Kernel { elf: PathBuf, cmdline: String },
    /// A GRUB ISO via `-cdrom` (SeaBIOS → GRUB → multiboot2); its command
    /// line is in its grub.cfg.
    Cdrom { iso: PathBuf },
}

/// One virtual machine to boot. Built with chained setters, then
/// [`Vm::run`] (wait for the end) or [`Vm::spawn`] (interact meanwhile).
#[derive(Clone, Debug)]
pub struct Vm {
    runs_dir: PathBuf,
    name: String,
    boot: Boot,
    accel: Accel,
    smp: u32,
    mem: String,
    serial: Option<PathBuf>,
    timeout: Option<Duration>,
    extra_args: Vec<OsString>,
    live: bool,
}

impl Vm {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

    /// Boots `elf` with an empty command line.
    pub fn kernel(repo: &Repo, elf: impl Into<PathBuf>) -> Vm {
        Vm::new(
            repo,
            Boot::Kernel {
                elf: elf.into(),
                cmdline: String::new(),
            },
        )
    }

    /// Boots a GRUB ISO.
    pub fn cdrom(repo: &Repo, iso: impl Into<PathBuf>) -> Vm {
        Vm::new(repo, Boot::Cdrom { iso: iso.into() })
    }

    pub fn new(repo: &Repo, boot: Boot) -> Vm {
        Vm {
            runs_dir: repo.runs_dir(),
            name: "vm".into(),
            boot,
            accel: Accel::Tcg,
            smp: 1,
            mem: "512M".into(),
            serial: None,
            timeout: Some(Vm::DEFAULT_TIMEOUT),
            extra_args: Vec::new(),
            live: false,
        }
    }

    /// The kernel command line (PVH boots only; an ISO's is in grub.cfg).
    pub fn cmdline(mut self, cmdline: impl Into<String>) -> Vm {
        if let Boot::Kernel { cmdline: c, .. } = &mut self.boot {
            *c = cmdline.into();
        }
        self
    }

    /// Prefix of the run directory's name, to tell runs apart.
    pub fn name(mut self, name: impl Into<String>) -> Vm {
        self.name = name.into();
        self
    }

    pub fn accel(mut self, accel: Accel) -> Vm {
        self.accel = accel;
        self
    }

    pub fn smp(mut self, cpus: u32) -> Vm {
        self.smp = cpus;
        self
    }

    /// Guest RAM in QEMU's syntax (`512M`, `2G`).
    pub fn mem(mut self, mem: impl Into<String>) -> Vm {
        self.mem = mem.into();
        self
    }

    /// Write the serial log here instead of `<run dir>/serial.log`.
    pub fn serial_file(mut self, path: impl Into<PathBuf>) -> Vm {
        self.serial = Some(path.into());
        self
    }

    /// Kill QEMU after this long (`None`: wait forever).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Vm {
        self.timeout = timeout;
        self
    }

    /// Extra QEMU arguments (devices, netdevs, shared memory objects, ...).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Vm {
        self.extra_args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Vm
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Copy the guest's serial output to our stdout as it arrives (it is
    /// captured in the [`Outcome`] either way).
    pub fn live(mut self, live: bool) -> Vm {
        self.live = live;
        self
    }

    pub fn boot(&self) -> &Boot {
        &self.boot
    }

    /// QEMU's arguments with the serial port going to `serial`.
    pub fn qemu_args(&self, serial: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |a: &dyn AsRef<OsStr>| args.push(a.as_ref().to_os_string());
        for a in ["-machine", "q35"] {
            push(&a);
        }
        let accel = self.accel.args();
        // Contract order: -machine q35 -cpu .. -accel ..
        for a in [accel[2], accel[3], accel[0], accel[1]] {
            push(&a);
        }
        push(&"-m");
        push(&self.mem);
        push(&"-smp");
        push(&self.smp.to_string());
        match &self.boot {
            Boot::Kernel { elf, cmdline } => {
                push(&"-kernel");
                push(elf);
                push(&"-append");
                push(cmdline);
            }
            Boot::Cdrom { iso } => {
                push(&"-cdrom");
                push(iso);
            }
        }
        for a in ["-display", "none", "-no-reboot", "-serial"] {
            push(&a);
        }
        let mut chardev = OsString::from("file:");
        chardev.push(serial);
        push(&chardev);
        for a in ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"] {
            push(&a);
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// Starts QEMU and returns at once.
    pub fn spawn(&self) -> Result<RunningVm> {
        if self.smp == 0 {
            return Err(Error::InvalidArgument("-smp must be at least 1".into()));
        }
        let run_dir = self.runs_dir.join(unique_name(&self.name));
        fs::create_dir_all(&run_dir)
            .map_err(Error::io(format!("creating {}", run_dir.display())))?;
        let serial_path = self
            .serial
            .clone()
            .unwrap_or_else(|| run_dir.join("serial.log"));
        // Exists (empty) before QEMU starts, so a live reader can open it.
        File::create(&serial_path)
            .map_err(Error::io(format!("creating {}", serial_path.display())))?;
        let log_path = run_dir.join("qemu.log");
        let log = File::create(&log_path)
            .map_err(Error::io(format!("creating {}", log_path.display())))?;
        let log2 = log
            .try_clone()
            .map_err(Error::io("duplicating the log file"))?;

        let args = self.qemu_args(&serial_path);
        let command_line = shell_line(QEMU_BINARY, &args);
        fs::write(run_dir.join("command.sh"), format!("{command_line}\n"))
            .map_err(Error::io("writing command.sh"))?;

        let mut cmd = Command::new(QEMU_BINARY);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let started = Instant::now();
        let child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::ToolMissing {
                    tool: QEMU_BINARY.into(),
                    install: "apt-get install -y qemu-system-x86".into(),
                    detail: None,
                }
            } else {
                Error::Io {
                    context: format!("starting {QEMU_BINARY}"),
                    source: e,
                }
            }
        })?;
        let (tx, exited) = mpsc::channel();
        let pid = child.id();
        std::thread::Builder::new()
            .name(format!("qemu-wait-{pid}"))
            .spawn(move || {
                if crate::sys::wait_exit_keep_zombie(pid).is_ok() {
                    let _ = tx.send(Instant::now());
                }
            })
            .map_err(Error::io("starting the wait thread"))?;
        Ok(RunningVm {
            child: Some(child),
            started,
            exited,
            exited_at: None,
            run_dir,
            serial_path,
            log_path,
            timeout: self.timeout,
            live: self.live.then(LiveTail::default),
            command_line,
        })
    }

    /// Boots and waits for QEMU to exit (or the timeout).
    pub fn run(&self) -> Result<Outcome> {
        self.spawn()?.wait()
    }
}

/// Copies new serial output to stdout.
#[derive(Default, Debug)]
struct LiveTail {
    file: Option<File>,
    offset: u64,
}

impl LiveTail {
    fn pump(&mut self, path: &Path) {
        if self.file.is_none() {
            self.file = File::open(path).ok();
        }
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let mut buf = Vec::new();
        if file.seek(SeekFrom::Start(self.offset)).is_ok() && file.read_to_end(&mut buf).is_ok() {
            self.offset += buf.len() as u64;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&buf);
            let _ = out.flush();
        }
    }
}

/// A QEMU that is running. Dropping it kills QEMU.
#[derive(Debug)]
pub struct RunningVm {
    child: Option<Child>,
    started: Instant,
    exited: Receiver<Instant>,
    /// When QEMU exited, once something has received it from `exited`.
    exited_at: Option<Instant>,
    run_dir: PathBuf,
    serial_path: PathBuf,
    log_path: PathBuf,
    timeout: Option<Duration>,
    live: Option<LiveTail>,
    command_line: String,
}

impl RunningVm {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    pub fn serial_path(&self) -> &Path {
        &self.serial_path
    }

    /// What the guest has printed so far.
    pub fn serial_so_far(&self) -> String {
        read_lossy(&self.serial_path)
    }

    /// Waits until the serial log contains `needle`, returning the log so
    /// far; `None` if QEMU exits or `within` passes first. For scenarios
    /// that must wait for the guest to be ready before acting on it.
    pub fn wait_for_serial(&mut self, needle: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(live) = self.live.as_mut() {
                live.pump(&self.serial_path);
            }
            let serial = self.serial_so_far();
            if serial.contains(needle) {
                return Some(serial);
            }
            let exited = match self.exited.try_recv() {
                Ok(at) => {
                    self.exited_at = Some(at);
                    true
                }
                Err(mpsc::TryRecvError::Empty) => self.exited_at.is_some(),
                Err(mpsc::TryRecvError::Disconnected) => true,
            };
            if exited || Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for QEMU to exit, killing it at the timeout.
    pub fn wait(mut self) -> Result<Outcome> {
        let deadline = self.timeout.map(|t| self.started + t);
        let exited_at = loop {
            if let Some(at) = self.exited_at {
                break Some(at);
            }
            let mut slice = if self.live.is_some() {
                Duration::from_millis(20)
            } else {
                Duration::from_secs(3600)
            };
            if let Some(deadline) = deadline {
                slice = slice.min(deadline.saturating_duration_since(Instant::now()));
            }
            match self.exited.recv_timeout(slice) {
                Ok(at) => break Some(at),
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(live) = self.live.as_mut() {
                        live.pump(&self.serial_path);
                    }
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break None;
                    }
                }
                // The waiter could not wait; fall back to reaping directly.
                Err(RecvTimeoutError::Disconnected) => break Some(Instant::now()),
            }
        };
        let Some(mut child) = self.child.take() else {
            return Err(Error::InvalidArgument("QEMU was already reaped".into()));
        };
        let status = match exited_at {
            Some(_) => ExitKind::from_status(child.wait().map_err(Error::io("waiting for QEMU"))?),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                ExitKind::TimedOut(self.timeout.unwrap_or_default())
            }
        };
        let duration = exited_at.unwrap_or_else(Instant::now) - self.started;
        if let Some(live) = self.live.as_mut() {
            live.pump(&self.serial_path);
        }
        Ok(Outcome {
            status,
            serial: read_lossy(&self.serial_path),
            duration,
            qemu_log: read_lossy(&self.log_path),
            run_dir: self.run_dir.clone(),
            serial_path: self.serial_path.clone(),
            command_line: self.command_line.clone(),
        })
    }

    /// Kills QEMU (SIGKILL) now; the outcome says [`ExitKind::Signal`]
    /// unless QEMU had already exited by itself.
    pub fn kill(mut self) -> Result<Outcome> {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
        }
        self.timeout = None;
        self.wait()
    }
}

impl Drop for RunningVm {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// A command line that can be pasted into a POSIX shell.
fn shell_line(program: &str, args: &[OsString]) -> String {
    let mut line = program.to_string();
    for arg in args {
        line.push(' ');
        line.push_str(&shell_quote(&arg.to_string_lossy()));
    }
    line
}

fn shell_quote(arg: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_=+,./:@%".contains(c);
    if !arg.is_empty() && arg.chars().all(safe) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// How a QEMU run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// The guest wrote 0x10 to the debug-exit port (QEMU status 33).
    Success,
    /// The guest wrote 0x11: it reported a failure (status 35).
    Failure,
    /// QEMU exited 0: with `-no-reboot` that is a reset request or a triple
    /// fault (or a power-off without a report).
    Reset,
    /// The guest wrote another value to the debug-exit port; QEMU's exit
    /// status is `(value << 1) | 1`, truncated to 8 bits.
    DebugExit { status: i32 },
    /// QEMU itself failed (bad arguments, missing file, ...). Status 1 is
    /// also what a guest writing 0 produces.
    QemuError { status: i32 },
    /// QEMU was killed by a signal.
    Signal(i32),
    /// We killed QEMU at the timeout.
    TimedOut(Duration),
}

impl ExitKind {
    pub fn from_code(code: i32) -> ExitKind {
        match code {
            EXIT_SUCCESS_CODE => ExitKind::Success,
            EXIT_FAILURE_CODE => ExitKind::Failure,
            0 => ExitKind::Reset,
            1 => ExitKind::QemuError { status: 1 },
            c if c % 2 == 1 => ExitKind::DebugExit { status: c },
            c => ExitKind::QemuError { status: c },
        }
    }

    pub fn from_status(status: ExitStatus) -> ExitKind {
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitKind::from_code(code),
            (None, Some(signal)) => ExitKind::Signal(signal),
            // Neither code nor signal does not happen on Unix; treat it as an
            // unexplained QEMU failure.
            (None, None) => ExitKind::QemuError { status: -1 },
        }
    }

    pub fn is_success(self) -> bool {
        self == ExitKind::Success
    }

    /// The runner's own exit code for this ending: 0 or 1.
    pub fn runner_exit_code(self) -> i32 {
        if self.is_success() {
            0
        } else {
            1
        }
    }
}

impl fmt::Display for ExitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitKind::Success => f.write_str("success (the guest reported success, QEMU status 33)"),
            ExitKind::Failure => f.write_str("failure reported by the guest (QEMU status 35)"),
            ExitKind::Reset => f.write_str(
                "the guest reset, triple-faulted or powered off without reporting (QEMU status 0 under -no-reboot)",
            ),
            ExitKind::DebugExit { status } => write!(
                f,
                "the guest wrote an unexpected value (about {:#x}) to the debug-exit port (QEMU status {status})",
                (status - 1) / 2
            ),
            ExitKind::QemuError { status } => {
                write!(f, "QEMU failed with status {status} (see qemu.log in the run directory)")
            }
            ExitKind::Signal(signal) => write!(f, "QEMU was killed by signal {signal}"),
            ExitKind::TimedOut(t) => write!(f, "timed out after {} s; QEMU was killed", t.as_secs_f64()),
        }
    }
}

/// Everything a finished run left behind.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: ExitKind,
    /// All the guest printed on its serial port.
    pub serial: String,
    /// From spawning QEMU to its exit.
    pub duration: Duration,
    /// QEMU's own stdout and stderr.
    pub qemu_log: String,
    pub run_dir: PathBuf,
    pub serial_path: PathBuf,
    /// The QEMU command, ready to paste into a shell.
    pub command_line: String,
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    pub fn test_report(&self) -> TestReport {
        TestReport::parse(&self.serial)
    }

    pub fn banner(&self) -> Option<Banner> {
        Banner::parse(&self.serial)
    }

    pub fn exception(&self) -> Option<ExceptionReport> {
        ExceptionReport::parse(&self.serial)
    }

    pub fn panic(&self) -> Option<PanicReport> {
        PanicReport::parse(&self.serial)
    }

    /// A multi-line account for failure messages: how it ended, where the
    /// files are, QEMU's complaints and the end of the serial log.
    pub fn diagnostics(&self) -> String {
        let mut text = format!(
            "QEMU run ended: {} after {:.3} s\nrun directory: {}\nserial log:    {}\ncommand:       {}\n",
            self.status,
            self.duration.as_secs_f64(),
            self.run_dir.display(),
            self.serial_path.display(),
            self.command_line,
        );
        if !self.qemu_log.trim().is_empty() {
            text.push_str("--- QEMU said ---\n");
            text.push_str(self.qemu_log.trim_end());
            text.push('\n');
        }
        let lines: Vec<&str> = self.serial.lines().collect();
        let shown = lines.len().min(60);
        text.push_str(&format!(
            "--- serial (last {shown} of {} lines) ---\n",
            lines.len()
        ));
        for line in &lines[lines.len() - shown..] {
            text.push_str(line.trim_end_matches('\r'));
            text.push('\n');
        }
        text
    }

    /// Deletes the run directory (the serial log too, unless it was placed
    /// elsewhere). Callers keep it when something went wrong.
    pub fn remove_run_dir(&self) -> Result<()> {
        fs::remove_dir_all(&self.run_dir)
            .map_err(Error::io(format!("removing {}", self.run_dir.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn exit_statuses_map_to_kinds() {
        assert_eq!(ExitKind::from_code(33), ExitKind::Success);
        assert_eq!(ExitKind::from_code(35), ExitKind::Failure);
        assert_eq!(ExitKind::from_code(0), ExitKind::Reset);
        assert_eq!(ExitKind::from_code(1), ExitKind::QemuError { status: 1 });
        assert_eq!(ExitKind::from_code(37), ExitKind::DebugExit { status: 37 });
        assert_eq!(ExitKind::from_code(2), ExitKind::QemuError { status: 2 });
        // Raw wait statuses: exit(33) and death by SIGKILL.
        assert_eq!(
            ExitKind::from_status(ExitStatus::from_raw(33 << 8)),
            ExitKind::Success
        );
        assert_eq!(
            ExitKind::from_status(ExitStatus::from_raw(9)),
            ExitKind::Signal(9)
        );
        for kind in [
            ExitKind::Failure,
            ExitKind::Reset,
            ExitKind::Signal(9),
            ExitKind::TimedOut(Duration::from_secs(60)),
        ] {
            assert_eq!(kind.runner_exit_code(), 1);
        }
        assert_eq!(ExitKind::Success.runner_exit_code(), 0);
        assert!(ExitKind::TimedOut(Duration::from_secs(60))
            .to_string()
            .contains("timed out after 60 s"));
    }

    #[test]
    fn kernel_args_follow_the_contract() {
        let repo = Repo::at("/r");
        let vm = Vm::kernel(&repo, "/r/app").cmdline("test fault=pf").smp(2);
        let args = strings(&vm.qemu_args(Path::new("/tmp/s.log")));
        let expected = "-machine q35 -cpu max -accel tcg -m 512M -smp 2 -kernel /r/app -append \
            TEST -display none -no-reboot -serial file:/tmp/s.log \
            -device isa-debug-exit,iobase=0xf4,iosize=0x04";
        let expected: Vec<String> = expected
            .split_whitespace()
            .map(|a| {
                if a == "TEST" {
                    "test fault=pf".into()
                } else {
                    a.to_string()
                }
            })
            .collect();
        assert_eq!(args, expected);
    }

    #[test]
    fn kvm_cdrom_and_extra_args() {
        let repo = Repo::at("/r");
        let vm = Vm::cdrom(&repo, "/r/a.iso")
            .accel(Accel::Kvm)
            .mem("1G")
            .cmdline("ignored for an ISO")
            .args(["-netdev", "user,id=n0"])
            .arg("-device")
            .arg("virtio-net-pci,netdev=n0");
        let args = strings(&vm.qemu_args(Path::new("s")));
        let joined = args.join(" ");
        assert!(
            joined.contains("-cpu host,-arch-capabilities,+invtsc -accel kvm"),
            "{joined}"
        );
        assert!(joined.contains("-m 1G"));
        assert!(joined.contains("-cdrom /r/a.iso"));
        assert!(!joined.contains("-kernel") && !joined.contains("-append"));
        assert!(
            joined.ends_with("-netdev user,id=n0 -device virtio-net-pci,netdev=n0"),
            "{joined}"
        );
    }

    #[test]
    fn accel_parses() {
        assert_eq!("kvm".parse::<Accel>().ok(), Some(Accel::Kvm));
        assert_eq!("tcg".parse::<Accel>().ok(), Some(Accel::Tcg));
        assert!("hvf".parse::<Accel>().is_err());
    }

    #[test]
    fn unique_names_differ_across_threads() {
        let names: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| (0..100).map(|_| unique_name("run/x")).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("thread"))
                .collect()
        });
        let set: HashSet<&String> = names.iter().collect();
        assert_eq!(set.len(), names.len());
        let pid = std::process::id().to_string();
        assert!(names
            .iter()
            .all(|n| n.starts_with("run_x-") && n.contains(&pid)));
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("file:/a/b.log"), "file:/a/b.log");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("test fault=pf"), "'test fault=pf'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn zero_cpus_is_refused() {
        let repo = Repo::at(std::env::temp_dir().join(unique_name("vm-test")));
        let err = Vm::kernel(&repo, "/nonexistent")
            .smp(0)
            .spawn()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
    }
}
