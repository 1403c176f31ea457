// A FIX venue built on QuickFIX/C++ (Debian's libquickfix-dev), the
// open-source engine many venues' test environments run on or resemble: the
// counterparty the interoperability tests (`quickfix_interop.rs`) hold our
// session code against. Nothing here shares code with the project, so a
// misreading of the FIX specification that our initiator and our own
// acceptor would share shows up here.
//
//   quickfix-venue <port> <work dir> <username> <password>
//
// Sessions (the engine's file store under <work dir>, so sequence numbers
// survive a restart of the initiator, as at a venue):
//   FIX.4.4  VENUE <- CLIENT
//   FIX.4.2  VENUE <- CLIENT
// Logon must carry Username (553) and Password (554) equal to the arguments,
// else it is refused (the engine sends Logout with the reason).
//
// Every NewOrderSingle must be a limit order (OrdType 2) with Price,
// TransactTime and, in FIX 4.2, HandlInst; the engine answers a missing field
// with a session-level Reject. Symbol REJECT is refused with an
// ExecutionReport (ExecType 8). Any other order is acknowledged, then filled
// at its price: half of it (a partial fill) and then the rest, so a
// quantity of 1 fills at once.
//
// Prints one line per event on stdout (READY, LOGON, LOGOUT, ORDER, REFUSED)
// for the test to read. Exits when its standard input closes.

#include <quickfix/Application.h>
#include <quickfix/FileLog.h>
#include <quickfix/FileStore.h>
#include <quickfix/FixFieldNumbers.h>
#include <quickfix/FixFields.h>
#include <quickfix/FixValues.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketAcceptor.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>

namespace {

std::mutex out_lock;

void say(const std::string& line) {
  std::lock_guard<std::mutex> guard(out_lock);
  std::cout << line << std::endl;
}

class Venue : public FIX::Application {
 public:
  Venue(std::string username, std::string password)
      : username_(std::move(username)), password_(std::move(password)) {}

  void onCreate(const FIX::SessionID&) override {}
  void onLogon(const FIX::SessionID& id) override { say("LOGON " + id.toString()); }
  void onLogout(const FIX::SessionID& id) override { say("LOGOUT " + id.toString()); }
  void toAdmin(FIX::Message&, const FIX::SessionID&) override {}
  void toApp(FIX::Message&, const FIX::SessionID&) throw(FIX::DoNotSend) override {}

  void fromAdmin(const FIX::Message& message, const FIX::SessionID& id) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::RejectLogon) override {
    if (message.getHeader().getField(FIX::FIELD::MsgType) != FIX::MsgType_Logon) {
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
    if (message.getHeader().getField(FIX::FIELD::MsgType) != FIX::MsgType_NewOrderSingle) {
      throw FIX::UnsupportedMessageType();
    }
    onNewOrder(message, id);
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
    const long long first = qty / 2;
    if (first > 0) {
      report.send(fix42 ? '1' : 'F', '1', first, first, "");
    }
    report.send(fix42 ? '2' : 'F', '2', qty - first, qty, "");
  }

  struct Report {
    bool fix42;
    const FIX::SessionID& id;
    std::string order_id, cl_ord_id, symbol, side;
    long long qty;
    std::string price;

    // One ExecutionReport: `last` shares traded in it, `cum` in all.
    void send(char exec_type, char ord_status, long long last, long long cum,
              const std::string& text) {
      static std::uint64_t exec_ids = 0;
      FIX::Message report;
      report.getHeader().setField(FIX::MsgType(FIX::MsgType_ExecutionReport));
      report.setField(FIX::FIELD::OrderID, order_id);
      report.setField(FIX::FIELD::ClOrdID, cl_ord_id);
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
      const bool done = ord_status == '2' || ord_status == '8';
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
  std::uint64_t orders_ = 0;
};

std::string settings(const std::string& port, const std::string& dir) {
  std::ostringstream s;
  s << "[DEFAULT]\n"
    << "ConnectionType=acceptor\n"
    << "SocketAcceptPort=" << port << "\n"
    << "SocketReuseAddress=Y\n"
    << "SocketNodelay=Y\n"
    << "SenderCompID=VENUE\n"
    << "TargetCompID=CLIENT\n"
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
  if (argc != 5) {
    std::cerr << "usage: " << argv[0] << " <port> <work dir> <username> <password>\n";
    return 2;
  }
  try {
    std::istringstream text(settings(argv[1], argv[2]));
    FIX::SessionSettings config(text);
    Venue venue(argv[3], argv[4]);
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
