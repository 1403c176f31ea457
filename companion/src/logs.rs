//! Log frames from the appliance. The appliance will emit defmt frames; the
//! decoder that turns them into text (defmt-decoder with the image ELF's
//! table) plugs in through [`FrameDecoder`]. Until then [`RawFrames`] shows
//! each frame as hex, plus its text when the frame is printable UTF-8.

/// Turns one log frame into one line of output.
pub trait FrameDecoder {
    fn decode(&mut self, frame: &[u8]) -> String;
}

/// Hex dump, plus the text for printable UTF-8 frames.
#[derive(Debug, Default)]
pub struct RawFrames;

impl FrameDecoder for RawFrames {
    fn decode(&mut self, frame: &[u8]) -> String {
        let hex: Vec<String> = frame.iter().map(|b| format!("{b:02x}")).collect();
        let mut line = format!("[{:>4} B] {}", frame.len(), hex.join(" "));
        if let Ok(text) = std::str::from_utf8(frame) {
            if !text.is_empty()
                && text
                    .chars()
                    .all(|c| !c.is_control() || c == '\t' || c == '\n')
            {
                line.push_str(&format!("  | {}", text.trim_end_matches('\n')));
            }
        }
        line
    }
}

/// defmt frames decoded with the image's defmt table. Each mailbox log
/// frame is one byte of core number followed by one complete encoded defmt
/// frame; each core gets its own stream decoder.
pub struct DefmtFrames {
    table: &'static defmt_decoder::Table,
    streams: std::collections::HashMap<
        u8,
        Box<dyn defmt_decoder::StreamDecoder + Send + Sync + 'static>,
    >,
}

impl DefmtFrames {
    /// Reads the defmt table from the appliance's ELF image.
    pub fn from_elf(path: &std::path::Path) -> Result<DefmtFrames, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let table = defmt_decoder::Table::parse(&bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .ok_or_else(|| format!("{}: no defmt table in this image", path.display()))?;
        // The table lives as long as the process; decoders borrow it.
        Ok(DefmtFrames {
            table: Box::leak(Box::new(table)),
            streams: Default::default(),
        })
    }
}

impl FrameDecoder for DefmtFrames {
    fn decode(&mut self, frame: &[u8]) -> String {
        let Some((&core, data)) = frame.split_first() else {
            return "[empty log frame]".into();
        };
        let table = self.table;
        let stream = self
            .streams
            .entry(core)
            .or_insert_with(|| table.new_stream_decoder());
        stream.received(data);
        let mut lines = Vec::new();
        loop {
            match stream.decode() {
                Ok(f) => lines.push(format!("core {core} {}", f.display(false))),
                Err(defmt_decoder::DecodeError::UnexpectedEof) => break,
                Err(defmt_decoder::DecodeError::Malformed) => {
                    lines.push(format!(
                        "core {core} [malformed defmt frame: {}]",
                        RawFrames.decode(data)
                    ));
                    break;
                }
            }
        }
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_frames_show_hex_and_printable_text_only() {
        assert_eq!(RawFrames.decode(b"hi"), "[   2 B] 68 69  | hi");
        assert_eq!(RawFrames.decode(&[0, 1]), "[   2 B] 00 01");
        assert_eq!(RawFrames.decode(&[0xff]), "[   1 B] ff");
    }
}
