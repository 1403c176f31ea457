//! Harness bodies shared by the libFuzzer targets (`fuzz_targets/*.rs`) and
//! by the stable-Rust proptest runner in this file's tests. Each one feeds
//! arbitrary bytes to a parser and checks invariants that must hold for any
//! input; a panic anywhere is a finding.

/// `eprintln!` when the environment variable `$var` is set (looked up once
/// per call site): the harnesses' traces for reading a finding.
macro_rules! trace_if {
    ($var:literal, $($arg:tt)*) => {{
        static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if *ON.get_or_init(|| std::env::var_os($var).is_some()) {
            eprintln!($($arg)*);
        }
    }};
}

/// Every counter of `$s`, a `$ty` whose fields are all named here (so that
/// a new field breaks the build until it is listed): the `u64` ones in
/// order, then the elements of the arrays named after `arrays`.
macro_rules! every_counter {
    ($ty:ident, $s:expr, [$($f:ident),* $(,)?] $(, arrays [$($a:ident),* $(,)?])?) => {{
        let $ty { $($f,)* $($($a,)*)? } = $s;
        #[allow(unused_mut)]
        let mut all: Vec<u64> = vec![$($f),*];
        $($(all.extend($a);)*)?
        all
    }};
}

mod book;
mod fix;
pub mod order_path;
pub mod pairs;
pub mod quoting;
mod reports;
mod script;
pub mod session;
pub mod split;
mod two_venues;

use protocol::filter::{Filter, Subscription};
use protocol::moldudp64::{Config, Endpoint, Line, Packet, RequestRepr, Sequencer};
use protocol::{ethernet, ipv4, itch, udp};
use types::Nanos;

/// Raw bytes as an Ethernet frame through every layer and the feed filter.
pub fn frames(data: &[u8]) {
    if let Ok(f) = ethernet::Frame::new_checked(data) {
        let _ = ethernet::Repr::parse(&f);
        if let Ok(ip) = ipv4::Packet::new_checked(f.payload()) {
            let _ = ipv4::Repr::parse(&ip);
            if let Ok(u) = udp::Packet::new_checked(ip.payload()) {
                let _ = udp::Repr::parse(&u, ip.src_addr(), ip.dst_addr());
            }
        }
    }
    let mut filter = Filter::<2>::new();
    // Subscribe to whatever the frame's own destination would be, so the
    // accept path is reached without the fuzzer guessing a group.
    let group = data.get(30..34).and_then(|b| <[u8; 4]>::try_from(b).ok());
    let port = data.get(36..38).map(|b| u16::from_be_bytes([b[0], b[1]]));
    if let (Some(g), Some(p)) = (group, port) {
        let _ = filter.subscribe(Subscription {
            group: ipv4::Address(g),
            port: p,
        });
    }
    if let Some(d) = filter.process(data) {
        let range = data.as_ptr_range();
        assert!(range.contains(&d.payload.as_ptr()) || d.payload.is_empty());
    }
    assert_eq!(filter.accepted() + filter.drops().total(), 1);
}

/// Bytes cut into packets (1 byte line, 1 byte length, then the packet) for
/// one sequencer; delivery must stay strictly in order without holes.
pub fn moldudp64(data: &[u8]) {
    let _ = RequestRepr::parse(data);
    if let Ok(p) = Packet::new_checked(data) {
        for m in p.messages() {
            let _ = m;
        }
    }
    let mut config = Config::new(Endpoint::default());
    config.request_timeout_ns = 10;
    let mut seq = Sequencer::<16, 64>::new(config);
    let mut last: Option<u64> = None;
    let mut rest = data;
    let mut now = 0u64;
    while let [line, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (pkt, tail) = tail.split_at(n);
        rest = tail;
        now += 7;
        let line = match line % 3 {
            0 => Line::A,
            1 => Line::B,
            _ => Line::Retransmission,
        };
        // What the lookahead names in the packet before the sequencer takes
        // it must be delivered with it, in the same order: straight from
        // the packet, or as the copy of the same number the sequencer held
        // from an earlier packet (unless the packet changes the session:
        // not foreseen).
        let named: Vec<u64> = seq
            .lookahead()
            .fresh(pkt)
            .sequenced()
            .map(|(s, _)| s)
            .collect();
        let changes = seq.counters().session_changes;
        let mut delivered: Vec<u64> = Vec::new();
        seq.on_packet(line, pkt, Nanos(now), &mut |s, _| {
            if let Some(prev) = last {
                assert!(s == prev + 1 || s <= prev, "hole: {prev} then {s}");
            }
            last = Some(s);
            delivered.push(s);
        });
        if seq.counters().session_changes == changes {
            let mut rest = delivered.iter();
            for p in &named {
                assert!(
                    rest.any(|d| d == p),
                    "named but not delivered in order: {named:?} / {delivered:?}"
                );
            }
        }
        while seq.poll(Nanos(now)).is_some() {}
    }
}

