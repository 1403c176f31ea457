// A FIX venue built on QuickFIX/C++ (Debian's libquickfix-dev), the
// open-source engine many venues' test environments run on or resemble: the
// counterparty the interoperability tests hold our session code against
// (`gateway/tests/quickfix_interop.rs` with the host initiator,
// `tests/tests/order_path.rs` with the appliance over smoltcp). Nothing here
// shares code with the project, so a misreading of the FIX specification
// that our initiator and our own acceptor would share shows up here. Built
// and started by `qemu::quickfix`.
//
//   quickfix-venue <port> <work dir> <username|-> <password|->
//                  [--comp-ids VENUE CLIENT] [--rest SYMBOL]... [--hit-every N]
//
// Sessions (the engine's file store under <work dir>, so sequence numbers
// survive a restart of the initiator, as at a venue), VENUE <- CLIENT unless
// --comp-ids says otherwise: FIX.4.4 and FIX.4.2. Logon must carry Username
// (553) and Password (554) equal to the arguments, else it is refused (the
// engine sends Logout with the reason); "-" for both takes any Logon, and a
// username "*" checks the password alone.
//
// Every NewOrderSingle must be a limit order (OrdType 2) with Price,
// TransactTime and, in FIX 4.2, HandlInst; the engine answers a missing field
// with a session-level Reject. Symbol REJECT is refused with an
// ExecutionReport (ExecType 8). An order in a --rest symbol is acknowledged
// and rests until canceled or replaced (OrderCancelRequest: an
// ExecutionReport Canceled; OrderCancelReplaceRequest: Replaced, with the
// new quantity and price; either of an order not resting here:
// OrderCancelReject: too late, with its status, for an order that is done,
// unknown otherwise; a replace down to what has filled: refused), unless it
// is immediate-or-cancel; with --hit-every N, every Nth order or replace
// that comes to rest is at once half filled, as by another participant. Any
// other order is acknowledged, then filled at its price: half of it (a
// partial fill) and then the rest, so a quantity of 1 fills at once.
//
// Prints one line per event on stdout (READY, LOGON, LOGOUT with the orders
// still resting, ORDER, CANCEL, REPLACE, FILL, REFUSED) for the test to read.
// Exits when its standard input closes.

#include <quickfix/Application.h>
#include <quickfix/FileLog.h>
#include <quickfix/FileStore.h>
#include <quickfix/FixFieldNumbers.h>
#include <quickfix/FixFields.h>
#include <quickfix/FixValues.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketAcceptor.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::mutex out_lock;

void say(const std::string& line) {
  std::lock_guard<std::mutex> guard(out_lock);
  std::cout << line << std::endl;
}

// Quantities: positive whole numbers.
long long parse_quantity(const std::string& text) {
  char* end = nullptr;
  const long long qty = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || qty <= 0) {
    throw FIX::IncorrectDataFormat(FIX::FIELD::OrderQty);
  }
  return qty;
}

// A price with up to four decimals, in 1/10,000ths.
long long parse_price4(const std::string& text) {
  const std::size_t dot = text.find('.');
  const std::string whole = text.substr(0, dot);
  std::string fraction = dot == std::string::npos ? "" : text.substr(dot + 1);
  const bool digits =
      !whole.empty() && whole.find_first_not_of("0123456789") == std::string::npos &&
      fraction.size() <= 4 && fraction.find_first_not_of("0123456789") == std::string::npos;
  if (!digits) {
    throw FIX::IncorrectDataFormat(FIX::FIELD::Price);
  }
  fraction.resize(4, '0');
  return std::stoll(whole) * 10000 + std::stoll(fraction);
}

std::string format_price4(long long price4) {
  std::string fraction = std::to_string(10000 + price4 % 10000).substr(1);
  while (!fraction.empty() && fraction.back() == '0') {
    fraction.pop_back();
  }
  return std::to_string(price4 / 10000) + (fraction.empty() ? "" : "." + fraction);
}

