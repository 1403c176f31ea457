//! TCP for the order path: smoltcp over a [`nic::Nic`].
//!
//! [`NicDevice`] lets smoltcp drive any of our NICs without copying on
//! receive (smoltcp parses the frame in its pool buffer) and with batched
//! transmit: frames smoltcp emits during one poll collect in a batch that
//! [`NicDevice::flush`] hands to the NIC in one `tx_batch` (one doorbell).
//!
//! [`TcpLink`] holds the outgoing connections (one FIX session per venue)
//! over one interface, each with Nagle's algorithm and delayed ACKs off and
//! its own reconnection with exponential backoff when its venue goes away.
//!
//! **Retransmission floor.** smoltcp never sets its retransmission timeout
//! below 1 s (`RTTE_MIN_RTO`). A lost last segment of a burst (an order with
//! nothing behind it) therefore reaches the venue ≥ 1 s late. The FIX session
//! copes by design: sequence numbers make late or duplicate delivery safe,
//! and the appliance's risk treats an unacknowledged order as live
//! ("orders entered") until the venue answers. On a switched, lossless
//! exchange LAN this path is rare; the latency histograms make it visible.

use nic::mempool::{Mempool, PacketBatch, PacketBuf};
use nic::Nic;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address};

/// Frames taken from the NIC per `rx_batch` call.
const RX_BATCH: usize = 16;
/// Frames collected before a flush is forced.
const TX_BATCH: usize = 32;
/// Largest Ethernet frame without FCS.
const MAX_FRAME: usize = 1514;

/// A NIC as a smoltcp device (queue 0).
pub struct NicDevice<'p, N: Nic<'p>> {
    nic: N,
    rx: PacketBatch<'p, RX_BATCH>,
    tx: PacketBatch<'p, TX_BATCH>,
    /// Frames smoltcp wanted to send when the pool had no buffer, or the
    /// NIC's ring was still full at flush time (TCP will retransmit).
    pub tx_dropped: u64,
}

impl<'p, N: Nic<'p>> NicDevice<'p, N> {
    pub fn new(nic: N) -> Self {
        NicDevice {
            nic,
            rx: PacketBatch::new(),
            tx: PacketBatch::new(),
            tx_dropped: 0,
        }
    }

    /// Sends everything smoltcp emitted since the last flush, in one batch.
    pub fn flush(&mut self) {
        if self.tx.is_empty() {
            return;
        }
        self.nic.tx_batch(0, &mut self.tx);
        // What the ring could not take now is retried at the next flush,
        // unless the batch is full: then the oldest are dropped (counted).
        while self.tx.is_full() {
            self.tx.pop_front();
            self.tx_dropped += 1;
        }
    }

    pub fn nic(&mut self) -> &mut N {
        &mut self.nic
    }
}

/// A received frame, still in its pool buffer.
pub struct NicRx<'p> {
    buf: PacketBuf<'p>,
}

impl RxToken for NicRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.buf.data())
    }
}

/// Permission to queue one frame for the next flush.
pub struct NicTx<'a, 'p> {
    pool: &'p Mempool,
    tx: &'a mut PacketBatch<'p, TX_BATCH>,
    dropped: &'a mut u64,
}

impl TxToken for NicTx<'_, '_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        if let Some(mut buf) = self.pool.alloc() {
            if buf.set_len(len) {
                let result = f(buf.data_mut());
                if let Err(buf) = self.tx.push_back(buf) {
                    drop(buf);
                    *self.dropped += 1;
                }
                return result;
            }
        }
        // No buffer (or an impossible length): smoltcp still needs somewhere
        // to write; the frame is dropped and counted, TCP retransmits it.
        let mut scratch = [0u8; MAX_FRAME];
        *self.dropped += 1;
        f(&mut scratch[..len.min(MAX_FRAME)])
    }
}

impl<'p, N: Nic<'p>> Device for NicDevice<'p, N> {
    type RxToken<'a>
        = NicRx<'p>
    where
        Self: 'a;
    type TxToken<'a>
        = NicTx<'a, 'p>
    where
        Self: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if self.rx.is_empty() {
            self.nic.rx_batch(0, &mut self.rx);
        }
        let buf = self.rx.pop_front()?;
        let pool = self.nic.pool();
        Some((
            NicRx { buf },
            NicTx {
                pool,
                tx: &mut self.tx,
                dropped: &mut self.tx_dropped,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        if self.tx.is_full() {
            self.flush();
        }
        let pool = self.nic.pool();
        Some(NicTx {
            pool,
            tx: &mut self.tx,
            dropped: &mut self.tx_dropped,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps.max_burst_size = Some(TX_BATCH);
        caps
    }
}

/// Where the link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Waiting until the backoff allows the next attempt.
    Idle,
    Connecting,
    Connected,
}

/// What changed during a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEvent {
    Connected,
    /// The connection is gone (closed by the peer, reset, or timed out).
    Disconnected,
}

/// Exponential backoff between connection attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial_ns: u64,
    pub max_ns: u64,
    current_ns: u64,
}

