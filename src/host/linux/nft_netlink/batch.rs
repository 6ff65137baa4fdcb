//! The `NftOp` list as nf_tables messages, in order, each remembering the
//! ops it came from (to name the artifact an error points at). Runs of
//! element adds (or deletes) in one set share a message, split before the
//! element list outgrows a netlink attribute (its length is 16 bits).

use std::collections::BTreeMap;

use netlink_packet_core::{
    Emitable, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_netfilter::nftables::{
    ChainAttribute, ChainMessage, Hook, HookNumber, InetHookNumber, NfTablesMessage, RuleAttribute,
    RuleMessage, SetElementList, SetElementMessage, SetMessage, TableAttribute, TableFlags,
    TableMessage,
};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterProtoFamily, NetfilterSubsystem,
};

use super::NftNetlinkError;
use super::attr::Udata;
use super::elem::{Elem, bottom_end, element, interval, key_bytes};
use super::rule::{self, nfproto};
use super::set;
use crate::host::linux::nft_script;
use crate::host::linux::nft_txn::NftOp;
use crate::host::nft::{BaseHook, ElementKey, Family, Hook as NftHook, NftKey, NftValue, SetDef};
use crate::host::nft::{TABLE, Verdict};

/// Element bytes per message, well under the 65,535 an attribute can hold.
const ELEMENTS_PER_MESSAGE_BYTES: usize = 60_000;
/// `NFTNL_UDATA_RULE_COMMENT`.
const UDATA_RULE_COMMENT: u8 = 0;
/// `NF_ACCEPT`, a base chain's policy.
const POLICY_ACCEPT: u32 = 1;

/// One message of the batch and the ops (indexes into the op list) it encodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub message: NetlinkMessage<NetfilterMessage>,
    pub ops: Vec<usize>,
}

/// A transaction's messages, without the batch begin and end around them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub messages: Vec<Message>,
}

impl Batch {
    /// Number of messages between the batch begin and end.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// The message header of nf_tables' batch begin and end (`res_id` =
/// `NFNL_SUBSYS_NFTABLES`).
pub fn control(begin: bool) -> NetlinkMessage<NetfilterMessage> {
    use netlink_packet_netfilter::none::ControlMessage;
    let inner = if begin {
        ControlMessage::BatchBegin
    } else {
        ControlMessage::BatchEnd
    };
    let header = NetfilterHeader::new(
        NetfilterProtoFamily::Unspec,
        0,
        u8::from(NetfilterSubsystem::NfTables).into(),
    );
    finish(NetfilterMessage::new(header, inner), NLM_F_REQUEST)
}

fn finish(inner: NetfilterMessage, flags: u16) -> NetlinkMessage<NetfilterMessage> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    let mut message = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(inner));
    message.finalize();
    message
}

fn nf(family: Family, message: NfTablesMessage, flags: u16) -> NetlinkMessage<NetfilterMessage> {
    let proto = NetfilterProtoFamily::from(nfproto(family));
    finish(
        NetfilterMessage::new(NetfilterHeader::new(proto, 0, 0), message),
        NLM_F_REQUEST | flags,
    )
}

struct Builder<'a, 'o> {
    ops: &'o [NftOp<'a>],
    current: &'o BTreeMap<NftKey, NftValue>,
    /// Sets declared so far in this batch.
    declared: BTreeMap<(Family, &'a str), &'a SetDef>,
    next_set_id: u32,
    out: Vec<Message>,
}

/// Encodes `ops`; `current` (what the kernel holds) tells which sets not
/// declared by the ops are interval sets.
pub fn encode<'a>(
    ops: &[NftOp<'a>],
    current: &BTreeMap<NftKey, NftValue>,
) -> Result<Batch, NftNetlinkError> {
    let mut b = Builder {
        ops,
        current,
        declared: BTreeMap::new(),
        next_set_id: 0,
        out: Vec::new(),
    };
    let mut i = 0;
    while i < ops.len() {
        i = b.op(i)?;
    }
    Ok(Batch { messages: b.out })
}

fn hook_number(hook: NftHook) -> HookNumber {
    HookNumber::Inet(match hook {
        NftHook::Prerouting => InetHookNumber::PreRouting,
        NftHook::Input => InetHookNumber::LocalIn,
        NftHook::Forward => InetHookNumber::Forward,
        NftHook::Output => InetHookNumber::LocalOut,
        NftHook::Postrouting => InetHookNumber::PostRouting,
    })
}

