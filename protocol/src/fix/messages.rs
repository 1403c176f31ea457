//! Typed representations (`Repr`s) of the session and order-entry messages.
//!
//! Each type encodes its body fields with [`FixBody::write_body`] (the header
//! comes from the session's [`HeaderTemplate`]) and parses from a validated
//! [`FixMessage`] with `parse`, borrowing string values from the input.
//! Version differences live here: FIX 4.2 ExecutionReports carry
//! ExecTransType(20) and report fills as ExecType 1/2; FIX 4.4 uses ExecType F.
//! A trade bust or correction is ExecTransType 1 (Cancel) / 2 (Correct) in
//! FIX 4.2 and ExecType H (Trade Cancel) / G (Trade Correct) in FIX 4.4;
//! both read as [`ExecType::TradeCancel`] / [`ExecType::TradeCorrect`], with
//! ExecRefID(19) naming the execution they undo or change.

use super::decode::{parse_price, parse_uint, FixMessage};
use super::encode::{HeaderTemplate, MsgBuilder};
use super::{msg_type, tag, FixError, FixVersion, UtcTime};
use types::{Price, Side, TimeInForce};

/// A message body that can be written after the standard header.
pub trait FixBody {
    const MSG_TYPE: &'static [u8];
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, version: FixVersion);
}

/// Encodes a complete message (header, body, trailer) into `buf`.
#[inline]
pub fn encode<'b, B: FixBody>(
    header: &mut HeaderTemplate,
    buf: &'b mut [u8],
    seq: u64,
    sending_time: UtcTime,
    body: &B,
) -> Result<&'b [u8], FixError> {
    let version = header.version();
    let mut m = header.begin(buf, B::MSG_TYPE, seq, sending_time)?;
    body.write_body(&mut m, version);
    m.finish()
}

fn expect_type(msg: &FixMessage<'_>, t: &[u8]) -> Result<(), FixError> {
    if msg.msg_type() == t {
        Ok(())
    } else {
        Err(FixError::InvalidValue(tag::MSG_TYPE))
    }
}

/// A required price the venue computed (rounded to price4 past four
/// decimals, see `FixMessage::get_price_rounded`).
fn req_venue_price(msg: &FixMessage<'_>, t: u32) -> Result<Price, FixError> {
    msg.get_price_rounded(t)?.ok_or(FixError::MissingField(t))
}

fn req_qty(msg: &FixMessage<'_>, t: u32) -> Result<u32, FixError> {
    u32::try_from(msg.req_uint(t)?).map_err(|_| FixError::InvalidValue(t))
}

/// A timestamp field the message must carry.
fn req_timestamp(msg: &FixMessage<'_>, t: u32) -> Result<UtcTime, FixError> {
    msg.get_timestamp(t)?.ok_or(FixError::MissingField(t))
}

/// OrdType(40) and Price(44), which a limit order must carry.
fn ord_type_and_price(msg: &FixMessage<'_>) -> Result<(OrdType, Option<Price>), FixError> {
    let ord_type = OrdType::parse(msg)?;
    let price = msg.get_price(tag::PRICE)?;
    if ord_type == OrdType::Limit && price.is_none() {
        return Err(FixError::MissingField(tag::PRICE));
    }
    Ok((ord_type, price))
}

fn opt_qty(msg: &FixMessage<'_>, t: u32) -> Result<Option<u32>, FixError> {
    match msg.get_uint(t)? {
        None => Ok(None),
        Some(v) => u32::try_from(v)
            .map(Some)
            .map_err(|_| FixError::InvalidValue(t)),
    }
}

fn single_char(msg: &FixMessage<'_>, t: u32) -> Result<u8, FixError> {
    match msg.req(t)? {
        [c] => Ok(*c),
        _ => Err(FixError::InvalidValue(t)),
    }
}

#[inline(always)]
fn opt_str(m: &mut MsgBuilder<'_, '_>, t: u32, v: Option<&[u8]>) {
    if let Some(v) = v {
        m.str(t, v);
    }
}

/// Side(54): 1 = Buy, 2 = Sell.
pub fn side_to_fix(side: Side) -> u8 {
    match side {
        Side::Buy => b'1',
        Side::Sell => b'2',
    }
}

pub fn side_from_fix(msg: &FixMessage<'_>) -> Result<Side, FixError> {
    match single_char(msg, tag::SIDE)? {
        b'1' => Ok(Side::Buy),
        b'2' => Ok(Side::Sell),
        _ => Err(FixError::InvalidValue(tag::SIDE)),
    }
}

/// OrdType(40).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrdType {
    Market,
    Limit,
}

impl OrdType {
    fn to_fix(self) -> u8 {
        match self {
            OrdType::Market => b'1',
            OrdType::Limit => b'2',
        }
    }

    fn parse(msg: &FixMessage<'_>) -> Result<OrdType, FixError> {
        match single_char(msg, tag::ORD_TYPE)? {
            b'1' => Ok(OrdType::Market),
            b'2' => Ok(OrdType::Limit),
            _ => Err(FixError::InvalidValue(tag::ORD_TYPE)),
        }
    }
}

