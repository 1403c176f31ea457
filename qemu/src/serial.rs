//! Reading what the guest printed on its serial port.
//!
//! The parsers are deliberately tolerant: serial output can be cut short by a
//! crash, lines may end in `\r\n`, and other cores may interleave their own
//! lines. Every parser looks for its own line shapes and ignores the rest.

use std::fmt;

/// Lines of the serial log with any `\r` line-ending residue removed.
pub fn lines(serial: &str) -> impl Iterator<Item = &str> {
    serial.lines().map(|line| line.trim_end_matches('\r'))
}

/// What became of one guest test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    /// Not applicable on this machine (e.g. needs two CPUs).
    Skipped,
}

/// One `test NAME ... ok`, `test NAME ... FAILED: reason` or
/// `test NAME ... skipped: reason` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    pub name: String,
    pub verdict: Verdict,
    /// Why it failed or was skipped, when the guest said so.
    pub reason: Option<String>,
}

impl TestResult {
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Passed
    }
}

/// The closing `tests: P passed, F failed[, S skipped]` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
}

/// The guest's test results: per-test lines and the closing summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestReport {
    pub results: Vec<TestResult>,
    /// Present if the guest got as far as its summary line.
    pub summary: Option<Summary>,
}

impl TestReport {
    pub fn parse(serial: &str) -> TestReport {
        let mut report = TestReport::default();
        for line in lines(serial) {
            if let Some(result) = parse_test_line(line) {
                report.results.push(result);
            } else if let Some(summary) = parse_summary_line(line) {
                report.summary = Some(summary);
            }
        }
        report
    }

    /// Counts from the per-test lines.
    pub fn counted(&self) -> Summary {
        let count = |v: Verdict| {
            let n = self.results.iter().filter(|r| r.verdict == v).count();
            u32::try_from(n).unwrap_or(u32::MAX)
        };
        Summary {
            passed: count(Verdict::Passed),
            failed: count(Verdict::Failed),
            skipped: count(Verdict::Skipped),
        }
    }

    /// Passed count: the summary's if present, else the per-test lines'.
    pub fn passed(&self) -> u32 {
        self.summary.unwrap_or_else(|| self.counted()).passed
    }

    /// Failed count: the summary's if present, else the per-test lines'.
    pub fn failed(&self) -> u32 {
        self.summary.unwrap_or_else(|| self.counted()).failed
    }

    /// Skipped count: the summary's if present, else the per-test lines'.
    pub fn skipped(&self) -> u32 {
        self.summary.unwrap_or_else(|| self.counted()).skipped
    }

    /// The summary agrees with the per-test lines (catches lost or
    /// duplicated lines on the serial port).
    pub fn is_consistent(&self) -> bool {
        self.summary == Some(self.counted())
    }

    pub fn failures(&self) -> impl Iterator<Item = &TestResult> {
        self.results.iter().filter(|r| r.verdict == Verdict::Failed)
    }
}

fn parse_test_line(line: &str) -> Option<TestResult> {
    let rest = line.trim_start().strip_prefix("test ")?;
    let (name, verdict) = rest.split_once(" ... ")?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let verdict = verdict.trim();
    if verdict == "ok" {
        return Some(TestResult {
            name: name.to_string(),
            verdict: Verdict::Passed,
            reason: None,
        });
    }
    let (kind, after) = if let Some(after) = verdict.strip_prefix("FAILED") {
        (Verdict::Failed, after)
    } else if let Some(after) = verdict.strip_prefix("skipped") {
        (Verdict::Skipped, after)
    } else {
        return None;
    };
    if after.chars().next().is_some_and(|c| c.is_alphanumeric()) {
        return None;
    }
    let reason = after.trim_start_matches(':').trim();
    Some(TestResult {
        name: name.to_string(),
        verdict: kind,
        reason: (!reason.is_empty()).then(|| reason.to_string()),
    })
}

