//! A typed rule as nf_tables expressions, the way nft 1.0.6 compiles the
//! same statement (so `nft list` shows both the same): a one-element `{ … }`
//! becomes a compare (a prefix compares only its whole bytes, or masks), a
//! longer one an anonymous set declared just before the rule.

use ipnet::IpNet;
use netlink_packet_netfilter::nftables::{MetaKey, Operator, SetAttribute};

use super::elem::{Elem, addr_bytes, anonymous_intervals, element};
use super::expr::{self, BASE_NETWORK, BASE_TRANSPORT, Expr, register_at};
use super::set::{ANON_MAP, ANON_SET, AddrField, anonymous_addrs, anonymous_numgen_map};
use crate::host::nft::{Family, MASQUERADE_MARK, Match, Rule, Stmt, VmapKey};

/// `RTN_LOCAL`, the address type `fib … type local` compares with.
const RTN_LOCAL: u32 = 2;
/// `IP_CT_NEW` as a `ct state` bit.
const CT_STATE_NEW: u32 = 8;
/// ICMP / ICMPv6 port unreachable.
const ICMP_PORT_UNREACH: u8 = 3;
const ICMPV6_PORT_UNREACH: u8 = 4;
/// `NFPROTO_IPV4`, `NFPROTO_IPV6`.
pub const NFPROTO_IPV4: u8 = 2;
pub const NFPROTO_IPV6: u8 = 10;

/// An anonymous set or map a rule needs, declared (and filled) before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnonSet {
    pub id: u32,
    pub name: &'static str,
    pub attrs: Vec<SetAttribute>,
    pub elements: Vec<Elem>,
}

/// A rule's expressions and the anonymous sets they look up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodedRule {
    pub anon: Vec<AnonSet>,
    pub exprs: Vec<Expr>,
}

pub fn nfproto(family: Family) -> u8 {
    match family {
        Family::Ip => NFPROTO_IPV4,
        Family::Ip6 => NFPROTO_IPV6,
    }
}

/// Offset and length of an address field in the network header.
fn addr_field(family: Family, field: AddrField) -> (u32, u32) {
    match (family, field) {
        (Family::Ip, AddrField::Saddr) => (12, 4),
        (Family::Ip, AddrField::Daddr) => (16, 4),
        (Family::Ip6, AddrField::Saddr) => (8, 16),
        (Family::Ip6, AddrField::Daddr) => (24, 16),
    }
}

struct Encoder<'a> {
    family: Family,
    next_set_id: &'a mut u32,
    out: EncodedRule,
}

/// Encodes `rule`; anonymous sets get ids from `next_set_id` (unique in the
/// batch). `Err` names what cannot be encoded.
pub fn encode(family: Family, rule: &Rule, next_set_id: &mut u32) -> Result<EncodedRule, String> {
    let mut enc = Encoder {
        family,
        next_set_id,
        out: EncodedRule::default(),
    };
    for stmt in &rule.stmts {
        enc.stmt(stmt)?;
    }
    Ok(enc.out)
}

