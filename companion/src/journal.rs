//! Durable state for an appliance that has no disk: FIX sequence numbers (one
//! small file per venue, replaced atomically) and the fills journal (append
//! only, synced per record). Handed back with `Journal` commands at start.

use protocol::mailbox::{Event, FillRecord, FixSeqRecord, JournalRecord};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use types::{OrderId, Price, Side, StrategyId, Symbol, VenueId};

#[derive(Debug, Clone)]
pub struct Journal {
    pub dir: PathBuf,
}

fn bad(line: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("journal line not understood: {line:?}"),
    )
}

impl Journal {
    pub fn open(dir: PathBuf) -> io::Result<Journal> {
        fs::create_dir_all(&dir)?;
        Ok(Journal { dir })
    }

    /// Persists an event if it carries durable state; returns whether it did.
    pub fn persist(&self, ev: &Event) -> io::Result<bool> {
        match ev {
            Event::FixSeq(r) => {
                let path = self.dir.join(format!("fixseq-{}.txt", r.venue.0));
                let tmp = self.dir.join(format!(".fixseq-{}.tmp", r.venue.0));
                let mut f = fs::File::create(&tmp)?;
                writeln!(f, "{} {} {}", r.next_in, r.next_out, r.epoch)?;
                f.sync_all()?;
                fs::rename(tmp, path)?;
                // The rename itself is durable only once the directory is.
                fs::File::open(&self.dir)?.sync_all()?;
                Ok(true)
            }
            Event::Fill(f) => {
                // The symbol came through shared memory: anything that is
                // not a plain symbol would break the record's fields.
                let symbol = f.symbol.as_str();
                if symbol.is_empty() || !symbol.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("fill with a malformed symbol {symbol:?} not journaled"),
                    ));
                }
                let mut file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .read(true)
                    .open(self.dir.join("fills.csv"))?;
                let side = f.side.to_itch() as char;
                let strategy = f.strategy.map(|s| s.0.to_string()).unwrap_or_default();
                let fields = format!(
                    "{},{},{},{},{},{},{},{},{},{:016x},{},{:016x}",
                    f.exec_seq,
                    f.order.0,
                    f.venue.0,
                    f.locate,
                    symbol,
                    side,
                    f.qty,
                    f.price.0,
                    f.ts_ns,
                    f.exec_key,
                    strategy,
                    f.adjusts
                );
                // One write per record (a crash leaves at most the last one
                // torn), ending in a checksum of its fields, and starting
                // on a line of its own even after a torn record.
                let mut record = String::with_capacity(fields.len() + 16);
                if !ends_with_newline(&mut file)? {
                    record.push('\n');
                }
                record.push_str(&format!("{fields},{:08x}\n", checksum(&fields)));
                file.write_all(record.as_bytes())?;
                file.sync_data()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Everything persisted: FIX positions first (by venue), then fills in order.
    pub fn load(&self) -> io::Result<Vec<JournalRecord>> {
        let mut out = Vec::new();
        let mut venues: Vec<(u8, PathBuf)> = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(v) = name
                .strip_prefix("fixseq-")
                .and_then(|s| s.strip_suffix(".txt"))
                .and_then(|s| s.parse::<u8>().ok())
            {
                venues.push((v, entry.path()));
            }
        }
        venues.sort();
        for (venue, path) in venues {
            let text = fs::read_to_string(path)?;
            // "next_in next_out [epoch]": files from before epochs read as 0.
            let numbers: Result<Vec<u64>, _> =
                text.split_whitespace().map(str::parse::<u64>).collect();
            match numbers.as_deref() {
                Ok([next_in, next_out, rest @ ..])
                    if rest.len() <= 1
                        && rest.first().is_none_or(|&e| u32::try_from(e).is_ok()) =>
                {
                    out.push(JournalRecord::FixSeq(FixSeqRecord {
                        venue: VenueId(venue),
                        next_in: *next_in,
                        next_out: *next_out,
                        epoch: rest.first().map_or(0, |&e| e as u32),
                    }))
                }
                _ => return Err(bad(&text)),
            }
        }
        let fills = match fs::read_to_string(self.dir.join("fills.csv")) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        // A record that does not read back whole (torn by a crash while
        // it was written, or damaged) is skipped and reported; the rest of
        // the journal, sequence numbers included, still comes back.
        for line in fills.lines().filter(|l| !l.is_empty()) {
            match parse_fill(line) {
                Some(fill) => out.push(JournalRecord::Fill(fill)),
                None => eprintln!("journal: {} (skipped)", bad(line)),
            }
        }
        Ok(out)
    }
}

