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
//                  [--comp-ids VENUE CLIENT] [--rest SYMBOL]...
//
// Sessions (the engine's file store under <work dir>, so sequence numbers
// survive a restart of the initiator, as at a venue), VENUE <- CLIENT unless
// --comp-ids says otherwise: FIX.4.4 and FIX.4.2. Logon must carry Username
// (553) and Password (554) equal to the arguments, else it is refused (the
// engine sends Logout with the reason); "-" for both takes any Logon.
//
// Every NewOrderSingle must be a limit order (OrdType 2) with Price,
// TransactTime and, in FIX 4.2, HandlInst; the engine answers a missing field
// with a session-level Reject. Symbol REJECT is refused with an
// ExecutionReport (ExecType 8). An order in a --rest symbol is acknowledged
// and rests until canceled (OrderCancelRequest: an ExecutionReport
// Canceled; a cancel of an order not resting: OrderCancelReject). Any other
// order is acknowledged, then filled at its price: half of it (a partial
// fill) and then the rest, so a quantity of 1 fills at once.
//
// Prints one line per event on stdout (READY, LOGON, LOGOUT, ORDER, CANCEL,
// REFUSED) for the test to read. Exits when its standard input closes.

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

class Venue : public FIX::Application {
 public:
  Venue(std::string username, std::string password, std::set<std::string> resting)
      : username_(std::move(username)),
        password_(std::move(password)),
        resting_symbols_(std::move(resting)) {}

  void onCreate(const FIX::SessionID&) override {}
  void onLogon(const FIX::SessionID& id) override { say("LOGON " + id.toString()); }
  void onLogout(const FIX::SessionID& id) override { say("LOGOUT " + id.toString()); }
  void toAdmin(FIX::Message&, const FIX::SessionID&) override {}
  void toApp(FIX::Message&, const FIX::SessionID&) throw(FIX::DoNotSend) override {}

  void fromAdmin(const FIX::Message& message, const FIX::SessionID& id) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::RejectLogon) override {
    if (message.getHeader().getField(FIX::FIELD::MsgType) != FIX::MsgType_Logon ||
        (username_ == "-" && password_ == "-")) {
      return;
    }
    const bool user_ok = message.isSetField(FIX::FIELD::Username) &&
                         message.getField(FIX::FIELD::Username) == username_;
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
    char* end = nullptr;
    const long long qty = std::strtoll(qty_text.c_str(), &end, 10);
    if (end == qty_text.c_str() || *end != '\0' || qty <= 0) {
      throw FIX::IncorrectDataFormat(FIX::FIELD::OrderQty);
    }
    say("ORDER " + id.getBeginString().getString() + " " + cl_ord_id + " " + symbol + " " +
        side + " " + qty_text + " " + price + " " + tif);

    const std::string order_id = "Q" + std::to_string(++orders_);
    Report report{fix42, id, order_id, cl_ord_id, symbol, side, qty, price};
    if (symbol == "REJECT") {
      report.send('8', '8', 0, 0, "symbol not traded here");
      return;
    }
    report.send('0', '0', 0, 0, "");
    if (resting_symbols_.count(symbol) != 0) {
      std::lock_guard<std::mutex> guard(resting_lock_);
      resting_[id.toString() + " " + cl_ord_id] = report;
      return;
    }
    const long long first = qty / 2;
    if (first > 0) {
      report.send(fix42 ? '1' : 'F', '1', first, first, "");
    }
    report.send(fix42 ? '2' : 'F', '2', qty - first, qty, "");
  }

  void onCancel(const FIX::Message& cancel, const FIX::SessionID& id) {
    const std::string cl_ord_id = cancel.getField(FIX::FIELD::ClOrdID);
    const std::string orig = cancel.getField(FIX::FIELD::OrigClOrdID);
    cancel.getField(FIX::FIELD::Symbol);
    cancel.getField(FIX::FIELD::Side);
    cancel.getField(FIX::FIELD::TransactTime);
    say("CANCEL " + id.getBeginString().getString() + " " + cl_ord_id + " " + orig);
    Report order;
    {
      std::lock_guard<std::mutex> guard(resting_lock_);
      auto found = resting_.find(id.toString() + " " + orig);
      if (found == resting_.end()) {
        FIX::Message refusal;
        refusal.getHeader().setField(FIX::MsgType(FIX::MsgType_OrderCancelReject));
        refusal.setField(FIX::FIELD::OrderID, "NONE");
        refusal.setField(FIX::FIELD::ClOrdID, cl_ord_id);
        refusal.setField(FIX::FIELD::OrigClOrdID, orig);
        refusal.setField(FIX::FIELD::OrdStatus, "8");
        refusal.setField(FIX::FIELD::CxlRejResponseTo, "1");
        refusal.setField(FIX::FIELD::CxlRejReason, "1");
        refusal.setField(FIX::FIELD::Text, "unknown order");
        FIX::Session::sendToTarget(refusal, id);
        return;
      }
      order = found->second;
      resting_.erase(found);
    }
    order.orig_cl_ord_id = orig;
    order.cl_ord_id = cl_ord_id;
    order.send('4', '4', 0, 0, "");
  }

  struct Report {
    bool fix42 = false;
    FIX::SessionID id;
    std::string order_id, cl_ord_id, symbol, side;
    long long qty = 0;
    std::string price;
    std::string orig_cl_ord_id;

    // One ExecutionReport: `last` shares traded in it, `cum` in all.
    void send(char exec_type, char ord_status, long long last, long long cum,
              const std::string& text) {
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
      report.setField(FIX::FIELD::Price, price);
      const bool done = ord_status == '2' || ord_status == '4' || ord_status == '8';
      report.setField(FIX::FIELD::LeavesQty, std::to_string(done ? 0 : qty - cum));
      report.setField(FIX::FIELD::CumQty, std::to_string(cum));
      report.setField(FIX::FIELD::AvgPx, cum > 0 ? price : "0");
      if (last > 0) {
        report.setField(FIX::FIELD::LastPx, price);
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

  std::string username_, password_;
  std::set<std::string> resting_symbols_;
  std::atomic<std::uint64_t> orders_{0};
  std::mutex resting_lock_;
  // Resting orders by session and ClOrdID, with what their reports repeat.
  std::map<std::string, Report> resting_;
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
                 " [--comp-ids VENUE CLIENT] [--rest SYMBOL]...\n";
    return 2;
  }
  std::string venue_comp_id = "VENUE", client_comp_id = "CLIENT";
  std::set<std::string> resting;
  for (int i = 5; i < argc; ++i) {
    const std::string option = argv[i];
    if (option == "--comp-ids" && i + 2 < argc) {
      venue_comp_id = argv[++i];
      client_comp_id = argv[++i];
    } else if (option == "--rest" && i + 1 < argc) {
      resting.insert(argv[++i]);
    } else {
      std::cerr << "quickfix-venue: unknown or incomplete option " << option << "\n";
      return 2;
    }
  }
  try {
    std::istringstream text(settings(argv[1], argv[2], venue_comp_id, client_comp_id));
    FIX::SessionSettings config(text);
    Venue venue(argv[3], argv[4], resting);
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
