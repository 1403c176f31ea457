// QuickFIX/C++ (Debian's libquickfix-dev) behind a C interface, for the
// peer benchmark (`benches/peer.rs`, feature `quickfix`): the same
// NewOrderSingle encoded and the same ExecutionReport decoded as ours and
// fefix's. Like fefix, QuickFIX is handed SendingTime, TransactTime, the
// price and the quantity as text (ours formats them from integers), so its
// encode does no more work than ours.

#include <quickfix/FixFieldNumbers.h>
#include <quickfix/Message.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace {

// One order, the fields in our encoder's order.
void fill_new_order_single(FIX::Message& m, std::uint64_t seq) {
  FIX::Header& h = m.getHeader();
  h.setField(FIX::FIELD::BeginString, "FIX.4.4");
  h.setField(FIX::FIELD::MsgType, "D");
  h.setField(FIX::FIELD::SenderCompID, "CLIENT");
  h.setField(FIX::FIELD::TargetCompID, "VENUE");
  h.setField(FIX::MsgSeqNum(static_cast<int>(seq)));
  h.setField(FIX::FIELD::SendingTime, "20231114-22:13:20.123");
  m.setField(FIX::FIELD::ClOrdID, "1700000000000042");
  m.setField(FIX::FIELD::HandlInst, "1");
  m.setField(FIX::FIELD::Symbol, "AAPL");
  m.setField(FIX::FIELD::Side, "1");
  m.setField(FIX::FIELD::TransactTime, "20231114-22:13:20.123");
  m.setField(FIX::FIELD::OrderQty, "300");
  m.setField(FIX::FIELD::OrdType, "2");
  m.setField(FIX::FIELD::Price, "191.25");
  m.setField(FIX::FIELD::TimeInForce, "0");
}

thread_local std::string encoded;

}  // namespace

extern "C" {

// Encodes the order with MsgSeqNum `seq` (BodyLength and CheckSum computed
// by the engine) into a reused string; `reuse` overwrites the fields of one
// message kept across calls instead of building a new message, as QuickFIX
// applications usually do. Returns the encoded length.
std::size_t qf_encode_new_order_single(std::uint64_t seq, int reuse) {
  if (reuse) {
    static thread_local FIX::Message kept;
    fill_new_order_single(kept, seq);
    return kept.toString(encoded).size();
  }
  FIX::Message m;
  fill_new_order_single(m, seq);
  return m.toString(encoded).size();
}

// The bytes of the last encode, for the benchmark's check that both
// encoders wrote the same message.
std::size_t qf_last_encoded(char* out, std::size_t capacity) {
  const std::size_t n = encoded.size() < capacity ? encoded.size() : capacity;
  std::memcpy(out, encoded.data(), n);
  return n;
}

// Decodes one message with BodyLength and CheckSum checked, and looks up
// LeavesQty (151): returns its length, or -1 when the engine refused the
// message or it has no LeavesQty. `reuse` decodes into one message kept
// across calls.
long qf_decode_leaves_qty(const char* data, std::size_t len, int reuse) {
  try {
    const std::string text(data, len);
    if (reuse) {
      static thread_local FIX::Message kept;
      kept.setString(text, true);
      return static_cast<long>(kept.getField(FIX::FIELD::LeavesQty).size());
    }
    FIX::Message m;
    m.setString(text, true);
    return static_cast<long>(m.getField(FIX::FIELD::LeavesQty).size());
  } catch (const std::exception&) {
    return -1;
  }
}

}  // extern "C"