/// TimeInForce(59) plus ExecInst(18)=6 (participate, don't initiate) for post-only.
#[inline(always)]
fn write_tif(m: &mut MsgBuilder<'_, '_>, tif: TimeInForce) {
    match tif {
        TimeInForce::Day => m.char(tag::TIME_IN_FORCE, b'0'),
        TimeInForce::ImmediateOrCancel => m.char(tag::TIME_IN_FORCE, b'3'),
        TimeInForce::PostOnly => {
            m.char(tag::TIME_IN_FORCE, b'0');
            m.char(tag::EXEC_INST, b'6');
        }
    }
}

fn parse_tif(msg: &FixMessage<'_>) -> Result<TimeInForce, FixError> {
    let post_only = msg
        .get(tag::EXEC_INST)
        .is_some_and(|v| v.split(|&b| b == b' ').any(|i| i == b"6"));
    match msg.get(tag::TIME_IN_FORCE) {
        None | Some(b"0") if post_only => Ok(TimeInForce::PostOnly),
        None | Some(b"0") => Ok(TimeInForce::Day),
        Some(b"3") => Ok(TimeInForce::ImmediateOrCancel),
        Some(_) => Err(FixError::InvalidValue(tag::TIME_IN_FORCE)),
    }
}

/// ExecType(150), version independent. `Trade` is encoded as 1/2 (partial
/// fill / fill, chosen by LeavesQty) in FIX 4.2 and as F in FIX 4.4.
/// `TradeCancel` / `TradeCorrect` are ExecType H / G in FIX 4.4; FIX 4.2 has
/// no such ExecType and says it with ExecTransType(20) 1 / 2 instead (its
/// ExecType then written as a trade's, 1/2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecType {
    New,
    Trade,
    /// A bust of the execution ExecRefID(19) names.
    TradeCancel,
    /// A correction of the execution ExecRefID(19) names: LastQty/LastPx
    /// are its new values.
    TradeCorrect,
    DoneForDay,
    Canceled,
    Replaced,
    PendingCancel,
    Rejected,
    PendingNew,
    Expired,
    PendingReplace,
    OrderStatus,
}

impl ExecType {
    fn to_fix(self, version: FixVersion, leaves: u32) -> u8 {
        match self {
            ExecType::New => b'0',
            ExecType::Trade => match version {
                FixVersion::Fix42 if leaves > 0 => b'1',
                FixVersion::Fix42 => b'2',
                FixVersion::Fix44 => b'F',
            },
            ExecType::TradeCancel | ExecType::TradeCorrect if version == FixVersion::Fix42 => {
                if leaves > 0 {
                    b'1'
                } else {
                    b'2'
                }
            }
            ExecType::TradeCancel => b'H',
            ExecType::TradeCorrect => b'G',
            ExecType::DoneForDay => b'3',
            ExecType::Canceled => b'4',
            ExecType::Replaced => b'5',
            ExecType::PendingCancel => b'6',
            ExecType::Rejected => b'8',
            ExecType::PendingNew => b'A',
            ExecType::Expired => b'C',
            ExecType::PendingReplace => b'E',
            ExecType::OrderStatus => b'I',
        }
    }

    fn from_fix(version: FixVersion, c: u8) -> Option<ExecType> {
        Some(match (version, c) {
            (_, b'0') => ExecType::New,
            (FixVersion::Fix42, b'1' | b'2') => ExecType::Trade,
            (FixVersion::Fix44, b'F') => ExecType::Trade,
            (FixVersion::Fix44, b'G') => ExecType::TradeCorrect,
            (FixVersion::Fix44, b'H') => ExecType::TradeCancel,
            (_, b'3') => ExecType::DoneForDay,
            (_, b'4') => ExecType::Canceled,
            (_, b'5') => ExecType::Replaced,
            (_, b'6') => ExecType::PendingCancel,
            (_, b'8') => ExecType::Rejected,
            (_, b'A') => ExecType::PendingNew,
            (_, b'C') => ExecType::Expired,
            (_, b'E') => ExecType::PendingReplace,
            (FixVersion::Fix44, b'I') => ExecType::OrderStatus,
            _ => return None,
        })
    }
}

/// OrdStatus(39).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrdStatus {
    New,
    PartiallyFilled,
    Filled,
    DoneForDay,
    Canceled,
    Replaced,
    PendingCancel,
    Rejected,
    PendingNew,
    Expired,
    PendingReplace,
}

impl OrdStatus {
    fn to_fix(self) -> u8 {
        match self {
            OrdStatus::New => b'0',
            OrdStatus::PartiallyFilled => b'1',
            OrdStatus::Filled => b'2',
            OrdStatus::DoneForDay => b'3',
            OrdStatus::Canceled => b'4',
            OrdStatus::Replaced => b'5',
            OrdStatus::PendingCancel => b'6',
            OrdStatus::Rejected => b'8',
            OrdStatus::PendingNew => b'A',
            OrdStatus::Expired => b'C',
            OrdStatus::PendingReplace => b'E',
        }
    }

    fn from_fix(c: u8) -> Option<OrdStatus> {
        Some(match c {
            b'0' => OrdStatus::New,
            b'1' => OrdStatus::PartiallyFilled,
            b'2' => OrdStatus::Filled,
            b'3' => OrdStatus::DoneForDay,
            b'4' => OrdStatus::Canceled,
            b'5' => OrdStatus::Replaced,
            b'6' => OrdStatus::PendingCancel,
            b'8' => OrdStatus::Rejected,
            b'A' => OrdStatus::PendingNew,
            b'C' => OrdStatus::Expired,
            b'E' => OrdStatus::PendingReplace,
            _ => return None,
        })
    }

