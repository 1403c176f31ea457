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
