//! Connection collision resolution (RFC 4271 6.8): while a session is in
//! OpenSent or OpenConfirm a second connection with the same peer may come
//! up (both sides connected at once). Once the peer's BGP identifier is
//! known, the connection opened by the side with the higher identifier
//! stays; the other is closed with Cease / Connection Collision Resolution.
//! An Established session always stays (the newcomer is closed).

use std::time::Instant;

use netgauze_bgp_pkt::notification::{BgpNotificationMessage, CeaseError};

use super::codec::{self, DecodeContext, Received};
use super::fsm::{Action, Conn, Direction, Session, State, fsm_error, notify};
use super::open;

fn collision_cease() -> BgpNotificationMessage {
    BgpNotificationMessage::CeaseError(CeaseError::ConnectionCollisionResolution {
        value: Box::new([]),
    })
}

fn reject(conn: &Conn, n: BgpNotificationMessage, out: &mut Vec<Action>) {
    out.push(notify(conn.id, n));
    out.push(Action::Close { conn: conn.id });
}

impl Session {
    /// Does `contender` win against the primary, the peer's identifier being
    /// `peer_id`? Two connections of the same direction: the older stays.
    fn contender_wins(&self, contender: &Conn, peer_id: std::net::Ipv4Addr) -> bool {
        let Some(primary) = &self.primary else {
            return true;
        };
        let keep_incoming = u32::from(self.config.local.router_id) < u32::from(peer_id);
        primary.dir != contender.dir && (contender.dir == Direction::Incoming) == keep_incoming
    }

    /// A connection came up while one is already past Connect/Active.
    pub(super) fn collision(&mut self, conn: Conn, now: Instant, out: &mut Vec<Action>) {
        match self.state {
            State::OpenConfirm => self.resolve(conn, false, now, out),
            State::OpenSent if self.contender.is_none() => {
                out.push(Action::Send {
                    conn: conn.id,
                    message: self.our_open(),
                });
                self.contender = Some(conn);
            }
            // Established, or a third connection.
            _ => reject(&conn, collision_cease(), out),
        }
    }

    /// Resolves against the primary, whose OPEN gave the peer's identifier.
    /// `has_open`: our OPEN was sent on the contender already.
    pub(super) fn resolve(
        &mut self,
        contender: Conn,
        has_open: bool,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(peer_id) = self.negotiated.as_ref().map(|n| n.peer_id) else {
            self.contender = Some(contender);
            return;
        };
        if !self.contender_wins(&contender, peer_id) {
            return reject(&contender, collision_cease(), out);
        }
        if let Some(primary) = self.primary.take() {
            reject(&primary, collision_cease(), out);
        }
        if has_open {
            self.await_open(contender, now, out);
        } else {
            self.open_sent(contender, now, out);
        }
    }

    /// A message on the contender (our OPEN sent, the primary in OpenSent).
    pub(super) fn contender_received(&mut self, frame: &[u8], now: Instant, out: &mut Vec<Action>) {
        let Some(contender) = self.contender.take() else {
            return;
        };
        let ctx = DecodeContext::initial(self.config.peer_asn, self.config.ibgp());
        let open = match codec::decode(frame, &ctx) {
            Ok(Received::Open(open)) => open,
            Ok(Received::Notification(_)) => {
                return out.push(Action::Close { conn: contender.id });
            }
            Ok(_) => return reject(&contender, fsm_error(State::OpenSent), out),
            Err(n) => return reject(&contender, n, out),
        };
        let negotiated = match open::negotiate(
            &self.config.local,
            self.config.keepalive,
            self.config.peer_asn,
            &open,
        ) {
            Ok(n) => n,
            Err(e) => {
                return reject(&contender, BgpNotificationMessage::OpenMessageError(e), out);
            }
        };
        if !self.contender_wins(&contender, negotiated.peer_id) {
            return reject(&contender, collision_cease(), out);
        }
        if let Some(primary) = self.primary.take() {
            reject(&primary, collision_cease(), out);
        }
        let id = contender.id;
        self.primary = Some(contender);
        self.open_confirm(id, negotiated, now, out);
    }
}

#[cfg(test)]
#[path = "fsm_collision_tests.rs"]
mod tests;