// An order the venue knows, with what its reports repeat.
struct Order {
  bool fix42 = false;
  FIX::SessionID id;
  std::string order_id, cl_ord_id, orig_cl_ord_id, symbol, side;
  long long qty = 0, price4 = 0;
  // Shares filled, and their value in price4 units (for AvgPx).
  long long cum = 0, value4 = 0;

  // `shares` more traded at the order's price; printed as FILL.
  void fill(long long shares) {
    cum += shares;
    value4 += shares * price4;
    const char status = cum == qty ? '2' : '1';
    say("FILL " + id.getBeginString().getString() + " " + cl_ord_id + " " + symbol + " " + side +
        " " + std::to_string(shares) + " " + format_price4(price4));
    send(fix42 ? status : 'F', status, shares, "");
  }

  // One ExecutionReport: `last` shares traded in it.
  void send(char exec_type, char ord_status, long long last, const std::string& text) {
    static std::atomic<std::uint64_t> exec_ids{0};
    FIX::Message report;
    report.getHeader().setField(FIX::MsgType(FIX::MsgType_ExecutionReport));
    report.setField(FIX::FIELD::OrderID, order_id);
    report.setField(FIX::FIELD::ClOrdID, cl_ord_id);
    if (!orig_cl_ord_id.empty()) {
      report.setField(FIX::FIELD::OrigClOrdID, orig_cl_ord_id);
    }
    report.setField(FIX::FIELD::ExecID, "E" + std::to_string(++exec_ids));
    if (fix42) {
      report.setField(FIX::FIELD::ExecTransType, "0");
    }
    report.setField(FIX::FIELD::ExecType, std::string(1, exec_type));
    report.setField(FIX::FIELD::OrdStatus, std::string(1, ord_status));
    report.setField(FIX::FIELD::Symbol, symbol);
    report.setField(FIX::FIELD::Side, side);
    report.setField(FIX::FIELD::OrderQty, std::to_string(qty));
    report.setField(FIX::FIELD::Price, format_price4(price4));
    const bool done = ord_status == '2' || ord_status == '4' || ord_status == '8';
    report.setField(FIX::FIELD::LeavesQty, std::to_string(done ? 0 : qty - cum));
    report.setField(FIX::FIELD::CumQty, std::to_string(cum));
    report.setField(FIX::FIELD::AvgPx, cum > 0 ? format_price4(value4 / cum) : "0");
    if (last > 0) {
      report.setField(FIX::FIELD::LastPx, format_price4(price4));
      report.setField(fix42 ? FIX::FIELD::LastShares : FIX::FIELD::LastQty,
                      std::to_string(last));
    }
    report.setField(FIX::TransactTime(3));
    if (!text.empty()) {
      report.setField(FIX::FIELD::Text, text);
    }
    FIX::Session::sendToTarget(report, id);
  }
};

class Venue : public FIX::Application {
 public:
  Venue(std::string username, std::string password, std::set<std::string> resting,
        std::uint64_t hit_every)
      : username_(std::move(username)),
        password_(std::move(password)),
        resting_symbols_(std::move(resting)),
        hit_every_(hit_every) {}

  void onCreate(const FIX::SessionID&) override {}
  void onLogon(const FIX::SessionID& id) override { say("LOGON " + id.toString()); }
  void onLogout(const FIX::SessionID& id) override {
    std::size_t left = 0;
    {
      std::lock_guard<std::mutex> guard(resting_lock_);
      const std::string prefix = id.toString() + " ";
      for (const auto& order : resting_) {
        left += order.first.compare(0, prefix.size(), prefix) == 0;
      }
    }
    say("LOGOUT " + id.toString() + " resting " + std::to_string(left));
  }
  void toAdmin(FIX::Message&, const FIX::SessionID&) override {}
  void toApp(FIX::Message&, const FIX::SessionID&) throw(FIX::DoNotSend) override {}

