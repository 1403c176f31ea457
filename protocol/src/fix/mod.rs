//! FIX 4.2 / 4.4 tag=value codec.
//!
//! Layers, bottom up:
//! - [`frame`]: finds complete messages in a TCP byte stream (partial reads,
//!   garbage before `8=`, broken BodyLength → resynchronise).
//! - [`decode`]: a zero-copy, allocation-free validating view of one message
//!   ([`FixMessage`]) with by-tag lookup through a fixed-capacity index and
//!   repeating-group iteration.
//! - [`encode`]: a per-session header template and a field writer that
//!   writes straight into a caller buffer, patching BodyLength and CheckSum;
//!   integer, price4 and UTC timestamp formatting without floats or a clock.
//! - [`messages`]: typed builders/parsers (`Repr`s) for the session and order
//!   entry messages.
//!
//! Nothing here allocates, reads a clock or panics on input.

pub mod decode;
pub mod encode;
pub mod frame;
pub mod messages;

pub use decode::{FixDecoder, FixMessage, Group, GroupEntry};
pub use encode::{FieldWriter, HeaderTemplate, MsgBuilder};
pub use frame::{find_frame, FrameStatus};

/// Field separator.
pub const SOH: u8 = 0x01;

/// Largest message the framer and decoder accept, in bytes. Offsets inside a
/// message are kept as `u16`.
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;

/// FIX protocol version, i.e. BeginString(8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FixVersion {
    Fix42,
    Fix44,
}

impl FixVersion {
    pub const fn begin_string(self) -> &'static [u8] {
        match self {
            FixVersion::Fix42 => b"FIX.4.2",
            FixVersion::Fix44 => b"FIX.4.4",
        }
    }

    pub fn from_begin_string(value: &[u8]) -> Option<FixVersion> {
        match value {
            b"FIX.4.2" => Some(FixVersion::Fix42),
            b"FIX.4.4" => Some(FixVersion::Fix44),
            _ => None,
        }
    }

    /// The version's number as a person writes it: `4.2` or `4.4` (what
    /// [`FixVersion::from_name`] reads).
    pub const fn name(self) -> &'static str {
        match self {
            FixVersion::Fix42 => "4.2",
            FixVersion::Fix44 => "4.4",
        }
    }

    /// The version a person names in a config file or on a command line:
    /// `4.2` or `4.4`, or the BeginString itself.
    pub fn from_name(name: &str) -> Option<FixVersion> {
        match name {
            "4.2" => Some(FixVersion::Fix42),
            "4.4" => Some(FixVersion::Fix44),
            other => FixVersion::from_begin_string(other.as_bytes()),
        }
    }
}

/// Wall-clock time as nanoseconds since the Unix epoch (UTC). FIX timestamps
/// are UTC; the caller supplies the time, the codec never reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UtcTime(pub u64);

impl UtcTime {
    pub const NANOS_PER_SEC: u64 = 1_000_000_000;

    pub const fn from_secs(secs: u64) -> UtcTime {
        UtcTime(secs * Self::NANOS_PER_SEC)
    }

    pub const fn from_millis(ms: u64) -> UtcTime {
        UtcTime(ms * 1_000_000)
    }

    pub const fn saturating_add_nanos(self, ns: u64) -> UtcTime {
        UtcTime(self.0.saturating_add(ns))
    }