    fn parse(msg: &FixMessage<'_>) -> Result<OrdStatus, FixError> {
        OrdStatus::from_fix(single_char(msg, tag::ORD_STATUS)?)
            .ok_or(FixError::InvalidValue(tag::ORD_STATUS))
    }
}

// ---------------------------------------------------------------- session

/// Logon(A).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Logon<'a> {
    pub heart_bt_int: u32,
    pub reset_seq_num: bool,
    pub username: Option<&'a [u8]>,
    pub password: Option<&'a [u8]>,
}

impl core::fmt::Debug for Logon<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Logon")
            .field("heart_bt_int", &self.heart_bt_int)
            .field("reset_seq_num", &self.reset_seq_num)
            .field("username", &self.username.map(super::Masked))
            .field("password", &self.password.map(|_| "***"))
            .finish()
    }
}

impl FixBody for Logon<'_> {
    const MSG_TYPE: &'static [u8] = msg_type::LOGON;
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, _: FixVersion) {
        m.char(tag::ENCRYPT_METHOD, b'0');
        m.uint(tag::HEART_BT_INT, self.heart_bt_int as u64);
        if self.reset_seq_num {
            m.bool(tag::RESET_SEQ_NUM_FLAG, true);
        }
        opt_str(m, tag::USERNAME, self.username);
        opt_str(m, tag::PASSWORD, self.password);
    }
}

impl<'a> Logon<'a> {
    pub fn parse(msg: &FixMessage<'a>) -> Result<Self, FixError> {
        expect_type(msg, msg_type::LOGON)?;
        if msg.req(tag::ENCRYPT_METHOD)? != b"0" {
            return Err(FixError::InvalidValue(tag::ENCRYPT_METHOD));
        }
        let hb = msg.req_uint(tag::HEART_BT_INT)?;
        Ok(Logon {
            heart_bt_int: u32::try_from(hb)
                .map_err(|_| FixError::InvalidValue(tag::HEART_BT_INT))?,
            reset_seq_num: msg.get_bool(tag::RESET_SEQ_NUM_FLAG)?.unwrap_or(false),
            username: msg.get(tag::USERNAME),
            password: msg.get(tag::PASSWORD),
        })
    }
}

/// Heartbeat(0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat<'a> {
    pub test_req_id: Option<&'a [u8]>,
}

impl FixBody for Heartbeat<'_> {
    const MSG_TYPE: &'static [u8] = msg_type::HEARTBEAT;
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, _: FixVersion) {
        opt_str(m, tag::TEST_REQ_ID, self.test_req_id);
    }
}

impl<'a> Heartbeat<'a> {
    pub fn parse(msg: &FixMessage<'a>) -> Result<Self, FixError> {
        expect_type(msg, msg_type::HEARTBEAT)?;
        Ok(Heartbeat {
            test_req_id: msg.get(tag::TEST_REQ_ID),
        })
    }
}

/// TestRequest(1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestRequest<'a> {
    pub test_req_id: &'a [u8],
}

impl FixBody for TestRequest<'_> {
    const MSG_TYPE: &'static [u8] = msg_type::TEST_REQUEST;
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, _: FixVersion) {
        m.str(tag::TEST_REQ_ID, self.test_req_id);
    }
}

impl<'a> TestRequest<'a> {
    pub fn parse(msg: &FixMessage<'a>) -> Result<Self, FixError> {
        expect_type(msg, msg_type::TEST_REQUEST)?;
        Ok(TestRequest {
            test_req_id: msg.req(tag::TEST_REQ_ID)?,
        })
    }
}

/// ResendRequest(2). `end_seq_no == 0` means "to infinity".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResendRequest {
    pub begin_seq_no: u64,
    pub end_seq_no: u64,
}

impl FixBody for ResendRequest {
    const MSG_TYPE: &'static [u8] = msg_type::RESEND_REQUEST;
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, _: FixVersion) {
        m.uint(tag::BEGIN_SEQ_NO, self.begin_seq_no);
        m.uint(tag::END_SEQ_NO, self.end_seq_no);
    }
}

impl ResendRequest {
    pub fn parse(msg: &FixMessage<'_>) -> Result<Self, FixError> {
        expect_type(msg, msg_type::RESEND_REQUEST)?;
        Ok(ResendRequest {
            begin_seq_no: msg.req_uint(tag::BEGIN_SEQ_NO)?,
            end_seq_no: msg.req_uint(tag::END_SEQ_NO)?,
        })
    }

    /// Last sequence number requested; `0` and FIX 4.2's 999999 mean infinity.
    pub fn end(&self) -> u64 {
        if self.end_seq_no == 0 || self.end_seq_no == 999_999 {
            u64::MAX
        } else {
            self.end_seq_no
        }
    }
}

/// Reject(3), session level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject<'a> {
    pub ref_seq_num: u64,
    pub ref_tag_id: Option<u32>,
    pub ref_msg_type: Option<&'a [u8]>,
    pub reason: Option<u32>,
    pub text: Option<&'a [u8]>,
}