/// FNV-1a over a record's fields: a torn or altered record fails it.
fn checksum(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Whether the file is empty or its last byte is a newline.
fn ends_with_newline(file: &mut fs::File) -> io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

fn parse_fill(line: &str) -> Option<FillRecord> {
    let mut f: Vec<&str> = line.split(',').collect();
    // Twelve fields and a checksum of them: the nine of a fill, its ExecID
    // key (16 hex digits), its strategy (empty: none) and, for a bust or
    // correction, the key of the execution it takes back (16 hex digits,
    // 0 for a fill). Older records lack the last (eleven fields and a
    // checksum), the strategy too (ten and a checksum), the key too (nine
    // and a checksum), or the checksum as well (nine alone); they load
    // with what they have, and with no key the appliance recovers no fill
    // of their boot from a venue's resend.
    if (10..=13).contains(&f.len()) {
        let (fields, sum) = line.rsplit_once(',')?;
        if u32::from_str_radix(sum, 16).ok()? != checksum(fields) || sum.len() != 8 {
            return None;
        }
        f.pop();
    }
    let hex16 = |key: &str| {
        if key.len() == 16 {
            u64::from_str_radix(key, 16).ok()
        } else {
            None
        }
    };
    let adjusts = match f.len() {
        12 => hex16(f.pop()?)?,
        _ => 0,
    };
    let strategy = match f.len() {
        11 => match f.pop()? {
            "" => None,
            id => Some(StrategyId(id.parse().ok()?)),
        },
        _ => None,
    };
    let exec_key = match f.len() {
        10 => hex16(f.pop()?)?,
        9 => 0,
        _ => return None,
    };
    Some(FillRecord {
        exec_seq: f[0].parse().ok()?,
        order: OrderId(f[1].parse().ok()?),
        venue: VenueId(f[2].parse().ok()?),
        locate: f[3].parse().ok()?,
        symbol: Symbol::new(f[4])?,
        side: Side::from_itch(*f[5].as_bytes().first()?)?,
        qty: f[6].parse().ok()?,
        price: Price(f[7].parse().ok()?),
        ts_ns: f[8].parse().ok()?,
        exec_key,
        strategy,
        adjusts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persisted_records_load_back_in_order() {
        let dir = std::env::temp_dir().join(format!("companion-journal-{}", std::process::id()));
        let j = Journal::open(dir.clone()).unwrap();
        let fill = |n| FillRecord {
            exec_seq: n,
            order: OrderId(n * 10),
            venue: VenueId(1),
            locate: 7,
            symbol: Symbol::new("AAPL").unwrap(),
            side: Side::Buy,
            qty: 100,
            price: Price(1_875_000),
            ts_ns: n * 1000,
            exec_key: n << 60 | 5,
            strategy: Some(StrategyId(1)),
            adjusts: 0,
        };
        j.persist(&Event::FixSeq(FixSeqRecord {
            venue: VenueId(1),
            next_in: 5,
            next_out: 9,
            epoch: 1,
        }))
        .unwrap();
        j.persist(&Event::FixSeq(FixSeqRecord {
            venue: VenueId(1),
            next_in: 6,
            next_out: 10,
            epoch: 2,
        }))
        .unwrap();
        j.persist(&Event::Fill(fill(1))).unwrap();
        j.persist(&Event::Fill(fill(2))).unwrap();
        assert!(!j.persist(&Event::JournalRequest).unwrap());
        let got = j.load().unwrap();
        assert_eq!(
            got,
            vec![
                JournalRecord::FixSeq(FixSeqRecord {
                    venue: VenueId(1),
                    next_in: 6,
                    next_out: 10,
                    epoch: 2
                }),
                JournalRecord::Fill(fill(1)),
                JournalRecord::Fill(fill(2))
            ]
        );
        fs::remove_dir_all(dir).unwrap();
    }

    fn a_fill(n: u64) -> FillRecord {
        FillRecord {
            exec_seq: n,
            order: OrderId(100 + n),
            venue: VenueId(1),
            locate: 7,
            symbol: Symbol::new("AAPL").unwrap(),
            side: Side::Sell,
            qty: 10,
            price: Price(1_000_000),
            ts_ns: n,
            exec_key: 0xfedc_ba98_7654_3210 ^ n,
            strategy: Some(StrategyId(1)),
            adjusts: 0x1000 + n,
        }
    }

    /// A record torn by a crash while it was written loses itself only:
    /// the sequence numbers and every other fill come back, and a fill
    /// written after the torn one is whole.
    #[test]
    fn a_torn_record_loses_only_itself() {
        let dir = std::env::temp_dir().join(format!("journal-torn-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let j = Journal::open(dir.clone()).unwrap();
        j.persist(&Event::FixSeq(FixSeqRecord {
            venue: VenueId(1),
            next_in: 7,
            next_out: 300,
            epoch: 3,
        }))
        .unwrap();
        j.persist(&Event::Fill(a_fill(1))).unwrap();
        // The crash: half a record, no newline.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.join("fills.csv"))
            .unwrap();
        f.write_all(b"2,102,1,13,AA").unwrap();
        drop(f);
        j.persist(&Event::Fill(a_fill(3))).unwrap();
        let got = j.load().unwrap();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(matches!(got[0], JournalRecord::FixSeq(r) if r.next_out == 300));
        assert_eq!(got[1], JournalRecord::Fill(a_fill(1)));
        assert_eq!(got[2], JournalRecord::Fill(a_fill(3)));
        // A record altered in place fails its checksum and is skipped.
        let text = fs::read_to_string(dir.join("fills.csv")).unwrap();
        fs::write(dir.join("fills.csv"), text.replacen(",10,", ",90,", 1)).unwrap();
        assert_eq!(j.load().unwrap().len(), 2);
        fs::remove_dir_all(dir).unwrap();
    }

    /// A fill whose symbol would break the record's fields is refused, not
    /// written to poison the file.
    #[test]
    fn a_malformed_symbol_is_not_journaled() {
        let dir = std::env::temp_dir().join(format!("journal-sym-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let j = Journal::open(dir.clone()).unwrap();
        let mut bad = a_fill(1);
        bad.symbol = Symbol(*b"A,B     ");
        assert!(j.persist(&Event::Fill(bad)).is_err());
        j.persist(&Event::Fill(a_fill(2))).unwrap();
        assert_eq!(j.load().unwrap(), vec![JournalRecord::Fill(a_fill(2))]);
        fs::remove_dir_all(dir).unwrap();
    }

    /// Records written before ExecID keys (nine fields, with or without a
    /// checksum) still load, with no key, and those with a key but before
    /// strategies with no strategy; a key that is not 16 hex digits fails
    /// the record. A fill of no strategy (recovered) reads back as such.
    #[test]
    fn older_records_load_without_an_exec_key() {
        let dir = std::env::temp_dir().join(format!("journal-old-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let j = Journal::open(dir.clone()).unwrap();
        let nine = "4,104,1,7,AAPL,S,10,1000000,4";
        let short_key = "5,105,1,7,AAPL,S,10,1000000,5,ff";
        let keyed = "7,107,1,7,AAPL,S,10,1000000,7,00000000000000ab";
        let owned = "9,109,1,7,AAPL,S,10,1000000,9,00000000000000cd,1";
        let text = format!(
            "3,103,1,7,AAPL,S,10,1000000,3\n{nine},{:08x}\n{short_key},{:08x}\n{keyed},{:08x}\n{owned},{:08x}\n",
            checksum(nine),
            checksum(short_key),
            checksum(keyed),
            checksum(owned)
        );
        fs::write(dir.join("fills.csv"), text).unwrap();
        j.persist(&Event::Fill(a_fill(6))).unwrap();
        let recovered = FillRecord {
            strategy: None,
            adjusts: 0,
            ..a_fill(8)
        };
        j.persist(&Event::Fill(recovered)).unwrap();
        let old = |n| {
            JournalRecord::Fill(FillRecord {
                exec_key: 0,
                strategy: None,
                adjusts: 0,
                ..a_fill(n)
            })
        };
        assert_eq!(
            j.load().unwrap(),
            vec![
                old(3),
                old(4),
                JournalRecord::Fill(FillRecord {
                    exec_key: 0xab,
                    strategy: None,
                    adjusts: 0,
                    ..a_fill(7)
                }),
                JournalRecord::Fill(FillRecord {
                    exec_key: 0xcd,
                    strategy: Some(StrategyId(1)),
                    adjusts: 0,
                    ..a_fill(9)
                }),
                JournalRecord::Fill(a_fill(6)),
                JournalRecord::Fill(recovered),
            ]
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