    pub const fn nanos_since(self, earlier: UtcTime) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Why a byte sequence is not a valid FIX message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixError {
    /// Not enough bytes for a complete message.
    Incomplete,
    /// The message does not start with `8=` or names an unsupported version.
    BadBeginString,
    /// BodyLength(9) missing, malformed, or not matching where CheckSum(10) is.
    BadBodyLength,
    /// CheckSum(10) malformed or not the sum of the preceding bytes.
    BadChecksum,
    /// A field is not `digits=value<SOH>` (empty value, tag 0, non-digit tag…).
    MalformedField,
    /// MsgType(35) is not the third field.
    MissingMsgType,
    /// More fields than [`decode::MAX_FIELDS`].
    TooManyFields,
    /// A required field is absent.
    MissingField(u32),
    /// A field is present but its value cannot be used.
    InvalidValue(u32),
    /// The repeating group's NoXXX count does not match its entries.
    GroupCount(u32),
    /// The caller's output buffer cannot hold the message.
    BufferTooSmall,
    /// A data field (RawData(96), XmlData(213), Signature(89)…) without
    /// its length field (the tag given, e.g. RawDataLength(95)) right
    /// before it.
    MissingDataLength(u32),
    /// A length field of a data field (the tag given) that is not a
    /// positive number, is not followed by its data field, or gives a
    /// length that runs past the body or does not end at an SOH.
    BadDataLength(u32),
    /// A tag that appears more than once outside a repeating group, or
    /// twice in one entry of a group (SessionRejectReason 13).
    RepeatedTag(u32),
    /// BeginString(8), BodyLength(9) or CheckSum(10) inside the body
    /// (SessionRejectReason 14).
    TagOutOfOrder(u32),
}

impl FixError {
    /// True for errors that make the message "garbled" in the FIX session
    /// sense: it must be ignored without consuming a sequence number.
    pub const fn is_garbled(self) -> bool {
        matches!(
            self,
            FixError::Incomplete
                | FixError::BadBeginString
                | FixError::BadBodyLength
                | FixError::BadChecksum
                | FixError::MalformedField
                | FixError::MissingMsgType
                | FixError::TooManyFields
        )
    }
}

impl FixError {
    /// How a session answers a message refused with this error that is
    /// not garbled (its envelope and CheckSum are right): a Reject with
    /// this SessionRejectReason(373) and RefTagID(371). `None` for a
    /// garbled message (ignored, see [`FixError::is_garbled`]) and for
    /// errors that are not about a received message.
    pub const fn session_reject(self) -> Option<(u32, Option<u32>)> {
        use reject_reason as r;
        Some(match self {
            FixError::RepeatedTag(t) => (r::TAG_APPEARS_MORE_THAN_ONCE, Some(t)),
            FixError::TagOutOfOrder(t) => (r::TAG_OUT_OF_ORDER, Some(t)),
            FixError::MissingDataLength(t) | FixError::MissingField(t) => {
                (r::REQUIRED_TAG_MISSING, Some(t))
            }
            FixError::BadDataLength(t) | FixError::InvalidValue(t) => (r::VALUE_INCORRECT, Some(t)),
            FixError::GroupCount(t) => (r::INCORRECT_NUM_IN_GROUP, Some(t)),
            FixError::Incomplete
            | FixError::BadBeginString
            | FixError::BadBodyLength
            | FixError::BadChecksum
            | FixError::MalformedField
            | FixError::MissingMsgType
            | FixError::TooManyFields
            | FixError::BufferTooSmall => return None,
        })
    }
}

impl core::fmt::Display for FixError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FixError::Incomplete => f.write_str("incomplete message"),
            FixError::BadBeginString => f.write_str("bad BeginString(8)"),
            FixError::BadBodyLength => f.write_str("bad BodyLength(9)"),
            FixError::BadChecksum => f.write_str("bad CheckSum(10)"),
            FixError::MalformedField => f.write_str("malformed field"),
            FixError::MissingMsgType => f.write_str("MsgType(35) is not the third field"),
            FixError::TooManyFields => f.write_str("too many fields"),
            FixError::MissingField(t) => write!(f, "required tag {t} missing"),
            FixError::InvalidValue(t) => write!(f, "invalid value for tag {t}"),
            FixError::GroupCount(t) => write!(f, "incorrect NumInGroup count for tag {t}"),
            FixError::BufferTooSmall => f.write_str("output buffer too small"),
            FixError::MissingDataLength(t) => {
                write!(f, "data field without its length field {t} before it")
            }
            FixError::BadDataLength(t) => write!(f, "bad data length in tag {t}"),
            FixError::RepeatedTag(t) => write!(f, "tag {t} appears more than once"),
            FixError::TagOutOfOrder(t) => write!(f, "tag {t} out of required order"),
        }
    }
}