impl FixBody for Reject<'_> {
    const MSG_TYPE: &'static [u8] = msg_type::REJECT;
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, _: FixVersion) {
        m.uint(tag::REF_SEQ_NUM, self.ref_seq_num);
        if let Some(t) = self.ref_tag_id {
            m.uint(tag::REF_TAG_ID, t as u64);
        }
        opt_str(m, tag::REF_MSG_TYPE, self.ref_msg_type);
        if let Some(r) = self.reason {
            m.uint(tag::SESSION_REJECT_REASON, r as u64);
        }
        opt_str(m, tag::TEXT, self.text);
    }
}

impl<'a> Reject<'a> {
    pub fn parse(msg: &FixMessage<'a>) -> Result<Self, FixError> {
        expect_type(msg, msg_type::REJECT)?;
        let small = |t| -> Result<Option<u32>, FixError> {
            match msg.get_uint(t)? {
                None => Ok(None),
                Some(v) => u32::try_from(v)
                    .map(Some)
                    .map_err(|_| FixError::InvalidValue(t)),
            }
        };
        Ok(Reject {
            ref_seq_num: msg.req_uint(tag::REF_SEQ_NUM)?,
            ref_tag_id: small(tag::REF_TAG_ID)?,
            ref_msg_type: msg.get(tag::REF_MSG_TYPE),
            reason: small(tag::SESSION_REJECT_REASON)?,
            text: msg.get(tag::TEXT),
        })
    }
}

/// SequenceReset(4): GapFill mode when `gap_fill`, Reset mode otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceReset {
    pub gap_fill: bool,
    pub new_seq_no: u64,
}

impl FixBody for SequenceReset {
    const MSG_TYPE: &'static [u8] = msg_type::SEQUENCE_RESET;
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, _: FixVersion) {
        if self.gap_fill {
            m.bool(tag::GAP_FILL_FLAG, true);
        }
        m.uint(tag::NEW_SEQ_NO, self.new_seq_no);
    }
}

impl SequenceReset {
    pub fn parse(msg: &FixMessage<'_>) -> Result<Self, FixError> {
        expect_type(msg, msg_type::SEQUENCE_RESET)?;
        Ok(SequenceReset {
            gap_fill: msg.get_bool(tag::GAP_FILL_FLAG)?.unwrap_or(false),
            new_seq_no: msg.req_uint(tag::NEW_SEQ_NO)?,
        })
    }
}

/// Logout(5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logout<'a> {
    pub text: Option<&'a [u8]>,
}

impl FixBody for Logout<'_> {
    const MSG_TYPE: &'static [u8] = msg_type::LOGOUT;
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, _: FixVersion) {
        opt_str(m, tag::TEXT, self.text);
    }
}

impl<'a> Logout<'a> {
    pub fn parse(msg: &FixMessage<'a>) -> Result<Self, FixError> {
        expect_type(msg, msg_type::LOGOUT)?;
        Ok(Logout {
            text: msg.get(tag::TEXT),
        })
    }
}

// ---------------------------------------------------------------- orders

/// NewOrderSingle(D).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewOrderSingle<'a> {
    pub cl_ord_id: &'a [u8],
    pub account: Option<&'a [u8]>,
    pub symbol: &'a [u8],
    pub side: Side,
    pub order_qty: u32,
    pub ord_type: OrdType,
    /// Required for limit orders.
    pub price: Option<Price>,
    pub time_in_force: TimeInForce,
    pub transact_time: UtcTime,
}

impl FixBody for NewOrderSingle<'_> {
    const MSG_TYPE: &'static [u8] = msg_type::NEW_ORDER_SINGLE;
    #[inline]
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, _: FixVersion) {
        m.str(tag::CL_ORD_ID, self.cl_ord_id);
        opt_str(m, tag::ACCOUNT, self.account);
        // HandlInst 1: automated execution, no broker intervention (required in 4.2).
        m.char(tag::HANDL_INST, b'1');
        m.str(tag::SYMBOL, self.symbol);
        m.char(tag::SIDE, side_to_fix(self.side));
        m.time(tag::TRANSACT_TIME, self.transact_time);
        m.uint(tag::ORDER_QTY, self.order_qty as u64);
        m.char(tag::ORD_TYPE, self.ord_type.to_fix());
        if let Some(p) = self.price {
            m.price(tag::PRICE, p);
        }
        write_tif(m, self.time_in_force);
    }
}

impl<'a> NewOrderSingle<'a> {
    pub fn parse(msg: &FixMessage<'a>) -> Result<Self, FixError> {
        expect_type(msg, msg_type::NEW_ORDER_SINGLE)?;
        let (ord_type, price) = ord_type_and_price(msg)?;
        Ok(NewOrderSingle {
            cl_ord_id: msg.req(tag::CL_ORD_ID)?,
            account: msg.get(tag::ACCOUNT),
            symbol: msg.req(tag::SYMBOL)?,
            side: side_from_fix(msg)?,
            order_qty: req_qty(msg, tag::ORDER_QTY)?,
            ord_type,
            price,
            time_in_force: parse_tif(msg)?,
            transact_time: req_timestamp(msg, tag::TRANSACT_TIME)?,
        })
    }
}