  void fromAdmin(const FIX::Message& message, const FIX::SessionID& id) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::RejectLogon) override {
    if (message.getHeader().getField(FIX::FIELD::MsgType) != FIX::MsgType_Logon ||
        (username_ == "-" && password_ == "-")) {
      return;
    }
    const bool user_ok = username_ == "*" || (message.isSetField(FIX::FIELD::Username) &&
                                              message.getField(FIX::FIELD::Username) == username_);
    const bool password_ok = message.isSetField(FIX::FIELD::Password) &&
                             message.getField(FIX::FIELD::Password) == password_;
    if (!user_ok || !password_ok) {
      // The password itself is never printed.
      say("REFUSED " + id.toString() + " bad credentials");
      throw FIX::RejectLogon("bad credentials");
    }
  }

  void fromApp(const FIX::Message& message, const FIX::SessionID& id) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::UnsupportedMessageType) override {
    const std::string& type = message.getHeader().getField(FIX::FIELD::MsgType);
    if (type == FIX::MsgType_NewOrderSingle) {
      onNewOrder(message, id);
    } else if (type == FIX::MsgType_OrderCancelRequest) {
      onCancel(message, id);
    } else if (type == FIX::MsgType_OrderCancelReplaceRequest) {
      onReplace(message, id);
    } else {
      throw FIX::UnsupportedMessageType();
    }
  }

 private:
  void onNewOrder(const FIX::Message& order, const FIX::SessionID& id) {
    const bool fix42 = id.getBeginString() == FIX::BeginString_FIX42;
    // Each read throws FieldNotFound when the field is absent: the engine
    // then refuses the message with a Reject naming the tag.
    const std::string cl_ord_id = order.getField(FIX::FIELD::ClOrdID);
    const std::string symbol = order.getField(FIX::FIELD::Symbol);
    const std::string side = order.getField(FIX::FIELD::Side);
    const std::string qty_text = order.getField(FIX::FIELD::OrderQty);
    order.getField(FIX::FIELD::TransactTime);
    if (fix42) {
      order.getField(FIX::FIELD::HandlInst);
    }
    if (order.getField(FIX::FIELD::OrdType) != "2") {
      throw FIX::IncorrectTagValue(FIX::FIELD::OrdType);
    }
    const std::string price = order.getField(FIX::FIELD::Price);
    const std::string tif =
        order.isSetField(FIX::FIELD::TimeInForce) ? order.getField(FIX::FIELD::TimeInForce) : "-";
    const long long qty = parse_quantity(qty_text);
    const long long price4 = parse_price4(price);
    say("ORDER " + id.getBeginString().getString() + " " + cl_ord_id + " " + symbol + " " +
        side + " " + qty_text + " " + price + " " + tif);

    Order o;
    o.fix42 = fix42;
    o.id = id;
    o.order_id = "Q" + std::to_string(++orders_);
    o.cl_ord_id = cl_ord_id;
    o.symbol = symbol;
    o.side = side;
    o.qty = qty;
    o.price4 = price4;
    if (symbol == "REJECT") {
      o.send('8', '8', 0, "symbol not traded here");
      finished(o, '8');
      return;
    }
    o.send('0', '0', 0, "");
    if (resting_symbols_.count(symbol) != 0 && tif != "3") {
      rest(std::move(o));
      return;
    }
    const long long first = qty / 2;
    if (first > 0) {
      o.fill(first);
    }
    o.fill(qty - first);
    finished(o, '2');
  }

  // Remembers a done order under its ClOrdID, so that a late cancel or
  // replace of it is refused as too late, with its status.
  void finished(const Order& o, char status) {
    std::lock_guard<std::mutex> guard(resting_lock_);
    done_[o.id.toString() + " " + o.cl_ord_id] = std::make_pair(o.order_id, status);
  }

  // An order that rests: every `hit_every`-th order or replace that comes to
  // rest is hit at once for half of what it leaves (at least one share), as
  // by another participant; one filled completely stops resting.
  void rest(Order o) {
    if (hit_every_ > 0 && ++rested_ % hit_every_ == 0) {
      const long long leaves = o.qty - o.cum;
      o.fill(leaves / 2 > 0 ? leaves / 2 : 1);
      if (o.cum == o.qty) {
        finished(o, '2');
        return;
      }
    }
    std::lock_guard<std::mutex> guard(resting_lock_);
    resting_[o.id.toString() + " " + o.cl_ord_id] = std::move(o);
  }

  // The resting order `orig` of session `id`, taken out of the book; false
  // when there is none.
  bool take_resting(const FIX::SessionID& id, const std::string& orig, Order& out) {
    std::lock_guard<std::mutex> guard(resting_lock_);
    auto found = resting_.find(id.toString() + " " + orig);
    if (found == resting_.end()) {
      return false;
    }
    out = std::move(found->second);
    resting_.erase(found);
    return true;
  }

  void onCancel(const FIX::Message& cancel, const FIX::SessionID& id) {
    const std::string cl_ord_id = cancel.getField(FIX::FIELD::ClOrdID);
    const std::string orig = cancel.getField(FIX::FIELD::OrigClOrdID);
    cancel.getField(FIX::FIELD::Symbol);
    cancel.getField(FIX::FIELD::Side);
    cancel.getField(FIX::FIELD::TransactTime);
    say("CANCEL " + id.getBeginString().getString() + " " + cl_ord_id + " " + orig);
    Order o;
    if (!take_resting(id, orig, o)) {
      refuse_cancel(id, cl_ord_id, orig, "1");
      return;
    }
    o.cl_ord_id = cl_ord_id;
    o.orig_cl_ord_id = orig;
    o.send('4', '4', 0, "");
    finished(o, '4');
    o.cl_ord_id = orig;
    finished(o, '4');
  }

  void onReplace(const FIX::Message& replace, const FIX::SessionID& id) {
    const std::string cl_ord_id = replace.getField(FIX::FIELD::ClOrdID);
    const std::string orig = replace.getField(FIX::FIELD::OrigClOrdID);
    replace.getField(FIX::FIELD::Symbol);
    replace.getField(FIX::FIELD::Side);
    replace.getField(FIX::FIELD::TransactTime);
    if (replace.getField(FIX::FIELD::OrdType) != "2") {
      throw FIX::IncorrectTagValue(FIX::FIELD::OrdType);
    }
    const std::string qty_text = replace.getField(FIX::FIELD::OrderQty);
    const std::string price = replace.getField(FIX::FIELD::Price);
    const long long qty = parse_quantity(qty_text);
    const long long price4 = parse_price4(price);
    say("REPLACE " + id.getBeginString().getString() + " " + cl_ord_id + " " + orig + " " +
        qty_text + " " + price);
    Order o;
    if (!take_resting(id, orig, o)) {
      refuse_cancel(id, cl_ord_id, orig, "2");
      return;
    }
    if (qty <= o.cum) {
      // Nothing would be left to rest: refused, the order rests as it was.
      send_cancel_reject(id, cl_ord_id, orig, "2", o.order_id, '1', "0",
                         "not above the quantity filled");
      std::lock_guard<std::mutex> guard(resting_lock_);
      resting_[id.toString() + " " + orig] = std::move(o);
      return;
    }
    o.cl_ord_id = cl_ord_id;
    o.orig_cl_ord_id = orig;
    o.qty = qty;
    o.price4 = price4;
    o.send('5', o.cum > 0 ? '1' : '0', 0, "");
    o.orig_cl_ord_id.clear();
    rest(std::move(o));
  }

  // OrderCancelReject of a cancel ("1") or replace ("2") of an order that
  // is not resting here: too late (CxlRejReason 0) for an order that is
  // done, with its status; unknown (1) otherwise.
  void refuse_cancel(const FIX::SessionID& id, const std::string& cl_ord_id,
                     const std::string& orig, const char* response_to) {
    std::pair<std::string, char> done("NONE", '8');
    bool known = false;
    {
      std::lock_guard<std::mutex> guard(resting_lock_);
      auto found = done_.find(id.toString() + " " + orig);
      if (found != done_.end()) {
        done = found->second;
        known = true;
      }
    }
    send_cancel_reject(id, cl_ord_id, orig, response_to, done.first, done.second,
                       known ? "0" : "1", known ? "too late: the order is done" : "unknown order");
  }

  void send_cancel_reject(const FIX::SessionID& id, const std::string& cl_ord_id,
                          const std::string& orig, const char* response_to,
                          const std::string& order_id, char status, const char* reason,
                          const std::string& text) {
    FIX::Message refusal;
    refusal.getHeader().setField(FIX::MsgType(FIX::MsgType_OrderCancelReject));
    refusal.setField(FIX::FIELD::OrderID, order_id);
    refusal.setField(FIX::FIELD::ClOrdID, cl_ord_id);
    refusal.setField(FIX::FIELD::OrigClOrdID, orig);
    refusal.setField(FIX::FIELD::OrdStatus, std::string(1, status));
    refusal.setField(FIX::FIELD::CxlRejResponseTo, response_to);
    refusal.setField(FIX::FIELD::CxlRejReason, reason);
    refusal.setField(FIX::FIELD::Text, text);
    FIX::Session::sendToTarget(refusal, id);
  }

  std::string username_, password_;
  std::set<std::string> resting_symbols_;
  std::uint64_t hit_every_ = 0, rested_ = 0;
  std::atomic<std::uint64_t> orders_{0};
  std::mutex resting_lock_;
  // Resting orders by session and ClOrdID.
  std::map<std::string, Order> resting_;
  // Orders done (filled, canceled, refused) by session and ClOrdID: their
  // OrderID and OrdStatus.
  std::map<std::string, std::pair<std::string, char>> done_;
};

