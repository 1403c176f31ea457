// A FIX client built on QuickFIX/C++ (Debian's libquickfix-dev): the
// counterparty that holds our session code in the acceptor role, as the
// lab's simulated venue runs it (`exchange`, also offered to users to
// rehearse against), to an engine that shares nothing with ours. Built and
// run by `qemu::quickfix`.
//
//   quickfix-client <host> <port> <work dir> <FIX.4.4|FIX.4.2> <SenderCompID>
//                   <TargetCompID> <symbol> <side 1|2> <qty> <price> <orders>
//
// Logs on (HeartBtInt 1), sends <orders> limit orders (ClOrdIDs C1, C2, ...),
// waits until each has an ExecutionReport, logs out and exits 0; exits 1 if
// the logon or an answer does not come within 15 s. Prints one line per
// event on stdout: LOGON, EXEC <ClOrdID> <ExecType> <OrdStatus> <CumQty>
// <LeavesQty>, REJECT (session-level, with its reason), BMR (business
// message reject), LOGOUT, DONE.

#include <quickfix/Application.h>
#include <quickfix/FileLog.h>
#include <quickfix/FileStore.h>
#include <quickfix/FixFieldNumbers.h>
#include <quickfix/FixFields.h>
#include <quickfix/FixValues.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketInitiator.h>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

namespace {

std::mutex lock;
std::condition_variable changed;

void say(const std::string& line) {
  std::cout << line << std::endl;
}

class Client : public FIX::Application {
 public:
  bool logged_on = false;
  bool logged_out = false;
  std::set<std::string> answered;
  FIX::SessionID session;

  void onCreate(const FIX::SessionID&) override {}
  void onLogon(const FIX::SessionID& id) override {
    std::lock_guard<std::mutex> guard(lock);
    session = id;
    logged_on = true;
    say("LOGON " + id.toString());
    changed.notify_all();
  }
  void onLogout(const FIX::SessionID& id) override {
    std::lock_guard<std::mutex> guard(lock);
    logged_out = true;
    say("LOGOUT " + id.toString());
    changed.notify_all();
  }
  void toAdmin(FIX::Message&, const FIX::SessionID&) override {}
  void toApp(FIX::Message&, const FIX::SessionID&) throw(FIX::DoNotSend) override {}

  void fromAdmin(const FIX::Message& message, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::RejectLogon) override {
    if (message.getHeader().getField(FIX::FIELD::MsgType) == FIX::MsgType_Reject) {
      const std::string text =
          message.isSetField(FIX::FIELD::Text) ? message.getField(FIX::FIELD::Text) : "";
      std::lock_guard<std::mutex> guard(lock);
      say("REJECT " + text);
    }
  }

  void fromApp(const FIX::Message& message, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::UnsupportedMessageType) override {
    const std::string& type = message.getHeader().getField(FIX::FIELD::MsgType);
    std::lock_guard<std::mutex> guard(lock);
    if (type == FIX::MsgType_BusinessMessageReject) {
      say("BMR " + message.getField(FIX::FIELD::BusinessRejectReason));
      return;
    }
    if (type != FIX::MsgType_ExecutionReport) {
      say("APP " + type);
      return;
    }
    const std::string cl_ord_id = message.getField(FIX::FIELD::ClOrdID);
    say("EXEC " + cl_ord_id + " " + message.getField(FIX::FIELD::ExecType) + " " +
        message.getField(FIX::FIELD::OrdStatus) + " " + message.getField(FIX::FIELD::CumQty) +
        " " + message.getField(FIX::FIELD::LeavesQty));
    answered.insert(cl_ord_id);
    changed.notify_all();
  }
};

template <typename Ready>
bool wait_until(Ready ready) {
  std::unique_lock<std::mutex> guard(lock);
  return changed.wait_for(guard, std::chrono::seconds(15), ready);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 12) {
    std::cerr << "usage: " << argv[0]
              << " <host> <port> <work dir> <FIX.4.4|FIX.4.2> <SenderCompID> <TargetCompID>"
                 " <symbol> <side 1|2> <qty> <price> <orders>\n";
    return 2;
  }
  const std::string begin = argv[4], symbol = argv[7], side = argv[8], qty = argv[9],
                    price = argv[10];
  const int orders = std::stoi(argv[11]);
  std::ostringstream text;
  text << "[DEFAULT]\nConnectionType=initiator\nReconnectInterval=1\nHeartBtInt=1\n"
       << "StartTime=00:00:00\nEndTime=00:00:00\nUseDataDictionary=N\nSocketNodelay=Y\n"
       << "FileStorePath=" << argv[3] << "/store\nFileLogPath=" << argv[3] << "/log\n"
       << "\n[SESSION]\nBeginString=" << begin << "\nSenderCompID=" << argv[5]
       << "\nTargetCompID=" << argv[6] << "\nSocketConnectHost=" << argv[1]
       << "\nSocketConnectPort=" << argv[2] << "\n";
  try {
    std::istringstream settings_text(text.str());
    FIX::SessionSettings settings(settings_text);
    Client client;
    FIX::FileStoreFactory store(settings);
    FIX::FileLogFactory log(settings);
    FIX::SocketInitiator initiator(client, store, settings, log);
    initiator.start();
    if (!wait_until([&] { return client.logged_on; })) {
      say("FAILED no logon");
      initiator.stop(true);
      return 1;
    }
    for (int i = 1; i <= orders; ++i) {
      FIX::Message order;
      order.getHeader().setField(FIX::MsgType(FIX::MsgType_NewOrderSingle));
      order.setField(FIX::FIELD::ClOrdID, "C" + std::to_string(i));
      order.setField(FIX::FIELD::HandlInst, "1");
      order.setField(FIX::FIELD::Symbol, symbol);
      order.setField(FIX::FIELD::Side, side);
      order.setField(FIX::TransactTime(3));
      order.setField(FIX::FIELD::OrderQty, qty);
      order.setField(FIX::FIELD::OrdType, "2");
      order.setField(FIX::FIELD::Price, price);
      order.setField(FIX::FIELD::TimeInForce, "0");
      FIX::Session::sendToTarget(order, client.session);
    }
    const bool all = wait_until([&] { return static_cast<int>(client.answered.size()) >= orders; });
    if (FIX::Session* session = FIX::Session::lookupSession(client.session)) {
      session->logout("done");
    }
    wait_until([&] { return client.logged_out; });
    initiator.stop();
    say(all ? "DONE" : "FAILED not every order was answered");
    return all ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "quickfix-client: " << e.what() << "\n";
    return 1;
  }
}