/// OrderCancelRequest(F).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderCancelRequest<'a> {
    pub orig_cl_ord_id: &'a [u8],
    pub cl_ord_id: &'a [u8],
    pub order_id: Option<&'a [u8]>,
    pub symbol: &'a [u8],
    pub side: Side,
    pub order_qty: u32,
    pub transact_time: UtcTime,
}

impl FixBody for OrderCancelRequest<'_> {
    const MSG_TYPE: &'static [u8] = msg_type::ORDER_CANCEL_REQUEST;
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, _: FixVersion) {
        m.str(tag::ORIG_CL_ORD_ID, self.orig_cl_ord_id);
        opt_str(m, tag::ORDER_ID, self.order_id);
        m.str(tag::CL_ORD_ID, self.cl_ord_id);
        m.str(tag::SYMBOL, self.symbol);
        m.char(tag::SIDE, side_to_fix(self.side));
        m.time(tag::TRANSACT_TIME, self.transact_time);
        m.uint(tag::ORDER_QTY, self.order_qty as u64);
    }
}

impl<'a> OrderCancelRequest<'a> {
    pub fn parse(msg: &FixMessage<'a>) -> Result<Self, FixError> {
        expect_type(msg, msg_type::ORDER_CANCEL_REQUEST)?;
        Ok(OrderCancelRequest {
            orig_cl_ord_id: msg.req(tag::ORIG_CL_ORD_ID)?,
            cl_ord_id: msg.req(tag::CL_ORD_ID)?,
            order_id: msg.get(tag::ORDER_ID),
            symbol: msg.req(tag::SYMBOL)?,
            side: side_from_fix(msg)?,
            order_qty: req_qty(msg, tag::ORDER_QTY)?,
            transact_time: req_timestamp(msg, tag::TRANSACT_TIME)?,
        })
    }
}

/// OrderCancelReplaceRequest(G).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderCancelReplaceRequest<'a> {
    pub orig_cl_ord_id: &'a [u8],
    pub cl_ord_id: &'a [u8],
    pub order_id: Option<&'a [u8]>,
    pub symbol: &'a [u8],
    pub side: Side,
    pub order_qty: u32,
    pub ord_type: OrdType,
    pub price: Option<Price>,
    pub time_in_force: TimeInForce,
    pub transact_time: UtcTime,
}

impl FixBody for OrderCancelReplaceRequest<'_> {
    const MSG_TYPE: &'static [u8] = msg_type::ORDER_CANCEL_REPLACE_REQUEST;
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, _: FixVersion) {
        m.str(tag::ORIG_CL_ORD_ID, self.orig_cl_ord_id);
        opt_str(m, tag::ORDER_ID, self.order_id);
        m.str(tag::CL_ORD_ID, self.cl_ord_id);
        m.char(tag::HANDL_INST, b'1');
        m.str(tag::SYMBOL, self.symbol);
        m.char(tag::SIDE, side_to_fix(self.side));
        m.time(tag::TRANSACT_TIME, self.transact_time);
        m.uint(tag::ORDER_QTY, self.order_qty as u64);
        m.char(tag::ORD_TYPE, self.ord_type.to_fix());
        if let Some(p) = self.price {
            m.price(tag::PRICE, p);
        }
        write_tif(m, self.time_in_force);
    }
}

impl<'a> OrderCancelReplaceRequest<'a> {
    pub fn parse(msg: &FixMessage<'a>) -> Result<Self, FixError> {
        expect_type(msg, msg_type::ORDER_CANCEL_REPLACE_REQUEST)?;
        let (ord_type, price) = ord_type_and_price(msg)?;
        Ok(OrderCancelReplaceRequest {
            orig_cl_ord_id: msg.req(tag::ORIG_CL_ORD_ID)?,
            cl_ord_id: msg.req(tag::CL_ORD_ID)?,
            order_id: msg.get(tag::ORDER_ID),
            symbol: msg.req(tag::SYMBOL)?,
            side: side_from_fix(msg)?,
            order_qty: req_qty(msg, tag::ORDER_QTY)?,
            ord_type,
            price,
            time_in_force: parse_tif(msg)?,
            transact_time: req_timestamp(msg, tag::TRANSACT_TIME)?,
        })
    }
}

/// ExecutionReport(8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutionReport<'a> {
    pub order_id: &'a [u8],
    pub cl_ord_id: Option<&'a [u8]>,
    pub orig_cl_ord_id: Option<&'a [u8]>,
    pub exec_id: &'a [u8],
    /// ExecRefID(19): the execution a `TradeCancel` / `TradeCorrect` refers to.
    pub exec_ref_id: Option<&'a [u8]>,
    pub exec_type: ExecType,
    pub ord_status: OrdStatus,
    pub symbol: &'a [u8],
    pub side: Side,
    pub order_qty: Option<u32>,
    pub price: Option<Price>,
    pub last_qty: Option<u32>,
    pub last_px: Option<Price>,
    pub leaves_qty: u32,
    pub cum_qty: u32,
    pub avg_px: Price,
    pub transact_time: Option<UtcTime>,
    pub text: Option<&'a [u8]>,
}