impl Backoff {
    pub const fn new(initial_ns: u64, max_ns: u64) -> Backoff {
        Backoff {
            initial_ns,
            max_ns,
            current_ns: initial_ns,
        }
    }

    /// The delay before the next attempt; doubles each time up to `max_ns`.
    pub fn next_delay(&mut self) -> u64 {
        let d = self.current_ns;
        self.current_ns = (self.current_ns.saturating_mul(2)).min(self.max_ns);
        d
    }

    pub fn reset(&mut self) {
        self.current_ns = self.initial_ns;
    }
}

/// Addresses of the link (one interface on the order NIC).
#[derive(Debug, Clone, Copy)]
pub struct LinkConfig {
    pub mac: [u8; 6],
    pub address: [u8; 4],
    pub prefix_len: u8,
    pub gateway: [u8; 4],
    /// Seed for smoltcp's initial sequence numbers; vary it per boot.
    pub seed: u64,
}

/// Connections one link can hold (one per venue session).
pub const MAX_CONNECTIONS: usize = 4;

/// One connection of a [`TcpLink`], as [`TcpLink::connect_to`] returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnId(usize);

impl ConnId {
    /// Position in the order the connections were added.
    pub fn index(self) -> usize {
        self.0
    }
}

/// An IPv4 address and TCP port.
pub type Address = ([u8; 4], u16);

/// Where one connection goes.
#[derive(Debug, Clone, Copy)]
pub struct Remote {
    pub addr: ([u8; 4], u16),
    /// A second gateway of the same venue, if it has one: after an attempt
    /// that fails, or a connection that is lost, the next attempt goes to
    /// the other gateway (as a FIX engine's list of hosts is cycled).
    pub backup: Option<([u8; 4], u16)>,
    /// First local port; each attempt takes the next (see `poll`). Give
    /// connections disjoint ranges.
    pub local_port: u16,
    pub backoff: Backoff,
}

struct Connection {
    handle: SocketHandle,
    remote: Remote,
    /// The current (or next) attempt goes to `remote.backup`.
    on_backup: bool,
    state: LinkState,
    backoff: Backoff,
    next_attempt_ns: u64,
    next_port: u16,
    connects: u32,
    disconnects: u32,
    /// A graceful close not finished by then is cut short (RST): a peer
    /// that never sends its FIN must not keep the connection half-closed.
    close_by_ns: u64,
}

/// Outgoing TCP connections (FIX sessions to venues) over one interface,
/// each kept up on its own.
pub struct TcpLink<'s> {
    iface: Interface,
    sockets: SocketSet<'s>,
    connections: heapless::Vec<Connection, MAX_CONNECTIONS>,
    /// Entries in the socket storage the caller gave.
    storage_len: usize,
}

impl Connection {
    /// The gateway of the current (or next) attempt.
    fn gateway(&self) -> Address {
        match (self.on_backup, self.remote.backup) {
            (true, Some(backup)) => backup,
            _ => self.remote.addr,
        }
    }

    /// An attempt failed or the connection was lost: the next attempt,
    /// after the backoff, goes to the other gateway when there are two.
    fn retry_later(&mut self, now_ns: u64) {
        self.next_attempt_ns = now_ns + self.backoff.next_delay();
        self.on_backup = alternate(self.on_backup, self.remote.backup.is_some());
    }
}

/// Whether the attempt after a failed or lost one goes to the backup
/// gateway: the gateways take turns when there are two.
fn alternate(on_backup: bool, has_backup: bool) -> bool {
    has_backup && !on_backup
}

fn instant(now_ns: u64) -> Instant {
    Instant::from_micros((now_ns / 1000) as i64)
}

/// A connection attempt the venue does not answer is given up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A graceful close the peer does not finish is cut short after this.
const CLOSE_TIMEOUT_NS: u64 = 2_000_000_000;

/// Local ports span this many numbers per connection before wrapping.
const PORT_SPAN: u16 = 4_096;