std::string settings(const std::string& port, const std::string& dir,
                     const std::string& venue_comp_id, const std::string& client_comp_id) {
  std::ostringstream s;
  s << "[DEFAULT]\n"
    << "ConnectionType=acceptor\n"
    << "SocketAcceptPort=" << port << "\n"
    << "SocketReuseAddress=Y\n"
    << "SocketNodelay=Y\n"
    << "SenderCompID=" << venue_comp_id << "\n"
    << "TargetCompID=" << client_comp_id << "\n"
    << "StartTime=00:00:00\n"
    << "EndTime=00:00:00\n"
    << "UseDataDictionary=N\n"
    << "FileStorePath=" << dir << "/store\n"
    << "FileLogPath=" << dir << "/log\n"
    << "\n[SESSION]\nBeginString=FIX.4.4\n"
    << "\n[SESSION]\nBeginString=FIX.4.2\n";
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: " << argv[0]
              << " <port> <work dir> <username|-> <password|->"
                 " [--comp-ids VENUE CLIENT] [--rest SYMBOL]... [--hit-every N]\n";
    return 2;
  }
  std::string venue_comp_id = "VENUE", client_comp_id = "CLIENT";
  std::set<std::string> resting;
  std::uint64_t hit_every = 0;
  for (int i = 5; i < argc; ++i) {
    const std::string option = argv[i];
    if (option == "--comp-ids" && i + 2 < argc) {
      venue_comp_id = argv[++i];
      client_comp_id = argv[++i];
    } else if (option == "--rest" && i + 1 < argc) {
      resting.insert(argv[++i]);
    } else if (option == "--hit-every" && i + 1 < argc) {
      hit_every = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::cerr << "quickfix-venue: unknown or incomplete option " << option << "\n";
      return 2;
    }
  }
  try {
    std::istringstream text(settings(argv[1], argv[2], venue_comp_id, client_comp_id));
    FIX::SessionSettings config(text);
    Venue venue(argv[3], argv[4], resting, hit_every);
    FIX::FileStoreFactory store(config);
    FIX::FileLogFactory log(config);
    FIX::SocketAcceptor acceptor(venue, store, config, log);
    acceptor.start();
    say(std::string("READY ") + argv[1]);
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    acceptor.stop();
  } catch (const std::exception& e) {
    std::cerr << "quickfix-venue: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
