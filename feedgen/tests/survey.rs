//! `survey::Survey`: the instrument the backtest and the peer benchmarks
//! choose from an ITCH stream.

use feedgen::survey::Survey;
use protocol::itch::{AddOrderRepr, Header, MessageRepr, StockDirectoryRepr};
use types::{Price, Side, Symbol};

fn bytes(repr: MessageRepr) -> Vec<u8> {
    let mut b = vec![0u8; repr.len()];
    repr.emit(&mut b).unwrap();
    b
}

fn header(locate: u16) -> Header {
    Header {
        stock_locate: locate,
        tracking_number: 0,
        timestamp: 1,
    }
}

/// The instrument to trade: the symbol asked for, by the stock directory,
/// or the busiest locate (the lower of a tie); a symbol not listed or a
/// stream with no instrument is an error, not a guess.
#[test]
fn the_survey_picks_the_symbol_asked_for_or_the_busiest() {
    let listing = |locate: u16, name: &str| {
        bytes(StockDirectoryRepr::common_stock(header(locate), Symbol::new(name).unwrap()).into())
    };
    let add_at = |locate: u16, order_ref: u64| {
        bytes(MessageRepr::AddOrder(AddOrderRepr {
            header: header(locate),
            order_ref,
            side: Side::Buy,
            shares: 100,
            stock: Symbol::new("ANY").unwrap(),
            price: Price(100_0000),
        }))
    };
    let mut survey = Survey::default();
    assert!(survey.pick(None).is_err());
    for m in [listing(7, "BBB"), listing(3, "CCC"), listing(5, "DDD")] {
        survey.add(&m);
    }
    for (locate, n) in [(7, 3), (3, 5), (5, 5)] {
        for i in 0..n {
            survey.add(&add_at(locate, u64::from(locate) * 100 + i));
        }
    }
    // A truncated add: malformed, and not counted for its locate.
    survey.add(b"A\x00\x07");
    assert_eq!((survey.total, survey.malformed), (17, 1));
    // Locates 3 and 5 tie with six messages each (directory included).
    assert_eq!(survey.pick(None), Ok((3, Symbol::new("CCC").unwrap())));
    assert_eq!(
        survey.pick(Some("BBB")),
        Ok((7, Symbol::new("BBB").unwrap()))
    );
    assert!(survey.pick(Some("ZZZ")).is_err());
    assert!(survey.pick(Some("much too long")).is_err());
}