/// Bytes as a NASDAQ file; every message that decodes must re-encode to the
/// same bytes.
pub fn itch(data: &[u8]) {
    let _ = itch::Message::parse(data);
    let mut buf = [0u8; 64];
    for raw in itch::FileReader::new(data) {
        let Ok(raw) = raw else { break };
        if let Ok(msg) = itch::Message::parse(raw) {
            let _ = msg.stock_locate();
            if let Some(repr) = msg.to_repr() {
                let n = repr.emit(&mut buf).expect("decoded message must encode");
                assert_eq!(&buf[..n], raw);
            }
        }
    }
}

/// Bytes as an ITCH stream (raw, or 4-byte structured operations) applied
/// to the L3 book; every message checked against a plain model and the
/// book's documented invariants (see `book.rs`).
pub fn book(data: &[u8]) {
    book::run(data);
}

/// Bytes as FIX messages (whole, framed, split, and as edits of valid
/// messages): the framer and parser never panic, and the layout-learning
/// decoder gives exactly what the plain parser gives (see `fix.rs`).
pub fn fix(data: &[u8]) {
    fix::run(data);
}

/// Bytes as a script of intents, execution reports, limit changes and
/// kill-switch operations on one OMS and its risk engine: the two stay
/// consistent and every order sent keeps the limits (see `order_path.rs`).
pub fn order_path(data: &[u8]) {
    order_path::run(data);
}

/// Bytes as a script of operations on two FIX sessions (us and the venue)
/// talking through a channel the script garbles: every message they hand
/// over is valid and in sequence, resends are faithful, sequence numbers
/// move only as the rules allow, and the pair heals (see `session.rs`).
pub fn session(data: &[u8]) {
    session::run(data);
}

/// Bytes as a script of book updates, execution reports, kill-switch,
/// venue and delivery operations on a two-venue pipeline whose taker's
/// orders the router splits: every decision's children keep the parent's
/// terms, the split table, the taker, the OMS and risk agree on what is
/// open and held, and everything heals (see `split.rs`).
pub fn split(data: &[u8]) {
    split::run(data);
}

/// Bytes as a script of book updates, execution reports, kill-switch,
/// venue, limit and configuration operations on a two-venue pipeline
/// hosting the market maker: every quote it sends is one it may send
/// (post-only inside the book, no self-match, within its position limit,
/// not while disabled, halted, paused, tripped or held off), its tracker,
/// the OMS and risk agree on what is open and held, and everything heals
/// (see `quoting.rs`).
pub fn quoting(data: &[u8]) {
    quoting::run(data);
}