impl Encoder<'_> {
    fn push(&mut self, e: Expr) {
        self.out.exprs.push(e);
    }

    fn load_addr(&mut self, field: AddrField) {
        let (offset, len) = addr_field(self.family, field);
        self.push(expr::payload(BASE_NETWORK, offset, len, register_at(0)));
    }

    fn new_set_id(&mut self) -> u32 {
        *self.next_set_id += 1;
        *self.next_set_id
    }

    fn stmt(&mut self, stmt: &Stmt) -> Result<(), String> {
        match stmt {
            Stmt::Match(m) => self.matches(m)?,
            Stmt::VmapLookup { key, map } => {
                let addr_words = addr_field(self.family, AddrField::Daddr).1 / 4;
                let port_word = match key {
                    VmapKey::DaddrProtoPort => {
                        self.load_addr(AddrField::Daddr);
                        self.push(expr::meta_load(MetaKey::L4Proto, register_at(addr_words)));
                        addr_words + 1
                    }
                    VmapKey::ProtoPort => {
                        self.push(expr::meta_load(MetaKey::L4Proto, register_at(0)));
                        1
                    }
                };
                self.push(expr::payload(BASE_TRANSPORT, 2, 2, register_at(port_word)));
                self.push(expr::lookup(map, None, true, false));
            }
            Stmt::NumgenVmap(targets) => {
                let id = self.new_set_id();
                let elements: Vec<Elem> = targets
                    .iter()
                    .enumerate()
                    .map(|(i, v)| element((i as u32).to_ne_bytes().to_vec(), Some(v)))
                    .collect();
                self.out.anon.push(AnonSet {
                    id,
                    name: ANON_MAP,
                    attrs: anonymous_numgen_map(elements.len() as u32, id),
                    elements,
                });
                self.push(expr::numgen_random(targets.len() as u32));
                self.push(expr::lookup(ANON_MAP, Some(id), true, false));
            }
            Stmt::SetMasqueradeMark => self.mark_update(!MASQUERADE_MARK),
            Stmt::ClearMasqueradeMark => self.mark_update(u32::MAX),
            Stmt::Masquerade => self.push(expr::masquerade_fully_random()),
            Stmt::Dnat(to) => {
                self.push(expr::immediate(register_at(0), addr_bytes(to.ip())));
                self.push(expr::immediate(
                    register_at(4),
                    to.port().to_be_bytes().to_vec(),
                ));
                self.push(expr::dnat(nfproto(self.family)));
            }
            Stmt::UpdateSaddrSet(set) => {
                self.load_addr(AddrField::Saddr);
                self.push(expr::dynset_update(set, None));
            }
            Stmt::Reject => self.push(expr::reject(match self.family {
                Family::Ip => ICMP_PORT_UNREACH,
                Family::Ip6 => ICMPV6_PORT_UNREACH,
            })),
            Stmt::Verdict(v) => self.push(expr::verdict(v)),
        }
        Ok(())
    }

    /// `meta mark set meta mark & MASK ^ 0x4000` (`|` is `& !bit ^ bit`).
    fn mark_update(&mut self, mask: u32) {
        self.push(expr::meta_load(MetaKey::Mark, register_at(0)));
        self.push(expr::bitwise(
            mask.to_ne_bytes().to_vec(),
            MASQUERADE_MARK.to_ne_bytes().to_vec(),
            true,
        ));
        self.push(expr::meta_set(MetaKey::Mark));
    }

    fn matches(&mut self, m: &Match) -> Result<(), String> {
        let zero = 0u32.to_ne_bytes().to_vec();
        match m {
            Match::CtStateNew => {
                self.push(expr::ct_state());
                self.push(expr::bitwise(
                    CT_STATE_NEW.to_ne_bytes().to_vec(),
                    zero.clone(),
                    false,
                ));
                self.push(expr::cmp(Operator::NotEqual, zero));
            }
            Match::FibDaddrLocal | Match::FibSaddrLocal => {
                self.push(expr::fib_addr_type(matches!(m, Match::FibDaddrLocal)));
                self.push(expr::cmp(Operator::Equal, RTN_LOCAL.to_ne_bytes().to_vec()));
            }
            Match::DaddrInSet(set) | Match::SaddrInSet(set) => {
                let field = if matches!(m, Match::DaddrInSet(_)) {
                    AddrField::Daddr
                } else {
                    AddrField::Saddr
                };
                self.load_addr(field);
                self.push(expr::lookup(set, None, false, false));
            }
            Match::DaddrIn(nets) => self.nets(AddrField::Daddr, nets, false)?,
            Match::DaddrNotIn(nets) => self.nets(AddrField::Daddr, nets, true)?,
            Match::SaddrIn(nets) => self.nets(AddrField::Saddr, nets, false)?,
            Match::SaddrNotIn(nets) => self.nets(AddrField::Saddr, nets, true)?,
            Match::L4Proto(p) => {
                self.push(expr::meta_load(MetaKey::L4Proto, register_at(0)));
                self.push(expr::cmp(Operator::Equal, vec![p.number()]));
            }
            Match::MasqueradeMarkUnset => {
                self.push(expr::meta_load(MetaKey::Mark, register_at(0)));
                self.push(expr::bitwise(
                    MASQUERADE_MARK.to_ne_bytes().to_vec(),
                    zero.clone(),
                    true,
                ));
                self.push(expr::cmp(Operator::Equal, zero));
            }
            Match::NumgenOneIn(n) => {
                self.push(expr::numgen_random(*n));
                self.push(expr::cmp(Operator::Equal, zero));
            }
        }
        Ok(())
    }

    /// `ip daddr (!=) { nets }`.
    fn nets(&mut self, field: AddrField, nets: &[IpNet], negate: bool) -> Result<(), String> {
        let op = if negate {
            Operator::NotEqual
        } else {
            Operator::Equal
        };
        let (offset, len) = addr_field(self.family, field);
        if let [net] = nets {
            let plen = u32::from(net.prefix_len());
            let bytes = addr_bytes(net.network());
            if plen == 0 {
                return Err(format!("cannot match the whole address space {net}"));
            }
            if plen == len * 8 {
                self.load_addr(field);
                self.push(expr::cmp(op, bytes));
            } else if plen.is_multiple_of(8) {
                let n = plen / 8;
                self.push(expr::payload(BASE_NETWORK, offset, n, register_at(0)));
                self.push(expr::cmp(op, bytes[..n as usize].to_vec()));
            } else {
                self.load_addr(field);
                let mask = addr_bytes(net.netmask());
                let xor = vec![0; mask.len()];
                self.push(expr::bitwise(mask, xor, false));
                self.push(expr::cmp(op, bytes));
            }
            return Ok(());
        }
        if nets.is_empty() {
            return Err("an empty address set".to_string());
        }
        let interval = nets.iter().any(|n| n.prefix_len() != n.max_prefix_len());
        let elements: Vec<Elem> = if interval {
            anonymous_intervals(nets)
        } else {
            nets.iter()
                .map(|n| element(addr_bytes(n.addr()), None))
                .collect()
        };
        let id = self.new_set_id();
        self.out.anon.push(AnonSet {
            id,
            name: ANON_SET,
            attrs: anonymous_addrs(self.family, field, interval, elements.len() as u32, id),
            elements,
        });
        self.load_addr(field);
        self.push(expr::lookup(ANON_SET, Some(id), false, negate));
        Ok(())
    }
}