fn parse_summary_line(line: &str) -> Option<Summary> {
    let rest = line.trim().strip_prefix("tests:")?;
    let mut parts = rest.split(',');
    let mut field = |label: &str| -> Option<u32> {
        parts
            .next()?
            .trim()
            .strip_suffix(label)?
            .trim()
            .parse()
            .ok()
    };
    let passed = field("passed")?;
    let failed = field("failed")?;
    // Older images print no skipped count.
    let skipped = match parts.next() {
        None => 0,
        Some(part) => part.trim().strip_suffix("skipped")?.trim().parse().ok()?,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Summary {
        passed,
        failed,
        skipped,
    })
}

/// How the image was entered, from the banner's `boot=` word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootProtocol {
    Pvh,
    Multiboot2,
    Other(String),
}

/// What the appliance announced while starting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Banner {
    /// The whole `appliance ...` line.
    pub line: String,
    pub boot: Option<BootProtocol>,
    /// The text after `memory:`.
    pub memory: Option<String>,
    pub cpus: Option<u32>,
    pub tsc_khz: Option<u64>,
    pub ready_us: Option<u64>,
}

impl Banner {
    /// `None` when no line begins with `appliance `.
    pub fn parse(serial: &str) -> Option<Banner> {
        let mut banner: Option<Banner> = None;
        for line in lines(serial) {
            if banner.is_none() {
                if line.starts_with("appliance ") {
                    banner = Some(Banner {
                        line: line.to_string(),
                        boot: word_value(line, "boot").map(|v| match v {
                            "pvh" => BootProtocol::Pvh,
                            "multiboot2" => BootProtocol::Multiboot2,
                            other => BootProtocol::Other(other.to_string()),
                        }),
                        ..Banner::default()
                    });
                }
                continue;
            }
            let Some(b) = banner.as_mut() else { continue };
            if let Some(rest) = line.strip_prefix("memory:") {
                b.memory.get_or_insert_with(|| rest.trim().to_string());
            } else if let Some(rest) = line.strip_prefix("cpus:") {
                b.cpus = b.cpus.or_else(|| leading_number(rest));
            } else if let Some(rest) = line.strip_prefix("tsc:") {
                let rest = rest.trim_start();
                if rest[leading_digits(rest)..].trim_start().starts_with("kHz") {
                    b.tsc_khz = b.tsc_khz.or_else(|| leading_number(rest));
                }
            } else if let Some(rest) = line.strip_prefix("ready in ") {
                if rest[leading_digits(rest)..].trim_start().starts_with("us") {
                    b.ready_us = b.ready_us.or_else(|| leading_number(rest));
                }
            }
        }
        banner
    }
}

/// The value of a `key=value` word in a line.
fn word_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|word| {
        word.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('='))
            .map(|v| v.trim_end_matches([',', ';', ')']))
    })
}

fn leading_digits(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

fn leading_number<T: std::str::FromStr>(s: &str) -> Option<T> {
    let s = s.trim_start();
    s[..leading_digits(s)].parse().ok()
}

/// The x86 exceptions the appliance can report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vector {
    DivideError,
    Debug,
    NonMaskableInterrupt,
    Breakpoint,
    Overflow,
    BoundRangeExceeded,
    InvalidOpcode,
    DeviceNotAvailable,
    DoubleFault,
    InvalidTss,
    SegmentNotPresent,
    StackSegmentFault,
    GeneralProtectionFault,
    PageFault,
    X87FloatingPoint,
    AlignmentCheck,
    MachineCheck,
    SimdFloatingPoint,
}

impl Vector {
    pub const ALL: [Vector; 18] = [
        Vector::DivideError,
        Vector::Debug,
        Vector::NonMaskableInterrupt,
        Vector::Breakpoint,
        Vector::Overflow,
        Vector::BoundRangeExceeded,
        Vector::InvalidOpcode,
        Vector::DeviceNotAvailable,
        Vector::DoubleFault,
        Vector::InvalidTss,
        Vector::SegmentNotPresent,
        Vector::StackSegmentFault,
        Vector::GeneralProtectionFault,
        Vector::PageFault,
        Vector::X87FloatingPoint,
        Vector::AlignmentCheck,
        Vector::MachineCheck,
        Vector::SimdFloatingPoint,
    ];