impl<'s> TcpLink<'s> {
    /// `storage` holds the sockets, one entry per connection to be added.
    pub fn new<'p, N: Nic<'p>>(
        device: &mut NicDevice<'p, N>,
        config: LinkConfig,
        storage: &'s mut [SocketStorage<'s>],
        now_ns: u64,
    ) -> TcpLink<'s> {
        let mut iface_config = Config::new(HardwareAddress::Ethernet(EthernetAddress(config.mac)));
        iface_config.random_seed = config.seed;
        let mut iface = Interface::new(iface_config, device, instant(now_ns));
        let [a, b, c, d] = config.address;
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(IpAddress::v4(a, b, c, d), config.prefix_len));
        });
        let [g0, g1, g2, g3] = config.gateway;
        let _ = iface
            .routes_mut()
            .add_default_ipv4_route(Ipv4Address::new(g0, g1, g2, g3));
        let storage_len = storage.len();
        TcpLink {
            iface,
            sockets: SocketSet::new(storage),
            connections: heapless::Vec::new(),
            storage_len,
        }
    }

    /// Adds a connection to `remote`, first attempt at the next poll;
    /// `rx`/`tx` are its buffers (fixed for the life of the link: nothing
    /// allocates). `None` when the link holds [`MAX_CONNECTIONS`] already
    /// or `storage` has no free entry.
    pub fn connect_to(
        &mut self,
        remote: Remote,
        rx: &'s mut [u8],
        tx: &'s mut [u8],
        now_ns: u64,
    ) -> Option<ConnId> {
        // A `SocketSet` over a borrowed slice panics when full: check first.
        if self.connections.is_full() || self.connections.len() >= self.storage_len {
            return None;
        }
        let socket = tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
        let handle = self.sockets.add(socket);
        let id = ConnId(self.connections.len());
        self.connections
            .push(Connection {
                handle,
                remote,
                on_backup: false,
                state: LinkState::Idle,
                backoff: remote.backoff,
                next_attempt_ns: now_ns,
                next_port: remote.local_port,
                connects: 0,
                disconnects: 0,
                close_by_ns: u64::MAX,
            })
            .ok()?;
        Some(id)
    }

    pub fn state(&self, id: ConnId) -> LinkState {
        self.connections
            .get(id.0)
            .map_or(LinkState::Idle, |c| c.state)
    }

    /// (connections made, connections lost) of `id`.
    pub fn counts(&self, id: ConnId) -> (u32, u32) {
        self.connections
            .get(id.0)
            .map_or((0, 0), |c| (c.connects, c.disconnects))
    }

    /// Moves packets and every connection along; call every loop iteration.
    /// Returns what happened to which connection in this poll.
    pub fn poll<'p, N: Nic<'p>>(
        &mut self,
        device: &mut NicDevice<'p, N>,
        now_ns: u64,
    ) -> heapless::Vec<(ConnId, LinkEvent), MAX_CONNECTIONS> {
        let now = instant(now_ns);
        for c in self.connections.iter_mut() {
            if c.state != LinkState::Idle || now_ns < c.next_attempt_ns {
                continue;
            }
            let ([a, b, cc, d], remote_port) = c.gateway();
            let remote = IpEndpoint::new(IpAddress::v4(a, b, cc, d), remote_port);
            // A fresh local port per attempt, so a late segment of the old
            // connection cannot be taken for the new one.
            let port = c.next_port;
            c.next_port = if port >= c.remote.local_port.saturating_add(PORT_SPAN - 1) {
                c.remote.local_port
            } else {
                port + 1
            };
            let cx = self.iface.context();
            let socket = self.sockets.get_mut::<tcp::Socket>(c.handle);
            // A venue whose host drops our SYNs silently is given up on
            // after this, and tried again after the backoff (without a
            // timeout smoltcp retries the SYN for as long as it takes, its
            // retransmission delay growing to a minute).
            socket.set_timeout(Some(CONNECT_TIMEOUT));
            match socket.connect(cx, remote, port) {
                Ok(()) => c.state = LinkState::Connecting,
                Err(_) => c.retry_later(now_ns),
            }
        }
        self.iface.poll(now, device, &mut self.sockets);
        device.flush();
        let mut events = heapless::Vec::new();
        for (i, c) in self.connections.iter_mut().enumerate() {
            let socket = self.sockets.get_mut::<tcp::Socket>(c.handle);
            if now_ns >= c.close_by_ns {
                socket.abort();
            }
            match (c.state, socket.state()) {
                (LinkState::Connecting, tcp::State::Established) => {
                    socket.set_nagle_enabled(false);
                    socket.set_ack_delay(None);
                    socket.set_keep_alive(Some(Duration::from_secs(5)));
                    socket.set_timeout(Some(Duration::from_secs(30)));
                    c.state = LinkState::Connected;
                    // The backoff starts again from its shortest delay only
                    // when the session above says the connection is good
                    // (`session_up`): a venue that takes TCP and refuses
                    // the Logon is not hammered every 100 ms.
                    c.connects += 1;
                    let _ = events.push((ConnId(i), LinkEvent::Connected));
                }
                (
                    LinkState::Connecting | LinkState::Connected,
                    tcp::State::Closed | tcp::State::TimeWait,
                )
                | (LinkState::Connected, tcp::State::CloseWait) => {
                    if c.state == LinkState::Connected {
                        c.disconnects += 1;
                        let _ = events.push((ConnId(i), LinkEvent::Disconnected));
                    }
                    socket.abort();
                    c.state = LinkState::Idle;
                    c.close_by_ns = u64::MAX;
                    // After `close` the connection stays down until `reconnect`.
                    if c.next_attempt_ns != u64::MAX {
                        c.retry_later(now_ns);
                    }
                }
                _ => {}
            }
        }
        events
    }

    fn parts(&mut self, id: ConnId) -> Option<(&mut Connection, &mut tcp::Socket<'s>)> {
        let c = self.connections.get_mut(id.0)?;
        let socket = self.sockets.get_mut::<tcp::Socket>(c.handle);
        Some((c, socket))
    }

    /// Queues bytes for sending on `id`; returns how many fit in its buffer.
    pub fn send(&mut self, id: ConnId, data: &[u8]) -> usize {
        match self.parts(id) {
            Some((c, socket)) if c.state == LinkState::Connected => {
                socket.send_slice(data).unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// Takes bytes received on `id`.
    pub fn recv(&mut self, id: ConnId, buf: &mut [u8]) -> usize {
        match self.parts(id) {
            Some((_, socket)) if socket.can_recv() => socket.recv_slice(buf).unwrap_or(0),
            _ => 0,
        }
    }

    /// Abandons connection `id` at once (RST) and reconnects after the
    /// backoff: for a peer found dead above TCP (e.g. the FIX session's
    /// TestRequest went unanswered) while TCP itself saw nothing — as
    /// behind a NAT or proxy that never forwards the far end's close.
    pub fn reset(&mut self, id: ConnId, now_ns: u64) {
        if let Some((c, socket)) = self.parts(id) {
            socket.abort();
            if c.state == LinkState::Connected {
                c.disconnects += 1;
            }
            c.state = LinkState::Idle;
            c.close_by_ns = u64::MAX;
            c.retry_later(now_ns);
        }
    }

    /// The session on `id` is up: the next reconnection, if one is needed,
    /// starts from the shortest delay again.
    pub fn session_up(&mut self, id: ConnId) {
        if let Some(c) = self.connections.get_mut(id.0) {
            c.backoff.reset();
        }
    }

    /// Closes connection `id` gracefully — FIN after the bytes already
    /// queued, such as a Logout the peer must get — and connects again
    /// after the backoff once it is closed.
    pub fn close_and_reconnect(&mut self, id: ConnId, now_ns: u64) {
        if let Some((c, socket)) = self.parts(id) {
            socket.close();
            c.close_by_ns = now_ns.saturating_add(CLOSE_TIMEOUT_NS);
        }
    }

    /// Closes connection `id` (FIN) and stops reconnecting until `reconnect`.
    pub fn close(&mut self, id: ConnId) {
        if let Some((c, socket)) = self.parts(id) {
            socket.close();
            c.next_attempt_ns = u64::MAX;
        }
    }

    /// Where connection `id`'s attempts go from the next one on, starting
    /// with `addr` (gateways named by a configuration applied while
    /// trading); a connection that is up stays where it is.
    pub fn set_gateways(&mut self, id: ConnId, addr: Address, backup: Option<Address>) {
        if let Some(c) = self.connections.get_mut(id.0) {
            c.remote.addr = addr;
            c.remote.backup = backup;
            c.on_backup = false;
        }
    }

    /// Connection `id`'s gateways: the first and the backup.
    pub fn gateways(&self, id: ConnId) -> Option<(Address, Option<Address>)> {
        self.connections
            .get(id.0)
            .map(|c| (c.remote.addr, c.remote.backup))
    }

    /// The gateway connection `id` is connected (or connecting) to, or
    /// will try next.
    pub fn gateway(&self, id: ConnId) -> Option<Address> {
        self.connections.get(id.0).map(Connection::gateway)
    }

    /// Allows a new connection attempt on `id` now.
    pub fn reconnect(&mut self, id: ConnId, now_ns: u64) {
        if let Some(c) = self.connections.get_mut(id.0) {
            c.next_attempt_ns = now_ns;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_take_turns_between_two_gateways() {
        let mut on_backup = false;
        let turns: heapless::Vec<bool, 4> = (0..4)
            .map(|_| {
                on_backup = alternate(on_backup, true);
                on_backup
            })
            .collect();
        assert_eq!(turns.as_slice(), &[true, false, true, false]);
        assert!(!alternate(false, false), "one gateway: always the first");
        assert!(!alternate(true, false), "a backup taken away: the first");
    }

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff::new(100, 1_000);
        let delays: heapless::Vec<u64, 8> = (0..6).map(|_| b.next_delay()).collect();
        assert_eq!(delays.as_slice(), &[100, 200, 400, 800, 1_000, 1_000]);
        b.reset();
        assert_eq!(b.next_delay(), 100);
    }
}
