//! The two command lines, end to end through files.

use std::path::PathBuf;
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("feedgen-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const FEEDGEN: &str = env!("CARGO_BIN_EXE_feedgen");
const REPLAY: &str = env!("CARGO_BIN_EXE_replay");

#[test]
fn generate_twice_then_replay_file_and_pcap() {
    let dir = scratch("e2e");
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let common = [
        "--seed",
        "5",
        "--messages",
        "50000",
        "--symbols",
        "100",
        "--peak-live",
        "5000",
        "--quiet",
    ];
    for (itch, pcap) in [("a.itch", "a.pcap"), ("b.itch", "b.pcap")] {
        let mut args = common.to_vec();
        let (itch, pcap) = (p(itch), p(pcap));
        args.extend(["--out", &itch, "--pcap", &pcap]);
        let o = run(FEEDGEN, &args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = stdout(&o);
        assert!(text.contains("50000 messages"), "{text}");
        assert!(text.contains("peak live orders: "), "{text}");
    }
    assert_eq!(
        std::fs::read(p("a.itch")).unwrap(),
        std::fs::read(p("b.itch")).unwrap()
    );
    assert_eq!(
        std::fs::read(p("a.pcap")).unwrap(),
        std::fs::read(p("b.pcap")).unwrap()
    );

    let (bbo_file, bbo_pcap, depth) = (p("bbo1.csv"), p("bbo2.csv"), p("depth.csv"));
    let itch = p("a.itch");
    let o = run(
        REPLAY,
        &[
            &itch,
            "--bbo-csv",
            &bbo_file,
            "--depth",
            "3",
            "--depth-out",
            &depth,
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(text.contains("replay: 50000 messages"), "{text}");
    assert!(text.contains("book anomalies: 0 "), "{text}");
    assert!(text.contains("unknown types 0 · malformed 0"), "{text}");

    let pcap = p("a.pcap");
    let o = run(REPLAY, &["--pcap", &pcap, "--bbo-csv", &bbo_pcap]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(text.contains("book anomalies: 0 "), "{text}");
    assert!(text.contains("gap messages 0 · duplicates 0"), "{text}");

    let csv = std::fs::read_to_string(&bbo_file).unwrap();
    assert!(csv.starts_with("msg_index,locate,stock,bid_px,bid_qty,ask_px,ask_qty\n"));
    assert!(csv.lines().count() > 1_000);
    assert_eq!(csv, std::fs::read_to_string(&bbo_pcap).unwrap());
    let depth = std::fs::read_to_string(&depth).unwrap();
    assert!(depth.starts_with("locate,stock,side,level,price,qty,orders\n"));
    assert!(depth.lines().skip(1).all(|l| l.split(',').count() == 7));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_invocations_fail_with_a_message() {
    let dir = scratch("bad");
    let o = run(FEEDGEN, &["--messages", "5000"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing to write"));

    let out = dir.join("x.itch").to_string_lossy().into_owned();
    let o = run(FEEDGEN, &["--messages", "10", "--out", &out, "--quiet"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("too few messages"));

    let missing = dir.join("missing.itch").to_string_lossy().into_owned();
    let o = run(REPLAY, &[&missing]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.itch"));

    let garbage = dir.join("garbage.pcap");
    std::fs::write(&garbage, b"this is not a pcap file at all").unwrap();
    let o = run(REPLAY, &["--pcap", &garbage.to_string_lossy()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a pcap file"));

    // The same garbage as a NASDAQ-format file is replayed, not trusted:
    // whatever it decodes to is counted, nothing panics.
    let o = run(REPLAY, &[&garbage.to_string_lossy()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("truncated tail 1"), "{}", stdout(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}