/// Bytes as a script of book updates on both legs, execution reports,
/// kill-switch, venue, limit and delivery operations on a two-venue
/// pipeline hosting the pairs trader: every order it sends is an IOC at
/// the opposite touch on one leg, an entry's legs go together and follow
/// β, a one-legged entry is unwound, nothing goes while tripped, paused,
/// halted or held off, the pair, the OMS and risk agree on what is open
/// and held, and everything heals (see `pairs.rs`).
pub fn pairs(data: &[u8]) {
    pairs::run(data);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn frames(data in proptest::collection::vec(any::<u8>(), 0..128)) { super::frames(&data) }
        #[test]
        fn moldudp64(data in proptest::collection::vec(any::<u8>(), 0..512)) { super::moldudp64(&data) }
        #[test]
        fn itch(data in proptest::collection::vec(any::<u8>(), 0..256)) { super::itch(&data) }
    }

    proptest! {
        // Fewer cases: each one is a whole stream of up to ~250 messages,
        // every one checked against the model.
        #![proptest_config(ProptestConfig::with_cases(10_000))]
        #[test]
        fn book(data in proptest::collection::vec(any::<u8>(), 0..1024)) { super::book(&data) }
        #[test]
        fn fix(data in proptest::collection::vec(any::<u8>(), 0..512)) { super::fix(&data) }
    }

    proptest! {
        // Each case is a script of up to ~100 operations on an OMS and a
        // risk engine, every one followed by the consistency checks.
        #![proptest_config(ProptestConfig::with_cases(10_000))]
        #[test]
        fn order_path(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            super::order_path(&data)
        }
    }

    /// Findings of the `order_path` open-quantity check, as scripts (written
    /// to reach what the check was about; libFuzzer had not in 1.26 M
    /// runs). After a bust the OMS takes the venue's CumQty and LeavesQty
    /// as the order; risk kept its own quantity and counted the rest as
    /// filled, so it counted fewer open shares than the OMS works:
    /// - a partial fill (51 of 100) busted while the venue works the 49
    ///   left, then a replace up to 149 acknowledged: the OMS works 149,
    ///   risk counted 98;
    /// - an over-fill (101 of 100) while a replace to 200 was in flight,
    ///   busted with the venue working all 101, then the replace refused:
    ///   the OMS works 101, risk counted 100.
    ///
    /// Fixed in `risk`: `set_leaves` takes the venue's CumQty too and the
    /// order becomes what the OMS's becomes. Regression tests
    /// `after_a_bust_risk_counts_a_replace_as_the_venue_works_it` and
    /// `risk_counts_what_a_bust_reopens_on_an_overfilled_order` in
    /// `gateway`, `after_a_bust_a_replace_works_its_total_less_what_the_venue_says_filled`
    /// and `a_bust_after_an_overfill_counts_every_share_left_working` in
    /// `risk`.
    #[test]
    fn order_path_busts_leave_risk_counting_what_the_oms_works() {
        #[rustfmt::skip]
        let bust_then_replace = [
            8, // OMS 16, risk 16, unlimited
            0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, // buy 100 at $99.99, strategy 1, venue 1
            12, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, // New
            12, 6, 0, 0, 0, 0, 3, 1, 0, 2, 0, 0, 1, 1, 0, 2, 0, // fill 51 (cum 51), ExecID X1
            12, 20, 0, 0, 0, 49, 0, 0, 3, 0, 0, 0, 2, 0, 2, 0, // bust X1: cum 0, leaves 49
            10, 0, 1, 0, 0, 0, 0, // replace to 149
            12, 11, 0, 2, 0, 0, 0, 0, 0, 0, 2, 0, 0, 1, 0, 2, 0, // replaced
        ];
        #[rustfmt::skip]
        let overfill_then_bust = [
            8,
            0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, // buy 100
            10, 0, 1, 0, 0, 0, 0, // replace to 200
            12, 3, 0, 0, 0, 0, 7, 1, 2, 2, 0, 0, 1, 1, 0, 2, 0, // fill 101 (cum 101), ExecID X1
            12, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, // bust X1: cum 0, leaves 101
            12, 18, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, // replace refused
        ];
        super::order_path(&bust_then_replace);
        super::order_path(&overfill_then_bust);
    }

    /// Random scripts reach the paths the `order_path` checks are about:
    /// a harness whose orders were all refused would pass and test little.
    #[test]
    fn order_path_scripts_reach_fills_kills_and_replaces() {
        let mut total = super::order_path::Reach::default();
        for seed in 0..200 {
            let r = super::order_path::run(&noise(2 * seed + 1, 600));
            total.orders += r.orders;
            total.fills += r.fills;
            total.adjustments += r.adjustments;
            total.replaced += r.replaced;
            total.trips += r.trips;
            total.kill_cancels += r.kill_cancels;
            total.unsent += r.unsent;
            total.earlier_fills += r.earlier_fills;
        }
        let t = total;
        assert!(t.orders > 0 && t.fills > 0 && t.adjustments > 0, "{t:?}");
        assert!(t.replaced > 0 && t.trips > 0 && t.kill_cancels > 0, "{t:?}");
        assert!(t.unsent > 0 && t.earlier_fills > 0, "{t:?}");
    }

    proptest! {
        // Each case is a script of up to ~300 operations on two sessions,
        // every call followed by the checks, and a heal at the end.
        #![proptest_config(ProptestConfig::with_cases(15_000))]
        #[test]
        fn session(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            super::session(&data)
        }
    }

    /// Random scripts reach the session paths the checks are about: a
    /// harness whose sessions never logged on, resent or healed would
    /// pass and test little.
    #[test]
    fn session_scripts_reach_resends_resets_and_heals() {
        let mut t = super::session::Reach::default();
        let (mut in_place, mut converged, mut parted) = (0, 0, 0);
        for seed in 0..300 {
            let r = super::session::run(&noise(3 * seed + 2, 800));
            t.logons += r.logons;
            t.app_sent += r.app_sent;
            t.delivered += r.delivered;
            t.resent += r.resent;
            t.gap_filled += r.gap_filled;
            t.rejects += r.rejects;
            t.resets += r.resets;
            t.disconnects += r.disconnects;
            t.queued += r.queued;
            t.room_waits += r.room_waits;
            t.held_back += r.held_back;
            t.lost_with_connection += r.lost_with_connection;
            in_place += usize::from(r.healed_in_place);
            converged += usize::from(r.converged);
            parted += usize::from(!r.converged);
        }
        eprintln!(
            "REACH {t:?}, healed in place {in_place}, converged {converged}, parted {parted}"
        );
        assert!(t.logons > 0 && t.app_sent > 0 && t.delivered > 0, "{t:?}");
        assert!(t.resent > 0 && t.gap_filled > 0 && t.rejects > 0, "{t:?}");
        assert!(t.resets > 0 && t.queued > 0 && t.room_waits > 0, "{t:?}");
        assert!(t.held_back > 0 && t.lost_with_connection > 0, "{t:?}");
        assert!(in_place > 0 && converged > 0 && parted > 0);
    }

    proptest! {
        // Each case builds a two-venue pipeline (the per-locate tables of
        // two books) and runs a script of up to ~150 operations, every one
        // followed by the checks, then the heal.
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn split(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            super::split(&data)
        }
    }

    /// Finding of the `split` duplicate check (the stable runner, in its
    /// first cases, on a random 420-byte script): a split none of whose
    /// children could be sent kept the whole order's terms in risk's
    /// duplicate window, so the taker's same order at the next top of book
    /// was refused as a duplicate of one no venue ever had (a whole order
    /// that cannot be sent leaves the window). Fixed in `pipeline`
    /// (`submit_split` forgets the terms when no child went out); regression
    /// test `a_split_none_of_whose_children_went_out_may_go_again_at_once`
    /// in `pipeline/tests/split.rs`.
    #[test]
    fn split_an_unsent_split_may_go_again_at_once() {
        #[rustfmt::skip]
        let script = [
            1, // a duplicate window of a second; buy 400
            8, 0, 0, 1, 1, 0, // away: sell 200 at $100.00
            29, 3, // the next two messages are refused
            0, 1, 0, 0, 2, 0, // primary: buy 300 at $99.99
            0, 2, 0, 1, 2, 1, // primary: sell 300 at $100.01: 400 split, unsent
            0, 3, 0, 0, 0, 0, // primary: buy 100 at $99.99: the same order again
        ];
        let reach = super::split::run(&script);
        assert_eq!((reach.splits, reach.unsent_children), (2, 2), "{reach:?}");
    }

    /// Random scripts reach the paths the `split` checks are about: a
    /// harness whose taker never split an order, or whose children were
    /// never filled, canceled by the kill switch or left unsent, would pass
    /// and test little.
    #[test]
    fn split_scripts_reach_splits_fills_kills_and_heals() {
        let mut t = super::split::Reach::default();
        for seed in 0..200 {
            let r = super::split::run(&noise(5 * seed + 3, 600));
            t.whole_orders += r.whole_orders;
            t.splits += r.splits;
            t.child_fills += r.child_fills;
            t.adjustments += r.adjustments;
            t.unsent_children += r.unsent_children;
            t.limit_refusals += r.limit_refusals;
            t.kill_cancels += r.kill_cancels;
            t.canceled_on_disconnect += r.canceled_on_disconnect;
            t.parents_ended += r.parents_ended;
            t.healed_children += r.healed_children;
        }
        eprintln!("REACH {t:?}");
        assert!(
            t.whole_orders > 0 && t.splits > 0 && t.child_fills > 0,
            "{t:?}"
        );
        assert!(t.adjustments > 0 && t.unsent_children > 0, "{t:?}");
        assert!(t.limit_refusals > 0 && t.kill_cancels > 0, "{t:?}");
        assert!(t.canceled_on_disconnect > 0 && t.parents_ended > 0, "{t:?}");
        assert!(t.healed_children > 0, "{t:?}");
    }

    proptest! {
        // Each case builds a two-venue pipeline (the per-locate tables of
        // two books) and runs a script of up to ~250 operations, every one
        // followed by the checks, then the heal.
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn quoting(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            super::quoting(&data)
        }
        #[test]
        fn pairs(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            super::pairs(&data)
        }
    }

    /// Random scripts reach the paths the `quoting` checks are about: a
    /// harness whose maker never requoted, never had a replace refused or
    /// a fill while one was in flight, never held a side off, never met
    /// the kill switch or a lost venue, would pass and test little.
    #[test]
    fn quoting_scripts_reach_requotes_refusals_kills_and_heals() {
        let mut t = super::quoting::Reach::default();
        for seed in 0..200 {
            let r = super::quoting::run(&noise(7 * seed + 5, 600));
            t.quotes += r.quotes;
            t.replaces_sent += r.replaces_sent;
            t.replaces_acked += r.replaces_acked;
            t.replaces_refused += r.replaces_refused;
            t.fills += r.fills;
            t.fills_during_replace += r.fills_during_replace;
            t.cancels_refused += r.cancels_refused;
            t.unsolicited_cancels += r.unsolicited_cancels;
            t.refusal_holds += r.refusal_holds;
            t.held_quotes += r.held_quotes;
            t.inventory_blocks += r.inventory_blocks;
            t.fast_markets += r.fast_markets;
            t.halts += r.halts;
            t.disabled += r.disabled;
            t.kill_cancels += r.kill_cancels;
            t.canceled_on_disconnect += r.canceled_on_disconnect;
            t.unsent += r.unsent;
            t.healed += r.healed;
        }
        eprintln!("REACH {t:?}");
        assert!(
            t.quotes > 0 && t.replaces_sent > 0 && t.replaces_acked > 0,
            "{t:?}"
        );
        assert!(
            t.replaces_refused > 0 && t.fills > 0 && t.fills_during_replace > 0,
            "{t:?}"
        );
        assert!(t.cancels_refused > 0 && t.unsolicited_cancels > 0, "{t:?}");
        assert!(
            t.refusal_holds > 0 && t.held_quotes > 0 && t.inventory_blocks > 0,
            "{t:?}"
        );
        assert!(t.fast_markets > 0 && t.halts > 0 && t.disabled > 0, "{t:?}");
        assert!(t.kill_cancels > 0 && t.canceled_on_disconnect > 0, "{t:?}");
        assert!(t.unsent > 0 && t.healed > 0, "{t:?}");
    }

    /// Findings of the `quoting` checks by the stable runner's random
    /// scripts, kept as the seeds of `noise` that find them (each fails
    /// without its fix):
    /// - seed 750 (the quote check): a halt that arrived while trading was
    ///   paused never reached the maker (the book reports a state change
    ///   once), which quoted into the halted stock once trading resumed.
    ///   Fixed in `pipeline` (state changes are told while paused);
    ///   regression test
    ///   `a_halt_while_trading_is_paused_pulls_the_quotes_and_none_follow`.
    /// - seed 2326 (the sweep check): limits applied between inputs that a
    ///   loss already breaches trip the switch; a timer tick while trading
    ///   was paused did not sweep, so the orders stayed open until a feed
    ///   message or a report came. Fixed in `pipeline` (`on_timer` runs the
    ///   after-input step while paused); regression test
    ///   `a_tick_while_paused_sweeps_a_trip_made_between_inputs`.
    ///
    /// The first finding (the maker told an order was done that the OMS
    /// kept open for a replace in flight; fixed in `gateway`) came from an
    /// earlier weighting of the script's operations that these seeds no
    /// longer follow: its regression tests are in `gateway`
    /// (`a_refused_replace_finishes_an_order_filled_meanwhile`,
    /// `a_replace_to_no_more_than_has_filled_finishes_the_order`).
    #[test]
    fn quoting_findings_a_missed_halt_and_an_unswept_trip() {
        for seed in [750, 2326] {
            super::quoting::run(&noise(7 * seed + 5, 600));
        }
    }

    /// Finding of `cargo fuzz run quoting` (libFuzzer, after ~20,000 runs;
    /// the input as it found it): the maker's quotes refused round after
    /// round (a refusal hold of 0) left refusals for the next input, a book
    /// update that took the last ask near $100 away (the next at ITCH's
    /// largest price). The pipeline answered them after the book had taken
    /// the message but before its events reached the maker, which priced
    /// a bid off that book without having seen the spread that makes it a
    /// fast market: a replace to a bid of $214,798. Fixed in `pipeline`
    /// (`on_itch` hands deferred answers over before the message changes
    /// the book); regression test
    /// `answers_deferred_to_a_book_update_are_decided_on_the_book_before_it`.
    #[test]
    fn quoting_deferred_answers_are_decided_on_the_book_the_maker_saw() {
        super::quoting(include_bytes!(
            "../findings/quoting_deferred_answer_fast_market.bin"
        ));
    }

    /// libFuzzer's input (the committed target, before the sweep's
    /// intents went through risk in their own input): the kill's cancel of
    /// an order with a replace in flight could not be sent; told so, the
    /// maker canceled the order itself, and that cancel waited in the
    /// pipeline's queue. After a re-arm nothing sent it: the maker waited
    /// for a cancel no one had in flight.
    #[test]
    fn quoting_a_cancel_made_during_the_sweep_goes_in_its_input() {
        super::quoting(include_bytes!(
            "../findings/quoting_kill_sweep_cancel_after_rearm.bin"
        ));
    }

    /// libFuzzer's input after a pair made flat considers an entry on the
    /// same decision: an exiting pair's answers deferred from the last
    /// input are decided first (another flattening IOC, which could not be
    /// sent), then the report of its last exit fill makes it flat and it
    /// enters, all in one input. The behaviour is right; the harness took
    /// the flatten for an entry leg and now tells them apart.
    #[test]
    fn pairs_a_flatten_then_an_entry_in_one_input() {
        super::pairs(include_bytes!(
            "../findings/pairs_flatten_then_entry_in_one_input.bin"
        ));
    }

    /// libFuzzer's input: a one-legged entry's unwind must buy Y back at
    /// an ask of `ITCH_MAX`, a price plus slippage the wire cannot carry,
    /// so the pair sends nothing and tries again at its next decision. The
    /// behaviour is right; the harness now asks for a flatten only where
    /// its price can be sent.
    #[test]
    fn pairs_an_unpriceable_flatten_waits() {
        super::pairs(include_bytes!("../findings/pairs_unpriceable_flatten.bin"));
    }

    /// Random scripts reach the paths the `pairs` checks are about: a
    /// harness whose pair never entered, exited, stopped, unwound a
    /// one-legged entry or held a leg off after a refusal would pass and
    /// test little.
    #[test]
    fn pairs_scripts_reach_entries_exits_stops_unwinds_and_holds() {
        let mut total = super::pairs::Reach::default().counts();
        for seed in 0..200 {
            let counts = super::pairs::run(&noise(11 * seed + 7, 600)).counts();
            for (sum, (_, n)) in total.iter_mut().zip(counts) {
                sum.1 += n;
            }
        }
        eprintln!("REACH {total:?}");
        assert!(total.iter().all(|&(_, n)| n > 0), "{total:?}");
    }

    /// Deterministic pseudo-random bytes (xorshift64*), for the reach tests.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }

    /// The structured `book` streams reach every anomaly path the model
    /// knows, in every reference spread: a harness that only ever saw
    /// "unknown order" would pass its checks and test little.
    #[test]
    fn book_structured_streams_reach_the_anomaly_paths() {
        for spread in 0..4u8 {
            let mut total = ::book::Counters::default();
            for seed in 0..100 {
                let mut data = noise(seed * 4 + u64::from(spread) + 1, 401);
                // Structured mode, lag from the seed, this reference spread.
                data[0] = 1 | ((seed as u8 & 3) << 1) | (spread << 3);
                let c = super::book::run(&data);
                total.messages += c.messages;
                total.unknown_order += c.unknown_order;
                total.duplicate_order += c.duplicate_order;
                total.negative_quantity += c.negative_quantity;
                total.zero_quantity += c.zero_quantity;
                total.bad_locate += c.bad_locate;
                total.crossed_book += c.crossed_book;
                total.order_table_full += c.order_table_full;
                total.level_pool_full += c.level_pool_full;
                total.ignored += c.ignored;
            }
            let t = total;
            assert!(
                t.messages > 0 && t.unknown_order > 0 && t.duplicate_order > 0,
                "{t:?}"
            );
            assert!(
                t.negative_quantity > 0 && t.zero_quantity > 0 && t.bad_locate > 0,
                "{t:?}"
            );
            assert!(t.crossed_book > 0 && t.order_table_full > 0, "{t:?}");
            assert!(t.level_pool_full > 0 && t.ignored > 0, "{t:?}");
        }
    }

    /// Finding of `cargo fuzz run fix` (libFuzzer, after ~59,000 runs): an
    /// envelope with BodyLength 0 and a right CheckSum. `FixMessage::parse`
    /// refuses it (BadBodyLength: a body must hold at least MsgType); a fresh
    /// `FixDecoder` accepts it as a view with no field and an empty MsgType,
    /// and its `new_checked` answers MissingField(49), which a session does
    /// not treat as garbled. The decoder is documented to accept and refuse
    /// exactly what the plain parser does. Fixed: an empty layout slot no
    /// longer matches an empty body.
    #[test]
    fn decoder_refuses_an_empty_body_as_parse_does() {
        // The harness panics when the decoder and the plain parser differ;
        // the exact error is pinned in `protocol` by
        // `an_empty_body_is_refused_as_the_plain_parser_refuses_it`.
        for msg in [
            &b"8=FIX.4.4\x019=0\x0110=200\x01"[..],
            b"8=FIX.4.2\x019=0\x0110=198\x01",
            b"8=FIX.4.4\x019=00\x0110=248\x01",
        ] {
            super::fix(msg);
        }
    }

    /// The `fix` target's near misses meet learned layouts: some messages
    /// are matched against one, others (edited ones) fall back.
    #[test]
    fn fix_near_misses_exercise_learned_layouts() {
        let (mut hits, mut misses) = (0, 0);
        for seed in 0..200 {
            let (h, m) = super::fix::run(&noise(seed + 1, 200));
            hits += h;
            misses += m;
        }
        assert!(hits > 0 && misses > 0, "hits {hits}, misses {misses}");
    }
}
