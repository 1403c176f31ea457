//! Durable state for an appliance that has no disk: FIX sequence numbers (one
//! small file per venue, replaced atomically) and the fills journal (append
//! only, synced per record). Handed back with `Journal` commands at start.

use protocol::mailbox::{Event, FillRecord, FixSeqRecord, JournalRecord};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use types::{OrderId, Price, Side, Symbol, VenueId};

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
                let mut file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.join("fills.csv"))?;
                let side = f.side.to_itch() as char;
                writeln!(
                    file,
                    "{},{},{},{},{},{},{},{},{}",
                    f.exec_seq,
                    f.order.0,
                    f.venue.0,
                    f.locate,
                    f.symbol.as_str(),
                    side,
                    f.qty,
                    f.price.0,
                    f.ts_ns
                )?;
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
        for line in fills.lines().filter(|l| !l.is_empty()) {
            out.push(JournalRecord::Fill(
                parse_fill(line).ok_or_else(|| bad(line))?,
            ));
        }
        Ok(out)
    }
}

fn parse_fill(line: &str) -> Option<FillRecord> {
    let f: Vec<&str> = line.split(',').collect();
    if f.len() != 9 {
        return None;
    }
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
}
