//! Scaffolding for the end-to-end scenarios in `tests/tests/`: the appliance
//! booted in QEMU through the `qemu` library.
//!
//! Every test binary builds the image once ([`lab`]); builds and tool installs
//! are serialised across test binaries by file locks inside `qemu`, and every
//! boot gets its own run directory, so tests run in parallel freely.
//!
//! A passing test calls [`Booted::pass`] to delete its run directory; a
//! failing one leaves it under `target/qemu-runs/` and prints where.

use std::sync::OnceLock;
use std::time::Duration;

pub use qemu;
use qemu::{BuildOutput, ExitKind, Images, Outcome, Profile, Repo, Vm};

/// Per-boot limit. A TCG boot takes well under a second; this only stops a
/// hung guest from hanging the suite.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

/// The repository and the built image, shared by a test binary's tests.
#[derive(Debug)]
pub struct Lab {
    pub repo: Repo,
    pub images: Images,
}

/// Locates the repo, makes sure QEMU is installed and builds the image —
/// once per process. Panics (failing the calling test) with the reason.
pub fn lab() -> &'static Lab {
    static LAB: OnceLock<Result<Lab, String>> = OnceLock::new();
    let lab = LAB.get_or_init(|| {
        let repo = Repo::locate().map_err(|e| e.to_string())?;
        qemu::ensure_qemu(&repo).map_err(|e| e.to_string())?;
        let images = qemu::build_image(&repo, Profile::Release, BuildOutput::Capture)
            .map_err(|e| e.to_string())?;
        Ok(Lab { repo, images })
    });
    match lab {
        Ok(lab) => lab,
        Err(e) => panic!("cannot prepare the appliance image: {e}"),
    }
}

impl Lab {
    /// The appliance with `cmdline`, one CPU, TCG and [`BOOT_TIMEOUT`].
    pub fn appliance(&self, name: &str, cmdline: &str) -> Vm {
        Vm::kernel(&self.repo, &self.images.appliance)
            .name(name)
            .cmdline(cmdline)
            .timeout(Some(BOOT_TIMEOUT))
    }

    /// Boots `vm` to the end.
    pub fn boot(&self, vm: Vm) -> Booted {
        match vm.run() {
            Ok(outcome) => Booted(outcome),
            Err(e) => panic!("cannot run QEMU: {e}"),
        }
    }
}

/// A finished boot, with assertions that print the whole story on failure.
#[derive(Debug)]
pub struct Booted(pub Outcome);

impl Booted {
    pub fn outcome(&self) -> &Outcome {
        &self.0
    }

    pub fn serial(&self) -> &str {
        &self.0.serial
    }

    /// Fails the test, with the run's diagnostics, unless `ok`.
    #[track_caller]
    pub fn check(&self, ok: bool, what: &str) {
        assert!(ok, "{what}\n{}", self.0.diagnostics());
    }

    #[track_caller]
    pub fn expect_status(&self, expected: ExitKind) {
        self.check(
            self.0.status == expected,
            &format!("expected the run to end with: {expected}"),
        );
    }

    /// The test passed: drop the run directory.
    pub fn pass(self) {
        let _ = self.0.remove_run_dir();
    }
}

/// The `companion` binary, built once per test process (`cargo build -p
/// companion`; cargo's own lock serialises concurrent builds).
pub fn companion() -> &'static std::path::Path {
    static BIN: OnceLock<Result<std::path::PathBuf, String>> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        let lab = lab();
        let status =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "-q", "-p", "companion", "--bin", "companion"])
                .current_dir(lab.repo.root())
                .status()
                .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("cargo build -p companion: {status}"));
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| lab.repo.root().join("target"));
        Ok(target.join("debug").join("companion"))
    });
    match bin {
        Ok(path) => path,
        Err(e) => panic!("cannot build the companion: {e}"),
    }
}

/// Runs the companion with `args`; returns (success, stdout + stderr).
pub fn run_companion(args: &[&str]) -> (bool, String) {
    companion_output(std::process::Command::new(companion()).args(args).output())
}

/// A finished companion as (success, stdout + stderr): tests match on what
/// it said wherever it said it, and a companion that did not run fails them
/// with the reason.
pub fn companion_output(output: std::io::Result<std::process::Output>) -> (bool, String) {
    match output {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            (out.status.success(), text)
        }
        Err(e) => (false, format!("cannot run the companion: {e}")),
    }
}