/// Tag numbers used by the codec and the session layer.
pub mod tag {
    pub const ACCOUNT: u32 = 1;
    pub const AVG_PX: u32 = 6;
    pub const BEGIN_SEQ_NO: u32 = 7;
    pub const BEGIN_STRING: u32 = 8;
    pub const BODY_LENGTH: u32 = 9;
    pub const CHECK_SUM: u32 = 10;
    pub const CL_ORD_ID: u32 = 11;
    pub const CUM_QTY: u32 = 14;
    pub const END_SEQ_NO: u32 = 16;
    pub const EXEC_ID: u32 = 17;
    pub const EXEC_INST: u32 = 18;
    pub const EXEC_REF_ID: u32 = 19;
    pub const EXEC_TRANS_TYPE: u32 = 20;
    pub const HANDL_INST: u32 = 21;
    pub const MSG_SEQ_NUM: u32 = 34;
    pub const MSG_TYPE: u32 = 35;
    pub const NEW_SEQ_NO: u32 = 36;
    pub const ORDER_ID: u32 = 37;
    pub const ORDER_QTY: u32 = 38;
    pub const ORD_STATUS: u32 = 39;
    pub const ORD_TYPE: u32 = 40;
    pub const ORIG_CL_ORD_ID: u32 = 41;
    pub const POSS_DUP_FLAG: u32 = 43;
    pub const PRICE: u32 = 44;
    pub const REF_SEQ_NUM: u32 = 45;
    pub const SENDER_COMP_ID: u32 = 49;
    pub const SENDING_TIME: u32 = 52;
    pub const SIDE: u32 = 54;
    pub const SYMBOL: u32 = 55;
    pub const TARGET_COMP_ID: u32 = 56;
    pub const TEXT: u32 = 58;
    pub const TIME_IN_FORCE: u32 = 59;
    pub const TRANSACT_TIME: u32 = 60;
    pub const LAST_PX: u32 = 31;
    pub const LAST_QTY: u32 = 32;
    pub const ENCRYPT_METHOD: u32 = 98;
    pub const CXL_REJ_REASON: u32 = 102;
    pub const HEART_BT_INT: u32 = 108;
    pub const TEST_REQ_ID: u32 = 112;
    pub const ORIG_SENDING_TIME: u32 = 122;
    pub const GAP_FILL_FLAG: u32 = 123;
    pub const RESET_SEQ_NUM_FLAG: u32 = 141;
    pub const EXEC_TYPE: u32 = 150;
    pub const LEAVES_QTY: u32 = 151;
    pub const REF_TAG_ID: u32 = 371;
    pub const REF_MSG_TYPE: u32 = 372;
    pub const SESSION_REJECT_REASON: u32 = 373;
    pub const BUSINESS_REJECT_REF_ID: u32 = 379;
    pub const BUSINESS_REJECT_REASON: u32 = 380;
    pub const CXL_REJ_RESPONSE_TO: u32 = 434;
    pub const MASS_CANCEL_REQUEST_TYPE: u32 = 530;
    pub const MASS_CANCEL_RESPONSE: u32 = 531;
    pub const MASS_CANCEL_REJECT_REASON: u32 = 532;
    pub const TOTAL_AFFECTED_ORDERS: u32 = 533;
    pub const NO_AFFECTED_ORDERS: u32 = 534;
    pub const AFFECTED_ORDER_ID: u32 = 535;
    pub const AFFECTED_SECONDARY_ORDER_ID: u32 = 536;
    pub const USERNAME: u32 = 553;
    pub const PASSWORD: u32 = 554;
    pub const SIGNATURE: u32 = 89;
    pub const SECURE_DATA_LEN: u32 = 90;
    pub const SECURE_DATA: u32 = 91;
    pub const SIGNATURE_LENGTH: u32 = 93;
    pub const RAW_DATA_LENGTH: u32 = 95;
    pub const RAW_DATA: u32 = 96;
    pub const XML_DATA_LEN: u32 = 212;
    pub const XML_DATA: u32 = 213;
    pub const ENCODED_ISSUER_LEN: u32 = 348;
    pub const ENCODED_ISSUER: u32 = 349;
    pub const ENCODED_SECURITY_DESC_LEN: u32 = 350;
    pub const ENCODED_SECURITY_DESC: u32 = 351;
    pub const ENCODED_LIST_EXEC_INST_LEN: u32 = 352;
    pub const ENCODED_LIST_EXEC_INST: u32 = 353;
    pub const ENCODED_TEXT_LEN: u32 = 354;
    pub const ENCODED_TEXT: u32 = 355;
    pub const ENCODED_SUBJECT_LEN: u32 = 356;
    pub const ENCODED_SUBJECT: u32 = 357;
    pub const ENCODED_HEADLINE_LEN: u32 = 358;
    pub const ENCODED_HEADLINE: u32 = 359;
    pub const ENCODED_LIST_STATUS_TEXT_LEN: u32 = 445;
    pub const ENCODED_LIST_STATUS_TEXT: u32 = 446;