impl FixBody for ExecutionReport<'_> {
    const MSG_TYPE: &'static [u8] = msg_type::EXECUTION_REPORT;
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, version: FixVersion) {
        m.str(tag::ORDER_ID, self.order_id);
        opt_str(m, tag::CL_ORD_ID, self.cl_ord_id);
        opt_str(m, tag::ORIG_CL_ORD_ID, self.orig_cl_ord_id);
        m.str(tag::EXEC_ID, self.exec_id);
        opt_str(m, tag::EXEC_REF_ID, self.exec_ref_id);
        if version == FixVersion::Fix42 {
            m.char(
                tag::EXEC_TRANS_TYPE,
                match self.exec_type {
                    ExecType::TradeCancel => b'1',
                    ExecType::TradeCorrect => b'2',
                    ExecType::OrderStatus => b'3',
                    _ => b'0',
                },
            );
        }
        // FIX 4.2 has no ExecType for a status report: it is ExecTransType
        // Status with the order's status as its ExecType.
        let exec_type = match (version, self.exec_type) {
            (FixVersion::Fix42, ExecType::OrderStatus) => self.ord_status.to_fix(),
            (_, t) => t.to_fix(version, self.leaves_qty),
        };
        m.char(tag::EXEC_TYPE, exec_type);
        m.char(tag::ORD_STATUS, self.ord_status.to_fix());
        m.str(tag::SYMBOL, self.symbol);
        m.char(tag::SIDE, side_to_fix(self.side));
        if let Some(q) = self.order_qty {
            m.uint(tag::ORDER_QTY, q as u64);
        }
        if let Some(p) = self.price {
            m.price(tag::PRICE, p);
        }
        if let Some(q) = self.last_qty {
            m.uint(tag::LAST_QTY, q as u64);
        }
        if let Some(p) = self.last_px {
            m.price(tag::LAST_PX, p);
        }
        m.uint(tag::LEAVES_QTY, self.leaves_qty as u64);
        m.uint(tag::CUM_QTY, self.cum_qty as u64);
        m.price(tag::AVG_PX, self.avg_px);
        if let Some(t) = self.transact_time {
            m.time(tag::TRANSACT_TIME, t);
        }
        opt_str(m, tag::TEXT, self.text);
    }
}

impl<'a> ExecutionReport<'a> {
    pub fn parse(msg: &FixMessage<'a>) -> Result<Self, FixError> {
        expect_type(msg, msg_type::EXECUTION_REPORT)?;
        let version = msg.version();
        let exec_type = single_char(msg, tag::EXEC_TYPE)?;
        let exec_type = match version {
            // ExecTransType: New(0) reports are order-state changes, Cancel(1)
            // and Correct(2) bust or correct the execution ExecRefID names
            // (whatever their ExecType says); Status(3) reports the order's
            // state (its ExecType is an OrdStatus value, still checked).
            FixVersion::Fix42 => match msg.req(tag::EXEC_TRANS_TYPE)? {
                b"0" => ExecType::from_fix(version, exec_type),
                b"1" => Some(ExecType::TradeCancel),
                b"2" => Some(ExecType::TradeCorrect),
                b"3" => OrdStatus::from_fix(exec_type).map(|_| ExecType::OrderStatus),
                _ => return Err(FixError::InvalidValue(tag::EXEC_TRANS_TYPE)),
            },
            FixVersion::Fix44 => ExecType::from_fix(version, exec_type),
        }
        .ok_or(FixError::InvalidValue(tag::EXEC_TYPE))?;
        Ok(ExecutionReport {
            order_id: msg.req(tag::ORDER_ID)?,
            cl_ord_id: msg.get(tag::CL_ORD_ID),
            orig_cl_ord_id: msg.get(tag::ORIG_CL_ORD_ID),
            exec_id: msg.req(tag::EXEC_ID)?,
            exec_ref_id: msg.get(tag::EXEC_REF_ID),
            exec_type,
            ord_status: OrdStatus::parse(msg)?,
            symbol: msg.req(tag::SYMBOL)?,
            side: side_from_fix(msg)?,
            order_qty: opt_qty(msg, tag::ORDER_QTY)?,
            price: msg.get_price(tag::PRICE)?,
            last_qty: opt_qty(msg, tag::LAST_QTY)?,
            // Venue-computed prices may carry more than four decimals
            // (sub-penny executions, averages): rounded to price4.
            last_px: msg.get_price_rounded(tag::LAST_PX)?,
            leaves_qty: req_qty(msg, tag::LEAVES_QTY)?,
            cum_qty: req_qty(msg, tag::CUM_QTY)?,
            avg_px: req_venue_price(msg, tag::AVG_PX)?,
            transact_time: msg.get_timestamp(tag::TRANSACT_TIME)?,
            text: msg.get(tag::TEXT),
        })
    }
}

/// CxlRejResponseTo(434).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CxlRejResponseTo {
    Cancel,
    Replace,
}

/// OrderCancelReject(9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderCancelReject<'a> {
    pub order_id: &'a [u8],
    pub cl_ord_id: &'a [u8],
    pub orig_cl_ord_id: &'a [u8],
    pub ord_status: OrdStatus,
    pub response_to: CxlRejResponseTo,
    pub reason: Option<u32>,
    pub text: Option<&'a [u8]>,
}