    pub fn number(self) -> u8 {
        match self {
            Vector::DivideError => 0,
            Vector::Debug => 1,
            Vector::NonMaskableInterrupt => 2,
            Vector::Breakpoint => 3,
            Vector::Overflow => 4,
            Vector::BoundRangeExceeded => 5,
            Vector::InvalidOpcode => 6,
            Vector::DeviceNotAvailable => 7,
            Vector::DoubleFault => 8,
            Vector::InvalidTss => 10,
            Vector::SegmentNotPresent => 11,
            Vector::StackSegmentFault => 12,
            Vector::GeneralProtectionFault => 13,
            Vector::PageFault => 14,
            Vector::X87FloatingPoint => 16,
            Vector::AlignmentCheck => 17,
            Vector::MachineCheck => 18,
            Vector::SimdFloatingPoint => 19,
        }
    }

    /// The Intel mnemonic without `#`, lower case: `pf`, `gp`, ... — also the
    /// word the kernel's `fault=` option takes.
    pub fn mnemonic(self) -> &'static str {
        match self {
            Vector::DivideError => "de",
            Vector::Debug => "db",
            Vector::NonMaskableInterrupt => "nmi",
            Vector::Breakpoint => "bp",
            Vector::Overflow => "of",
            Vector::BoundRangeExceeded => "br",
            Vector::InvalidOpcode => "ud",
            Vector::DeviceNotAvailable => "nm",
            Vector::DoubleFault => "df",
            Vector::InvalidTss => "ts",
            Vector::SegmentNotPresent => "np",
            Vector::StackSegmentFault => "ss",
            Vector::GeneralProtectionFault => "gp",
            Vector::PageFault => "pf",
            Vector::X87FloatingPoint => "mf",
            Vector::AlignmentCheck => "ac",
            Vector::MachineCheck => "mc",
            Vector::SimdFloatingPoint => "xm",
        }
    }

    /// Words a report may use for this vector, lower case.
    fn names(self) -> &'static [&'static str] {
        match self {
            Vector::DivideError => &["divide error", "divide-by-zero", "divide by zero"],
            Vector::Debug => &["debug"],
            Vector::NonMaskableInterrupt => &["non-maskable interrupt", "nmi"],
            Vector::Breakpoint => &["breakpoint"],
            Vector::Overflow => &["overflow"],
            Vector::BoundRangeExceeded => &["bound range"],
            Vector::InvalidOpcode => &["invalid opcode"],
            Vector::DeviceNotAvailable => &["device not available"],
            Vector::DoubleFault => &["double fault"],
            Vector::InvalidTss => &["invalid tss"],
            Vector::SegmentNotPresent => &["segment not present"],
            Vector::StackSegmentFault => &["stack-segment fault", "stack segment fault"],
            Vector::GeneralProtectionFault => &["general protection"],
            Vector::PageFault => &["page fault"],
            Vector::X87FloatingPoint => &["x87", "floating-point exception"],
            Vector::AlignmentCheck => &["alignment check"],
            Vector::MachineCheck => &["machine check"],
            Vector::SimdFloatingPoint => &["simd"],
        }
    }

    pub fn from_mnemonic(word: &str) -> Option<Vector> {
        let word = word.trim_start_matches('#').to_ascii_lowercase();
        Vector::ALL.into_iter().find(|v| v.mnemonic() == word)
    }

    /// Recognises `#PF`, `page fault`, `vector 14` style descriptions.
    /// Mnemonics win over names: "#DF" beats "fault".
    pub fn identify(text: &str) -> Option<Vector> {
        let lower = text.to_ascii_lowercase();
        for token in lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '#')) {
            if let Some(m) = token.strip_prefix('#') {
                if let Some(v) = Vector::from_mnemonic(m) {
                    return Some(v);
                }
            }
        }
        // "double fault" must be tested before anything shorter it contains.
        let by_name = Vector::ALL
            .into_iter()
            .filter(|v| v.names().iter().any(|n| lower.contains(n)))
            .max_by_key(|v| v.names().iter().map(|n| n.len()).max().unwrap_or(0));
        if by_name.is_some() {
            return by_name;
        }
        let after = lower.split_once("vector")?.1;
        let n: u8 = leading_number(after.trim_start_matches([' ', '=', ':']))?;
        Vector::ALL.into_iter().find(|v| v.number() == n)
    }
}