/// Sends `json` as ApplyConfig straight through the protocol (no local
/// validation, as a hostile or buggy companion would) and returns the reply.
pub fn apply_raw_config(path: &str, json: &[u8]) -> String {
    let mapping =
        companion::mapping::Mapping::open_shm(std::path::Path::new(path)).expect("map the region");
    let region = mapping.region().expect("region");
    let mut end = protocol::mailbox::endpoint::CompanionEnd::attach(region, 42).expect("attach");
    let mut scratch = vec![0u8; 32 * 1024];
    let id = end
        .send(
            protocol::mailbox::message::Command::ApplyConfig { json },
            &mut scratch,
        )
        .expect("send");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut buf = vec![0u8; 8 * 1024];
    while std::time::Instant::now() < deadline {
        if let Ok(Some(protocol::mailbox::message::Message::Reply { id: got, reply })) =
            end.poll_message(&mut buf)
        {
            if got == id {
                return format!("{reply:?}");
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    "no reply".into()
}

/// QEMU arguments for a 1 MiB ivshmem-plain mailbox backed by the file `path`
/// (a /dev/shm path the companion attaches to).
pub fn ivshmem_args(path: &str) -> Vec<String> {
    ivshmem_device(path, "1M", None)
}

/// An ivshmem-plain device of `size` (QEMU's notation) backed by the file
/// `path`, at PCI address `pci_addr` or wherever QEMU puts it.
fn ivshmem_device(path: &str, size: &str, pci_addr: Option<&str>) -> Vec<String> {
    vec![
        "-object".into(),
        format!("memory-backend-file,id=mb,share=on,mem-path={path},size={size}"),
        "-device".into(),
        match pci_addr {
            Some(addr) => format!("ivshmem-plain,memdev=mb,addr={addr}"),
            None => "ivshmem-plain,memdev=mb".into(),
        },
    ]
}

/// A boot's own mailbox: a fresh /dev/shm file that QEMU maps as ivshmem
/// and the companion attaches to. Dropping it removes the file, so that a
/// failing test does not leave one behind either.
#[derive(Debug)]
pub struct Mailbox {
    path: String,
}

impl Mailbox {
    /// `prefix` names the file after its test, for whoever finds one.
    pub fn new(prefix: &str) -> Mailbox {
        Mailbox {
            path: format!("/dev/shm/{}", qemu::unique_name(prefix)),
        }
    }

    /// The QEMU side (see [`ivshmem_args`]).
    pub fn qemu_args(&self) -> Vec<String> {
        ivshmem_args(&self.path)
    }

    /// The QEMU side for a test of PCI enumeration, which chooses the
    /// device's size and slot so as to know what to look for in the
    /// guest's and QEMU's listings.
    pub fn qemu_args_at(&self, size: &str, pci_addr: &str) -> Vec<String> {
        ivshmem_device(&self.path, size, Some(pci_addr))
    }

    /// Where a companion holding the control role (a running journal)
    /// serves other companions' commands.
    pub fn control_socket(&self) -> std::path::PathBuf {
        format!("{}.control", self.path).into()
    }

    /// `companion --shm <mailbox> args…` run to completion, as an operator
    /// would type it (see [`run_companion`]).
    pub fn companion(&self, args: &[&str]) -> (bool, String) {
        let mut all = vec!["--shm", self.path.as_str()];
        all.extend_from_slice(args);
        run_companion(&all)
    }

    /// The companion on this mailbox, for one that runs beside the
    /// appliance (the journal) or with arguments that are paths.
    pub fn companion_command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(companion());
        command.args(["--shm", self.path.as_str()]);
        command
    }

    /// What the appliance last published, as the companion's library reads
    /// it: for checks on the fields the CLI only prints.
    pub fn view(&self) -> Result<companion::render::View, String> {
        companion::app::Session::attach(
            &companion::app::Target::Shm(self.path.clone().into()),
            Duration::from_secs(5),
            None,
        )
        .map(|s| s.view())
    }

    /// Counter `name` as the appliance last published it (`None` without a
    /// view, or without such a counter).
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.view().ok().and_then(|v| counter(&v, name))
    }

    /// See [`apply_raw_config`].
    pub fn apply_raw_config(&self, json: &[u8]) -> String {
        apply_raw_config(&self.path, json)
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        // Left by a journal companion that was killed, not stopped.
        let _ = std::fs::remove_file(self.control_socket());
    }
}

/// Counter `name` in a published view.
pub fn counter(view: &companion::render::View, name: &str) -> Option<u64> {
    view.counters
        .iter()
        .find(|c| c.name.to_string() == name)
        .map(|c| c.value)
}