impl FixBody for OrderCancelReject<'_> {
    const MSG_TYPE: &'static [u8] = msg_type::ORDER_CANCEL_REJECT;
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, _: FixVersion) {
        m.str(tag::ORDER_ID, self.order_id);
        m.str(tag::CL_ORD_ID, self.cl_ord_id);
        m.str(tag::ORIG_CL_ORD_ID, self.orig_cl_ord_id);
        m.char(tag::ORD_STATUS, self.ord_status.to_fix());
        m.char(
            tag::CXL_REJ_RESPONSE_TO,
            match self.response_to {
                CxlRejResponseTo::Cancel => b'1',
                CxlRejResponseTo::Replace => b'2',
            },
        );
        if let Some(r) = self.reason {
            m.uint(tag::CXL_REJ_REASON, r as u64);
        }
        opt_str(m, tag::TEXT, self.text);
    }
}

impl<'a> OrderCancelReject<'a> {
    pub fn parse(msg: &FixMessage<'a>) -> Result<Self, FixError> {
        expect_type(msg, msg_type::ORDER_CANCEL_REJECT)?;
        let response_to = match single_char(msg, tag::CXL_REJ_RESPONSE_TO)? {
            b'1' => CxlRejResponseTo::Cancel,
            b'2' => CxlRejResponseTo::Replace,
            _ => return Err(FixError::InvalidValue(tag::CXL_REJ_RESPONSE_TO)),
        };
        Ok(OrderCancelReject {
            order_id: msg.req(tag::ORDER_ID)?,
            cl_ord_id: msg.req(tag::CL_ORD_ID)?,
            orig_cl_ord_id: msg.req(tag::ORIG_CL_ORD_ID)?,
            ord_status: OrdStatus::parse(msg)?,
            response_to,
            reason: opt_qty(msg, tag::CXL_REJ_REASON)?,
            text: msg.get(tag::TEXT),
        })
    }
}

/// BusinessMessageReject(j).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessMessageReject<'a> {
    pub ref_seq_num: Option<u64>,
    pub ref_msg_type: &'a [u8],
    pub business_reject_ref_id: Option<&'a [u8]>,
    pub reason: u32,
    pub text: Option<&'a [u8]>,
}

impl FixBody for BusinessMessageReject<'_> {
    const MSG_TYPE: &'static [u8] = msg_type::BUSINESS_MESSAGE_REJECT;
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, _: FixVersion) {
        if let Some(s) = self.ref_seq_num {
            m.uint(tag::REF_SEQ_NUM, s);
        }
        m.str(tag::REF_MSG_TYPE, self.ref_msg_type);
        opt_str(m, tag::BUSINESS_REJECT_REF_ID, self.business_reject_ref_id);
        m.uint(tag::BUSINESS_REJECT_REASON, self.reason as u64);
        opt_str(m, tag::TEXT, self.text);
    }
}

impl<'a> BusinessMessageReject<'a> {
    pub fn parse(msg: &FixMessage<'a>) -> Result<Self, FixError> {
        expect_type(msg, msg_type::BUSINESS_MESSAGE_REJECT)?;
        Ok(BusinessMessageReject {
            ref_seq_num: msg.get_uint(tag::REF_SEQ_NUM)?,
            ref_msg_type: msg.req(tag::REF_MSG_TYPE)?,
            business_reject_ref_id: msg.get(tag::BUSINESS_REJECT_REF_ID),
            reason: req_qty(msg, tag::BUSINESS_REJECT_REASON)?,
            text: msg.get(tag::TEXT),
        })
    }
}

/// MassCancelRequestType(530) values we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MassCancelScope {
    /// 1: all orders for a security.
    Security,
    /// 7: all orders.
    All,
}

impl MassCancelScope {
    fn to_fix(self) -> u8 {
        match self {
            MassCancelScope::Security => b'1',
            MassCancelScope::All => b'7',
        }
    }

    fn parse(msg: &FixMessage<'_>) -> Result<Self, FixError> {
        match single_char(msg, tag::MASS_CANCEL_REQUEST_TYPE)? {
            b'1' => Ok(MassCancelScope::Security),
            b'7' => Ok(MassCancelScope::All),
            _ => Err(FixError::InvalidValue(tag::MASS_CANCEL_REQUEST_TYPE)),
        }
    }
}

/// OrderMassCancelRequest(q).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderMassCancelRequest<'a> {
    pub cl_ord_id: &'a [u8],
    pub scope: MassCancelScope,
    pub symbol: Option<&'a [u8]>,
    pub side: Option<Side>,
    pub transact_time: UtcTime,
}

impl FixBody for OrderMassCancelRequest<'_> {
    const MSG_TYPE: &'static [u8] = msg_type::ORDER_MASS_CANCEL_REQUEST;
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, _: FixVersion) {
        m.str(tag::CL_ORD_ID, self.cl_ord_id);
        m.char(tag::MASS_CANCEL_REQUEST_TYPE, self.scope.to_fix());
        opt_str(m, tag::SYMBOL, self.symbol);
        if let Some(s) = self.side {
            m.char(tag::SIDE, side_to_fix(s));
        }
        m.time(tag::TRANSACT_TIME, self.transact_time);
    }
}