    /// Each data field's length field and the data field, in that order:
    /// the data field's value is as many bytes as its length field says,
    /// and may contain SOH.
    pub const DATA_FIELDS: [(u32, u32); 11] = [
        (RAW_DATA_LENGTH, RAW_DATA),
        (SECURE_DATA_LEN, SECURE_DATA),
        (XML_DATA_LEN, XML_DATA),
        (ENCODED_TEXT_LEN, ENCODED_TEXT),
        (ENCODED_ISSUER_LEN, ENCODED_ISSUER),
        (ENCODED_SECURITY_DESC_LEN, ENCODED_SECURITY_DESC),
        (ENCODED_LIST_EXEC_INST_LEN, ENCODED_LIST_EXEC_INST),
        (ENCODED_LIST_STATUS_TEXT_LEN, ENCODED_LIST_STATUS_TEXT),
        (ENCODED_SUBJECT_LEN, ENCODED_SUBJECT),
        (ENCODED_HEADLINE_LEN, ENCODED_HEADLINE),
        (SIGNATURE_LENGTH, SIGNATURE),
    ];

    /// The data field whose length field is `t`.
    pub fn data_of_length(t: u32) -> Option<u32> {
        DATA_FIELDS.iter().find(|p| p.0 == t).map(|p| p.1)
    }

    /// The length field of the data field `t`.
    pub fn length_of_data(t: u32) -> Option<u32> {
        DATA_FIELDS.iter().find(|p| p.1 == t).map(|p| p.0)
    }
}

/// MsgType(35) values.
pub mod msg_type {
    pub const HEARTBEAT: &[u8] = b"0";
    pub const TEST_REQUEST: &[u8] = b"1";
    pub const RESEND_REQUEST: &[u8] = b"2";
    pub const REJECT: &[u8] = b"3";
    pub const SEQUENCE_RESET: &[u8] = b"4";
    pub const LOGOUT: &[u8] = b"5";
    pub const LOGON: &[u8] = b"A";
    pub const NEW_ORDER_SINGLE: &[u8] = b"D";
    pub const ORDER_CANCEL_REQUEST: &[u8] = b"F";
    pub const ORDER_CANCEL_REPLACE_REQUEST: &[u8] = b"G";
    pub const EXECUTION_REPORT: &[u8] = b"8";
    pub const ORDER_CANCEL_REJECT: &[u8] = b"9";
    pub const BUSINESS_MESSAGE_REJECT: &[u8] = b"j";
    pub const ORDER_MASS_CANCEL_REQUEST: &[u8] = b"q";
    pub const ORDER_MASS_CANCEL_REPORT: &[u8] = b"r";

    /// Session-level ("admin") message types; everything else is application.
    pub fn is_admin(msg_type: &[u8]) -> bool {
        matches!(msg_type, b"0" | b"1" | b"2" | b"3" | b"4" | b"5" | b"A")
    }
}

/// SessionRejectReason(373) values used by the session layer.
pub mod reject_reason {
    pub const INVALID_TAG_NUMBER: u32 = 0;
    pub const REQUIRED_TAG_MISSING: u32 = 1;
    pub const TAG_NOT_DEFINED_FOR_MSG_TYPE: u32 = 2;
    pub const UNDEFINED_TAG: u32 = 3;
    pub const TAG_WITHOUT_VALUE: u32 = 4;
    pub const VALUE_INCORRECT: u32 = 5;
    pub const INCORRECT_DATA_FORMAT: u32 = 6;
    pub const COMP_ID_PROBLEM: u32 = 9;
    pub const SENDING_TIME_ACCURACY: u32 = 10;
    pub const INVALID_MSG_TYPE: u32 = 11;
    pub const TAG_APPEARS_MORE_THAN_ONCE: u32 = 13;
    pub const TAG_OUT_OF_ORDER: u32 = 14;
    pub const INCORRECT_NUM_IN_GROUP: u32 = 16;
}