impl fmt::Display for Vector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.mnemonic().to_ascii_uppercase())
    }
}

/// An `EXCEPTION: ` block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExceptionReport {
    /// The text after `EXCEPTION: ` on the first line.
    pub headline: String,
    pub vector: Option<Vector>,
    pub error_code: Option<u64>,
    pub rip: Option<u64>,
    pub cr2: Option<u64>,
    /// Return addresses from `  #N 0x...` lines, innermost first.
    pub backtrace: Vec<u64>,
}

impl ExceptionReport {
    /// The first exception block in the log.
    pub fn parse(serial: &str) -> Option<ExceptionReport> {
        let mut it = lines(serial);
        let headline = it
            .by_ref()
            .find_map(|l| l.split_once("EXCEPTION: ").map(|(_, h)| h))?;
        let mut report = ExceptionReport {
            headline: headline.trim().to_string(),
            vector: Vector::identify(headline),
            ..ExceptionReport::default()
        };
        let mut block = vec![headline];
        for line in it {
            // The block ends at a blank line or at the next report of any kind.
            if line.trim().is_empty() || line.contains("EXCEPTION: ") || line.starts_with("PANIC: ")
            {
                break;
            }
            block.push(line);
        }
        for line in block {
            if let Some(addr) = backtrace_entry(line) {
                report.backtrace.push(addr);
                continue;
            }
            report.rip = report.rip.or_else(|| hex_field(line, "rip"));
            report.cr2 = report.cr2.or_else(|| hex_field(line, "cr2"));
            report.error_code = report
                .error_code
                .or_else(|| hex_field(line, "error code"))
                .or_else(|| hex_field(line, "error_code"))
                .or_else(|| hex_field(line, "err"));
            if report.vector.is_none() {
                report.vector = Vector::identify(line);
            }
        }
        Some(report)
    }
}

/// `  #3 0xffff8000001234ab ...` → the address.
fn backtrace_entry(line: &str) -> Option<u64> {
    let rest = line.trim_start().strip_prefix('#')?;
    let digits = leading_digits(rest);
    if digits == 0 {
        return None;
    }
    let rest = rest[digits..]
        .trim_start()
        .trim_start_matches(':')
        .trim_start();
    parse_hex_prefix(rest)
}

/// Finds `key` as a whole word (case-insensitive) followed by `=`, `:` or
/// spaces and a hexadecimal number (`0x` optional).
fn hex_field(line: &str, key: &str) -> Option<u64> {
    let lower = line.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(key) {
        let start = from + pos;
        let end = start + key.len();
        from = end;
        let before_ok = lower[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        let after = &lower[end..];
        let after_ok = after
            .chars()
            .next()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if !(before_ok && after_ok) {
            continue;
        }
        let value = after.trim_start_matches([' ', '=', ':', '\t']);
        if let Some(v) = parse_hex_prefix(value) {
            return Some(v);
        }
    }
    None
}

fn parse_hex_prefix(s: &str) -> Option<u64> {
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let digits: String = s
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '_')
        .filter(|c| *c != '_')
        .collect();
    if digits.is_empty() {
        return None;
    }
    u64::from_str_radix(&digits, 16).ok()
}

/// A `PANIC: message at file:line` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicReport {
    pub message: String,
    pub file: Option<String>,
    pub line: Option<u32>,
}