impl<'a> OrderMassCancelRequest<'a> {
    pub fn parse(msg: &FixMessage<'a>) -> Result<Self, FixError> {
        expect_type(msg, msg_type::ORDER_MASS_CANCEL_REQUEST)?;
        let scope = MassCancelScope::parse(msg)?;
        let symbol = msg.get(tag::SYMBOL);
        if scope == MassCancelScope::Security && symbol.is_none() {
            return Err(FixError::MissingField(tag::SYMBOL));
        }
        Ok(OrderMassCancelRequest {
            cl_ord_id: msg.req(tag::CL_ORD_ID)?,
            scope,
            symbol,
            side: match msg.get(tag::SIDE) {
                None => None,
                Some(_) => Some(side_from_fix(msg)?),
            },
            transact_time: req_timestamp(msg, tag::TRANSACT_TIME)?,
        })
    }
}

/// Most affected orders an [`OrderMassCancelReport`] carries when built.
pub const MAX_AFFECTED_ORDERS: usize = 16;

/// One entry of the NoAffectedOrders(534) group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AffectedOrder<'a> {
    pub orig_cl_ord_id: &'a [u8],
    pub affected_order_id: Option<&'a [u8]>,
}

/// Tags of the NoAffectedOrders group, delimiter first.
pub const AFFECTED_ORDERS_GROUP: [u32; 3] = [
    tag::ORIG_CL_ORD_ID,
    tag::AFFECTED_ORDER_ID,
    tag::AFFECTED_SECONDARY_ORDER_ID,
];

/// OrderMassCancelReport(r). `affected` is a fixed-capacity list: a report
/// with more entries than [`MAX_AFFECTED_ORDERS`] still parses, and the
/// group can be walked in full with [`FixMessage::group`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderMassCancelReport<'a> {
    pub cl_ord_id: Option<&'a [u8]>,
    pub order_id: &'a [u8],
    pub scope: MassCancelScope,
    /// MassCancelResponse(531): 0 = rejected, else echoes the scope.
    pub response: u8,
    pub reject_reason: Option<u32>,
    pub total_affected_orders: Option<u32>,
    pub affected: [Option<AffectedOrder<'a>>; MAX_AFFECTED_ORDERS],
    /// Number of entries in the group on the wire (may exceed `affected`'s capacity).
    pub affected_count: usize,
}

impl FixBody for OrderMassCancelReport<'_> {
    const MSG_TYPE: &'static [u8] = msg_type::ORDER_MASS_CANCEL_REPORT;
    fn write_body(&self, m: &mut MsgBuilder<'_, '_>, _: FixVersion) {
        opt_str(m, tag::CL_ORD_ID, self.cl_ord_id);
        m.str(tag::ORDER_ID, self.order_id);
        m.char(tag::MASS_CANCEL_REQUEST_TYPE, self.scope.to_fix());
        m.char(tag::MASS_CANCEL_RESPONSE, self.response);
        if let Some(r) = self.reject_reason {
            m.uint(tag::MASS_CANCEL_REJECT_REASON, r as u64);
        }
        if let Some(t) = self.total_affected_orders {
            m.uint(tag::TOTAL_AFFECTED_ORDERS, t as u64);
        }
        let entries = self.affected.iter().flatten();
        m.uint(tag::NO_AFFECTED_ORDERS, entries.clone().count() as u64);
        for e in entries {
            m.str(tag::ORIG_CL_ORD_ID, e.orig_cl_ord_id);
            opt_str(m, tag::AFFECTED_ORDER_ID, e.affected_order_id);
        }
    }
}

impl<'a> OrderMassCancelReport<'a> {
    pub fn parse(msg: &FixMessage<'a>) -> Result<Self, FixError> {
        expect_type(msg, msg_type::ORDER_MASS_CANCEL_REPORT)?;
        let response = single_char(msg, tag::MASS_CANCEL_RESPONSE)?;
        let group = msg.group(tag::NO_AFFECTED_ORDERS, &AFFECTED_ORDERS_GROUP)?;
        let mut affected = [None; MAX_AFFECTED_ORDERS];
        for (slot, e) in affected.iter_mut().zip(group.entries()) {
            *slot = Some(AffectedOrder {
                orig_cl_ord_id: e
                    .get(tag::ORIG_CL_ORD_ID)
                    .ok_or(FixError::MissingField(tag::ORIG_CL_ORD_ID))?,
                affected_order_id: e.get(tag::AFFECTED_ORDER_ID),
            });
        }
        Ok(OrderMassCancelReport {
            cl_ord_id: msg.get(tag::CL_ORD_ID),
            order_id: msg.req(tag::ORDER_ID)?,
            scope: MassCancelScope::parse(msg)?,
            response,
            reject_reason: opt_qty(msg, tag::MASS_CANCEL_REJECT_REASON)?,
            total_affected_orders: opt_qty(msg, tag::TOTAL_AFFECTED_ORDERS)?,
            affected,
            affected_count: group.len(),
        })
    }
}

/// Writes `order_id` as decimal ClOrdID text into `out`; returns the text.
/// The OMS's order ids are unique across restarts, so they serve as ClOrdID.
pub fn cl_ord_id_text(order_id: u64, out: &mut [u8; 20]) -> &[u8] {
    let n = super::encode::format_uint(order_id, out);
    &out[20 - n..]
}

/// Parses a ClOrdID we produced with [`cl_ord_id_text`].
pub fn cl_ord_id_value(text: &[u8]) -> Option<u64> {
    parse_uint(text)
}

/// A parse helper for callers that want the price as a plain `Price`.
pub fn price_of(text: &[u8]) -> Option<Price> {
    parse_price(text)
}

#[cfg(test)]
mod tests;