/// Renders a message for logs with SOH shown as `|` and the value of
/// Password(554) replaced by `***`. Writes into any `fmt::Write`.
pub fn write_masked(out: &mut dyn core::fmt::Write, message: &[u8]) -> core::fmt::Result {
    let mut masking = false;
    let mut at_field_start = true;
    let mut i = 0;
    while i < message.len() {
        let b = message[i];
        if at_field_start && message[i..].starts_with(b"554=") {
            out.write_str("554=***")?;
            masking = true;
            i += 4;
            at_field_start = false;
            continue;
        }
        if b == SOH {
            out.write_char('|')?;
            masking = false;
            at_field_start = true;
        } else {
            at_field_start = false;
            if !masking {
                let c = if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '?'
                };
                out.write_char(c)?;
            }
        }
        i += 1;
    }
    Ok(())
}

/// [`write_masked`] as a `Display` value: `format!("{}", Masked(bytes))`.
pub struct Masked<'a>(pub &'a [u8]);

impl core::fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write_masked(f, self.0)
    }
}

impl core::fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write_masked(f, self.0)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn versions_by_name() {
        for (name, v) in [
            ("4.2", FixVersion::Fix42),
            ("FIX.4.2", FixVersion::Fix42),
            ("4.4", FixVersion::Fix44),
            ("FIX.4.4", FixVersion::Fix44),
        ] {
            assert_eq!(FixVersion::from_name(name), Some(v), "{name}");
        }
        for bad in ["", "4", "4.3", "FIX.4.3", "fix.4.4", "FIXT.1.1"] {
            assert_eq!(FixVersion::from_name(bad), None, "{bad}");
        }
        for v in [FixVersion::Fix42, FixVersion::Fix44] {
            assert_eq!(FixVersion::from_name(v.name()), Some(v));
        }
    }

    #[test]
    fn masked_hides_password_only() {
        let msg = b"8=FIX.4.4\x01553=alice\x01554=hunter2\x011554=x\x0110=000\x01";
        let text = format!("{}", Masked(msg));
        assert_eq!(text, "8=FIX.4.4|553=alice|554=***|1554=x|10=000|");
        assert!(!text.contains("hunter2"));
        let first = format!("{}", Masked(b"554=secret\x01"));
        assert_eq!(first, "554=***|");
    }

    #[test]
    fn refused_messages_map_to_session_reject_reasons() {
        assert_eq!(
            FixError::RepeatedTag(34).session_reject(),
            Some((13, Some(34)))
        );
        assert_eq!(
            FixError::TagOutOfOrder(9).session_reject(),
            Some((14, Some(9)))
        );
        assert_eq!(
            FixError::MissingDataLength(95).session_reject(),
            Some((1, Some(95)))
        );
        assert_eq!(
            FixError::BadDataLength(95).session_reject(),
            Some((5, Some(95)))
        );
        for e in [
            FixError::RepeatedTag(1),
            FixError::TagOutOfOrder(8),
            FixError::MissingDataLength(95),
            FixError::BadDataLength(95),
        ] {
            assert!(!e.is_garbled());
        }
        for e in [
            FixError::BadChecksum,
            FixError::MalformedField,
            FixError::BadBodyLength,
            FixError::MissingMsgType,
        ] {
            assert!(e.is_garbled());
            assert_eq!(e.session_reject(), None);
        }
    }

    #[test]
    fn versions_round_trip() {
        for v in [FixVersion::Fix42, FixVersion::Fix44] {
            assert_eq!(FixVersion::from_begin_string(v.begin_string()), Some(v));
        }
        assert_eq!(FixVersion::from_begin_string(b"FIX.4.3"), None);
    }
}