impl PanicReport {
    pub fn parse(serial: &str) -> Option<PanicReport> {
        let text = lines(serial).find_map(|l| l.split_once("PANIC: ").map(|(_, p)| p.trim()))?;
        if let Some((message, location)) = text.rsplit_once(" at ") {
            let mut parts = location.trim().split(':');
            let file = parts.next().filter(|f| !f.is_empty());
            let line = parts.next().and_then(|l| l.parse().ok());
            if let (Some(file), Some(line)) = (file, line) {
                return Some(PanicReport {
                    message: message.trim().to_string(),
                    file: Some(file.to_string()),
                    line: Some(line),
                });
            }
        }
        Some(PanicReport {
            message: text.to_string(),
            file: None,
            line: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_LOG: &str = "appliance 0.1.0 boot=pvh\r\n\
        memory: 511 MiB usable in 3 regions\r\n\
        cpus: 1\r\n\
        tsc: 2995200 kHz (cpuid 0x15)\r\n\
        ready in 1234 us\r\n\
        test pci::scan ... ok\r\n\
        test time::tsc_monotonic ... ok\r\n\
        test heap::alloc ... FAILED: expected 4, got 5\r\n\
        test mem::empty_reason ... FAILED\r\n\
        test smp::ipi ... skipped: needs 2 cpus\r\n\
        tests: 2 passed, 2 failed, 1 skipped\r\n";

    #[test]
    fn test_lines_and_summary() {
        let r = TestReport::parse(TEST_LOG);
        assert_eq!(r.results.len(), 5);
        assert_eq!(
            r.summary,
            Some(Summary {
                passed: 2,
                failed: 2,
                skipped: 1
            })
        );
        assert!(r.is_consistent());
        assert_eq!((r.passed(), r.failed(), r.skipped()), (2, 2, 1));
        assert_eq!(r.results[0].name, "pci::scan");
        assert!(r.results[0].passed());
        assert_eq!(r.results[4].verdict, Verdict::Skipped);
        assert_eq!(r.results[4].reason.as_deref(), Some("needs 2 cpus"));
        let failures: Vec<_> = r.failures().collect();
        assert_eq!(failures[0].name, "heap::alloc");
        assert_eq!(failures[0].reason.as_deref(), Some("expected 4, got 5"));
        assert_eq!(failures[1].reason, None);
    }

    #[test]
    fn missing_summary_counts_lines_and_is_inconsistent() {
        let r = TestReport::parse("test a ... ok\ntest b ... FAILED: x\ntest c ... ok\n");
        assert_eq!(r.summary, None);
        assert_eq!((r.passed(), r.failed()), (2, 1));
        assert!(!r.is_consistent());
    }

    #[test]
    fn summary_disagreeing_with_lines_is_inconsistent() {
        let r = TestReport::parse("test a ... ok\ntests: 2 passed, 0 failed\n");
        assert!(!r.is_consistent());
        assert_eq!(r.passed(), 2);
        // The older two-field summary is still read, with no skips.
        let r = TestReport::parse("test a ... ok\ntests: 1 passed, 0 failed\n");
        assert!(r.is_consistent());
        assert_eq!(r.skipped(), 0);
    }

    #[test]
    fn malformed_summaries_are_not_summaries() {
        for line in [
            "tests: 1 passed, 0 failed, x skipped",
            "tests: 1 passed, 0 failed, 0 skipped, 3 more",
            "tests: 1 passed",
            "tests: 1 failed, 0 passed",
        ] {
            assert_eq!(TestReport::parse(line).summary, None, "{line}");
        }
    }

    #[test]
    fn junk_lines_are_not_tests() {
        let r = TestReport::parse(
            "test  ... ok\ntesting ... ok\ntest a ... maybe\ntests: x passed, 0 failed\n",
        );
        assert!(r.results.is_empty());
        assert_eq!(r.summary, None);
    }

    #[test]
    fn banner_fields() {
        let b = Banner::parse(TEST_LOG).expect("banner");
        assert_eq!(b.boot, Some(BootProtocol::Pvh));
        assert_eq!(b.memory.as_deref(), Some("511 MiB usable in 3 regions"));
        assert_eq!(b.cpus, Some(1));
        assert_eq!(b.tsc_khz, Some(2_995_200));
        assert_eq!(b.ready_us, Some(1234));
    }

    #[test]
    fn banner_multiboot2_and_lines_before_banner_ignored() {
        let log = "cpus: 7\nSeaBIOS\nappliance v0 boot=multiboot2 smp\ncpus: 2\n";
        let b = Banner::parse(log).expect("banner");
        assert_eq!(b.boot, Some(BootProtocol::Multiboot2));
        assert_eq!(b.cpus, Some(2));
        assert_eq!(b.tsc_khz, None);
        assert!(Banner::parse("no banner here\n").is_none());
    }

    #[test]
    fn vector_identification() {
        assert_eq!(Vector::identify("#PF page fault"), Some(Vector::PageFault));
        assert_eq!(Vector::identify("Double Fault"), Some(Vector::DoubleFault));
        assert_eq!(
            Vector::identify("general protection fault"),
            Some(Vector::GeneralProtectionFault)
        );
        assert_eq!(Vector::identify("vector 6"), Some(Vector::InvalidOpcode));
        assert_eq!(Vector::identify("#DE"), Some(Vector::DivideError));
        assert_eq!(Vector::identify("something odd"), None);
        for v in Vector::ALL {
            assert_eq!(Vector::from_mnemonic(v.mnemonic()), Some(v));
            assert_eq!(Vector::identify(&v.to_string()), Some(v));
        }
    }

    #[test]
    fn exception_block() {
        let log = "ready in 5 us\n\
            EXCEPTION: #PF page fault (vector 14)\n\
            error code: 0x2  RIP: 0xffffffff80012345  CR2: 0xdeadbeef000\n\
            backtrace:\n\
            \x20 #0 0xffffffff80012345\n\
            \x20 #1 0xffffffff80001000 kernel::main\n\
            \n\
            test a ... ok\n";
        let e = ExceptionReport::parse(log).expect("exception");
        assert_eq!(e.vector, Some(Vector::PageFault));
        assert_eq!(e.error_code, Some(2));
        assert_eq!(e.rip, Some(0xffff_ffff_8001_2345));
        assert_eq!(e.cr2, Some(0x0dea_dbee_f000));
        assert_eq!(
            e.backtrace,
            vec![0xffff_ffff_8001_2345, 0xffff_ffff_8000_1000]
        );
    }

    #[test]
    fn exception_key_value_style() {
        let log = "EXCEPTION: invalid opcode\nrip=0x1000 err=0\n";
        let e = ExceptionReport::parse(log).expect("exception");
        assert_eq!(e.vector, Some(Vector::InvalidOpcode));
        assert_eq!(e.rip, Some(0x1000));
        assert_eq!(e.error_code, Some(0));
        assert_eq!(e.cr2, None);
        // "strip" must not be read as "rip".
        let e = ExceptionReport::parse("EXCEPTION: #GP\nstrip 0x55\n").expect("exception");
        assert_eq!(e.rip, None);
        assert!(ExceptionReport::parse("all fine\n").is_none());
    }

    #[test]
    fn panic_line() {
        let p = PanicReport::parse("x\nPANIC: deliberate panic at kernel/src/lib.rs:42:9\n")
            .expect("panic");
        assert_eq!(p.message, "deliberate panic");
        assert_eq!(p.file.as_deref(), Some("kernel/src/lib.rs"));
        assert_eq!(p.line, Some(42));
        let p = PanicReport::parse("PANIC: no location\n").expect("panic");
        assert_eq!((p.file, p.line), (None, None));
        assert!(PanicReport::parse("panic: lower case is not ours\n").is_none());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn test_name() -> impl Strategy<Value = String> {
        "[a-z_]{1,8}(::[a-z_]{1,8}){0,2}"
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_garbage(text in "(?s).{0,400}") {
            let _ = TestReport::parse(&text);
            let _ = Banner::parse(&text);
            let _ = ExceptionReport::parse(&text);
            let _ = PanicReport::parse(&text);
            let _ = Vector::identify(&text);
        }

        #[test]
        fn parsers_never_panic_on_near_misses(
            lines in proptest::collection::vec(
                prop_oneof![
                    "test [^\n]{0,20} \\.\\.\\. (ok|FAILED[^\n]{0,10})",
                    "tests: [0-9]{0,12} passed, [0-9x]{0,12} failed(, [0-9]{0,12} skipped)?",
                    "test [a-z:]{1,10} \\.\\.\\. skipped[^\n]{0,10}",
                    "EXCEPTION: [^\n]{0,30}",
                    " *(rip|cr2|error code)[:= ]{0,2}(0x)?[0-9a-fA-FéÄ_]{0,20}",
                    " *#[0-9]{0,3} ?(0x)?[0-9a-f]{0,20}",
                    "PANIC: [^\n]{0,20}( at [^\n]{0,10}:[0-9]{0,12})?",
                    "(appliance |cpus:|tsc:|ready in |memory:)[^\n]{0,20}",
                ],
                0..12,
            )
        ) {
            let text = lines.join("\r\n");
            let _ = TestReport::parse(&text);
            let _ = Banner::parse(&text);
            let _ = ExceptionReport::parse(&text);
            let _ = PanicReport::parse(&text);
        }

        #[test]
        fn test_lines_round_trip(
            tests in proptest::collection::vec((test_name(), 0..3u8, "[a-z0-9 ,=]{0,20}"), 0..20),
            noise in "[A-Za-z :]{0,30}",
        ) {
            let mut log = format!("{noise}\n");
            let mut want = Summary::default();
            for (name, kind, reason) in &tests {
                match kind {
                    0 => {
                        want.passed += 1;
                        log.push_str(&format!("test {name} ... ok\r\n"));
                    }
                    1 => {
                        want.failed += 1;
                        log.push_str(&format!("test {name} ... FAILED: {reason}\r\n"));
                    }
                    _ => {
                        want.skipped += 1;
                        log.push_str(&format!("test {name} ... skipped: {reason}\r\n"));
                    }
                }
            }
            log.push_str(&format!(
                "tests: {} passed, {} failed, {} skipped\n",
                want.passed, want.failed, want.skipped
            ));
            let report = TestReport::parse(&log);
            prop_assert_eq!(report.summary, Some(want));
            prop_assert!(report.is_consistent());
            prop_assert_eq!(report.results.len(), tests.len());
            for (got, (name, kind, reason)) in report.results.iter().zip(&tests) {
                prop_assert_eq!(&got.name, name);
                let verdict = [Verdict::Passed, Verdict::Failed, Verdict::Skipped][usize::from(*kind)];
                prop_assert_eq!(got.verdict, verdict);
                let want_reason = (*kind != 0 && !reason.trim().is_empty()).then(|| reason.trim().to_string());
                prop_assert_eq!(&got.reason, &want_reason);
            }
        }

        #[test]
        fn exception_fields_round_trip(rip in any::<u64>(), cr2 in any::<u64>(), code in any::<u32>(),
                                       frames in proptest::collection::vec(any::<u64>(), 0..8),
                                       v in 0..Vector::ALL.len()) {
            let vector = Vector::ALL[v];
            let mut log = format!("EXCEPTION: vector {} ({vector})\n  error code: {code:#x}\n  rip: {rip:#018x}  cs: 0x8\n  cr2: {cr2:#x}\n  backtrace:\n", vector.number());
            for (i, f) in frames.iter().enumerate() {
                log.push_str(&format!("  #{i} {f:#x}\n"));
            }
            let e = ExceptionReport::parse(&log).expect("block");
            prop_assert_eq!(e.vector, Some(vector));
            prop_assert_eq!(e.rip, Some(rip));
            prop_assert_eq!(e.cr2, Some(cr2));
            prop_assert_eq!(e.error_code, Some(u64::from(code)));
            prop_assert_eq!(e.backtrace, frames);
        }
    }
}