fn base_chain_attrs(hook: &BaseHook) -> [ChainAttribute; 3] {
    [
        ChainAttribute::Type(hook.kind.keyword().to_string()),
        ChainAttribute::Policy(POLICY_ACCEPT),
        ChainAttribute::Hook(vec![
            Hook::Number(hook_number(hook.hook)),
            Hook::Priority(hook.priority as u32),
        ]),
    ]
}

fn elements_len(elems: &[Elem]) -> usize {
    elems.iter().map(Emitable::buffer_len).sum()
}

impl<'a> Builder<'a, '_> {
    fn push(&mut self, message: NetlinkMessage<NetfilterMessage>, ops: Vec<usize>) {
        self.out.push(Message { message, ops });
    }

    /// A message that encodes the op at `i` (alone, or with the others of
    /// that op).
    fn one(&mut self, i: usize, family: Family, message: NfTablesMessage, flags: u16) {
        self.push(nf(family, message, flags), vec![i]);
    }

    fn error(&self, i: usize, reason: impl Into<String>) -> NftNetlinkError {
        NftNetlinkError::Encode {
            op: nft_script::render(&self.ops[i..=i]).trim_end().to_string(),
            reason: reason.into(),
        }
    }

    fn set_def(&self, family: Family, set: &str) -> Option<&SetDef> {
        if let Some(def) = self.declared.get(&(family, set)) {
            return Some(def);
        }
        match self.current.get(&NftKey::set(family, set)) {
            Some(NftValue::Set(def)) => Some(def),
            _ => None,
        }
    }

    /// Encodes the op at `i` (and the element ops that share its message);
    /// returns the index of the next op.
    fn op(&mut self, i: usize) -> Result<usize, NftNetlinkError> {
        let table = || TABLE.to_string();
        match &self.ops[i] {
            NftOp::AddTable(f) => {
                let attrs = vec![
                    TableAttribute::Name(table()),
                    TableAttribute::Flags(TableFlags::empty()),
                ];
                self.one(
                    i,
                    *f,
                    NfTablesMessage::NewTable(TableMessage { attributes: attrs }),
                    0,
                );
            }
            NftOp::DeleteTable(f) => {
                let attrs = vec![TableAttribute::Name(table())];
                self.one(
                    i,
                    *f,
                    NfTablesMessage::DeleteTable(TableMessage { attributes: attrs }),
                    0,
                );
            }
            NftOp::AddSet { family, name, def } => {
                self.next_set_id += 1;
                let attrs = set::named(*family, name, def, self.next_set_id)
                    .ok_or_else(|| self.error(i, "a set of unknown key type"))?;
                self.declared.insert((*family, name), def);
                self.one(
                    i,
                    *family,
                    NfTablesMessage::NewSet(SetMessage { attributes: attrs }),
                    NLM_F_CREATE,
                );
            }
            NftOp::DeleteSet { family, name } => {
                let attrs = vec![
                    netlink_packet_netfilter::nftables::SetAttribute::Table(table()),
                    netlink_packet_netfilter::nftables::SetAttribute::Name(name.to_string()),
                ];
                self.one(
                    i,
                    *family,
                    NfTablesMessage::DeleteSet(SetMessage { attributes: attrs }),
                    0,
                );
            }
            NftOp::AddChain { family, name, hook } => {
                let mut attrs = vec![
                    ChainAttribute::Table(table()),
                    ChainAttribute::Name(name.to_string()),
                ];
                if let Some(hook) = hook {
                    attrs.extend(base_chain_attrs(hook));
                }
                self.one(
                    i,
                    *family,
                    NfTablesMessage::NewChain(ChainMessage { attributes: attrs }),
                    NLM_F_CREATE,
                );
            }
            NftOp::DeleteChain { family, name } => {
                let attrs = vec![
                    ChainAttribute::Table(table()),
                    ChainAttribute::Name(name.to_string()),
                ];
                self.one(
                    i,
                    *family,
                    NfTablesMessage::DeleteChain(ChainMessage { attributes: attrs }),
                    0,
                );
            }
            NftOp::FlushChain { family, name } => {
                let attrs = vec![
                    RuleAttribute::Table(table()),
                    RuleAttribute::Chain(name.to_string()),
                ];
                self.one(
                    i,
                    *family,
                    NfTablesMessage::DeleteRule(RuleMessage { attributes: attrs }),
                    0,
                );
            }
            NftOp::AddRule {
                family,
                chain,
                rule,
                comment,
            } => {
                let encoded = rule::encode(*family, rule, &mut self.next_set_id)
                    .map_err(|reason| self.error(i, reason))?;
                for anon in encoded.anon {
                    self.one(
                        i,
                        *family,
                        NfTablesMessage::NewSet(SetMessage {
                            attributes: anon.attrs,
                        }),
                        NLM_F_CREATE,
                    );
                    let list = vec![
                        SetElementList::Table(table()),
                        SetElementList::Set(anon.name.to_string()),
                        SetElementList::SetId(anon.id),
                        SetElementList::Elements(anon.elements),
                    ];
                    self.one(
                        i,
                        *family,
                        NfTablesMessage::NewSetElement(SetElementMessage { attributes: list }),
                        NLM_F_CREATE,
                    );
                }
                let mut attrs = vec![
                    RuleAttribute::Table(table()),
                    RuleAttribute::Chain(chain.to_string()),
                    RuleAttribute::Expressions(encoded.exprs),
                ];
                if let Some(c) = comment {
                    attrs.push(RuleAttribute::UserData(
                        Udata::new().string(UDATA_RULE_COMMENT, c).into_bytes(),
                    ));
                }
                self.one(
                    i,
                    *family,
                    NfTablesMessage::NewRule(RuleMessage { attributes: attrs }),
                    NLM_F_CREATE | NLM_F_APPEND,
                );
            }
            NftOp::AddElement { family, set, .. } | NftOp::DeleteElement { family, set, .. } => {
                return self.elements(i, *family, set);
            }
        }
        Ok(i + 1)
    }

    /// The elements of the run of same-kind element ops on one set starting
    /// at `start`, in messages of bounded size.
    fn elements(
        &mut self,
        start: usize,
        family: Family,
        set: &'a str,
    ) -> Result<usize, NftNetlinkError> {
        let adding = matches!(self.ops[start], NftOp::AddElement { .. });
        let is_interval = self.set_def(family, set).map(|d| d.interval);
        let mut i = start;
        let mut elems: Vec<Elem> = Vec::new();
        let mut ops = Vec::new();
        while i < self.ops.len() {
            let (key, value): (&ElementKey, Option<&Verdict>) = match &self.ops[i] {
                NftOp::AddElement {
                    family: f,
                    set: s,
                    key,
                    value,
                } if adding && *f == family && *s == set => (key, *value),
                NftOp::DeleteElement {
                    family: f,
                    set: s,
                    key,
                } if !adding && *f == family && *s == set => (key, None),
                _ => break,
            };
            let new = match (key, is_interval) {
                (ElementKey::Net(net), Some(true)) => interval(net),
                (ElementKey::Unknown(_), _) => {
                    return Err(
                        self.error(i, "an element kept as nft text has no netlink form yet")
                    );
                }
                _ => vec![element(
                    key_bytes(key)
                        .ok_or_else(|| self.error(i, "a prefix needs an interval set"))?,
                    value,
                )],
            };
            if !elems.is_empty()
                && elements_len(&elems) + elements_len(&new) > ELEMENTS_PER_MESSAGE_BYTES
            {
                let run = std::mem::take(&mut elems);
                let run_ops = std::mem::take(&mut ops);
                let bottom = adding && is_interval == Some(true);
                self.flush_elements(family, set, bottom, run, run_ops, adding);
            }
            elems.extend(new);
            ops.push(i);
            i += 1;
        }
        self.flush_elements(
            family,
            set,
            adding && is_interval == Some(true),
            elems,
            ops,
            adding,
        );
        Ok(i)
    }

    /// One element message; an add to an interval set starts, as nft's do,
    /// with the interval end at the bottom of the space.
    fn flush_elements(
        &mut self,
        family: Family,
        set: &str,
        bottom: bool,
        mut elems: Vec<Elem>,
        ops: Vec<usize>,
        adding: bool,
    ) {
        if bottom {
            elems.insert(0, bottom_end(family == Family::Ip));
        }
        let list = vec![
            SetElementList::Table(TABLE.to_string()),
            SetElementList::Set(set.to_string()),
            SetElementList::Elements(elems),
        ];
        let message = SetElementMessage { attributes: list };
        let m = if adding {
            nf(
                family,
                NfTablesMessage::NewSetElement(message),
                NLM_F_CREATE,
            )
        } else {
            nf(family, NfTablesMessage::DeleteSetElement(message), 0)
        };
        self.push(m, ops);
    }
}
