//! Builders for the nf_tables expressions kroute's rules use, attribute for
//! attribute as nft 1.0.6 emits them (the order matters only for the
//! byte-level fixtures; the kernel parses by type). The crate's types where
//! it has them (payload, meta, cmp, bitwise, lookup, immediate), raw
//! attributes behind these functions where it does not.

use netlink_packet_netfilter::nftables::{
    Bitwise, Cmp, DataAttribute, ExpressionAttribute, Expressions, Immediate, ListAttribute,
    Lookup, Meta, MetaKey, Operator, Payload, Register, Verdict as NfVerdict, VerdictAttribute,
};

use super::attr::{be32, raw, string};
use crate::host::nft::Verdict;

/// One expression of a rule.
pub type Expr = ListAttribute<ExpressionAttribute>;

/// `NFT_PAYLOAD_NETWORK_HEADER`, `NFT_PAYLOAD_TRANSPORT_HEADER`.
pub const BASE_NETWORK: u32 = 1;
pub const BASE_TRANSPORT: u32 = 2;

/// `NFT_LOOKUP_F_INV`: the lookup matches when the key is absent.
const LOOKUP_F_INV: u32 = 1;
/// `NFT_BITWISE_BOOL`: `(reg & mask) ^ xor`.
const BITWISE_BOOL: u32 = 0;

/// The register that holds the concatenation part starting `word` 32-bit
/// words into the key: nft names 16-byte aligned ones by their 128-bit
/// register (`NFT_REG_1 + word / 4`), the others by their 32-bit one
/// (`NFT_REG32_00 + word`).
pub fn register_at(word: u32) -> Register {
    if word.is_multiple_of(4) {
        Register::from(1 + word / 4)
    } else {
        Register::from(8 + word)
    }
}

fn value(bytes: Vec<u8>) -> DataAttribute {
    DataAttribute::Value(bytes)
}

/// `[ payload load LEN @ BASE + OFFSET => reg DREG ]`
pub fn payload(base: u32, offset: u32, len: u32, dreg: Register) -> Expr {
    Expressions::Payload(vec![
        Payload::DestinationRegister(dreg),
        Payload::Base(base),
        Payload::Offset(offset),
        Payload::Len(len),
    ])
    .into()
}

/// `[ meta load KEY => reg DREG ]`
pub fn meta_load(key: MetaKey, dreg: Register) -> Expr {
    Expressions::Meta(vec![Meta::Key(key), Meta::DestinationRegister(dreg)]).into()
}

/// `[ meta set KEY with reg 1 ]`
pub fn meta_set(key: MetaKey) -> Expr {
    Expressions::Meta(vec![Meta::Key(key), Meta::SourceRegister(Register::Reg1)]).into()
}

/// `[ cmp OP reg 1 DATA ]`
pub fn cmp(op: Operator, data: Vec<u8>) -> Expr {
    Expressions::Cmp(vec![
        Cmp::SourceRegister(Register::Reg1),
        Cmp::Op(op),
        Cmp::Data(value(data)),
    ])
    .into()
}

/// `[ bitwise reg 1 = ( reg 1 & MASK ) ^ XOR ]`. nft writes the operation
/// for an explicit `&`/`|`/`^`, and leaves it out (the kernel's default is
/// the same) for the mask of a flag match such as `ct state new`.
pub fn bitwise(mask: Vec<u8>, xor: Vec<u8>, explicit_op: bool) -> Expr {
    let mut attrs = vec![
        Bitwise::SourceRegister(Register::Reg1),
        Bitwise::DestinationRegister(Register::Reg1),
    ];
    if explicit_op {
        attrs.push(Bitwise::Op(BITWISE_BOOL));
    }
    attrs.push(Bitwise::Length(mask.len() as u32));
    attrs.push(Bitwise::Mask(value(mask)));
    attrs.push(Bitwise::Xor(value(xor)));
    Expressions::Bitwise(attrs).into()
}

/// `[ lookup reg 1 set NAME (dreg 0) ]`: a set match (`dreg: false`, maybe
/// inverted) or a verdict map (`dreg: true`). `set_id` is given for a set
/// created in the same batch under a name the kernel picks (anonymous).
pub fn lookup(set: &str, set_id: Option<u32>, verdict_map: bool, inverted: bool) -> Expr {
    let mut attrs = vec![Lookup::SourceRegister(Register::Reg1)];
    if verdict_map {
        attrs.push(Lookup::DestinationRegister(Register::Verdict));
    }
    attrs.push(Lookup::Set(set.to_string()));
    if let Some(id) = set_id {
        attrs.push(Lookup::SetId(id));
    }
    if inverted {
        attrs.push(Lookup::Flags(LOOKUP_F_INV));
    }
    Expressions::Lookup(attrs).into()
}

/// `[ immediate reg DREG DATA ]`
pub fn immediate(dreg: Register, data: Vec<u8>) -> Expr {
    Expressions::Immediate(vec![
        Immediate::DestinationRegister(dreg),
        Immediate::Data(value(data)),
    ])
    .into()
}

/// The `NFTA_DATA_VERDICT` attributes of a verdict.
pub fn verdict_attrs(v: &Verdict) -> Vec<VerdictAttribute> {
    // NF_DROP and NF_ACCEPT (the others are the crate's).
    match v {
        Verdict::Accept => vec![VerdictAttribute::Code(NfVerdict::Other(1))],
        Verdict::Drop => vec![VerdictAttribute::Code(NfVerdict::Other(0))],
        Verdict::Return => vec![VerdictAttribute::Code(NfVerdict::Return)],
        Verdict::Jump(c) => vec![
            VerdictAttribute::Code(NfVerdict::Jump),
            VerdictAttribute::Chain(c.clone()),
        ],
        Verdict::Goto(c) => vec![
            VerdictAttribute::Code(NfVerdict::Goto),
            VerdictAttribute::Chain(c.clone()),
        ],
    }
}

/// `[ immediate reg 0 VERDICT ]`
pub fn verdict(v: &Verdict) -> Expr {
    Expressions::Immediate(vec![
        Immediate::DestinationRegister(Register::Verdict),
        Immediate::Data(DataAttribute::Verdict(verdict_attrs(v))),
    ])
    .into()
}

fn other(name: &str, attributes: Vec<netlink_packet_core::DefaultNla>) -> Expr {
    Expressions::Other {
        expression_type: name.to_string(),
        attributes,
    }
    .into()
}

/// `[ ct load state => reg 1 ]` (`NFTA_CT_KEY` = `NFT_CT_STATE`, `NFTA_CT_DREG`).
pub fn ct_state() -> Expr {
    other("ct", vec![be32(2, 0), be32(1, 1)])
}

/// `[ fib daddr|saddr type => reg 1 ]`: `NFTA_FIB_FLAGS` (`NFTA_FIB_F_SADDR`
/// 1, `_DADDR` 2), `NFTA_FIB_RESULT` (`NFT_FIB_RESULT_ADDRTYPE` 3), `NFTA_FIB_DREG`.
pub fn fib_addr_type(daddr: bool) -> Expr {
    other(
        "fib",
        vec![be32(3, if daddr { 2 } else { 1 }), be32(2, 3), be32(1, 1)],
    )
}

/// `[ numgen reg 1 = random mod N ]`: `NFTA_NG_DREG`, `NFTA_NG_MODULUS`,
/// `NFTA_NG_TYPE` (`NFT_NG_RANDOM` 1), `NFTA_NG_OFFSET`.
pub fn numgen_random(modulus: u32) -> Expr {
    other(
        "numgen",
        vec![be32(1, 1), be32(2, modulus), be32(3, 1), be32(4, 0)],
    )
}

/// `[ reject type 0 code C ]`: `NFTA_REJECT_TYPE` (`NFT_REJECT_ICMP_UNREACH`)
/// and `NFTA_REJECT_ICMP_CODE` (one byte: port unreachable, 3 for ICMP, 4
/// for ICMPv6).
pub fn reject(icmp_code: u8) -> Expr {
    other("reject", vec![be32(1, 0), raw(2, vec![icmp_code])])
}

/// `[ masq flags 0x10 ]`: `NFTA_MASQ_FLAGS` = `NF_NAT_RANGE_PROTO_RANDOM_FULLY`.
pub fn masquerade_fully_random() -> Expr {
    other("masq", vec![be32(1, 0x10)])
}

/// `[ nat dnat FAMILY addr_min reg 1 proto_min reg 2 flags 0x2 ]`:
/// `NFTA_NAT_TYPE` (`NFT_NAT_DNAT` 1), `_FAMILY`, `_REG_ADDR_MIN`,
/// `_REG_PROTO_MIN`, `_FLAGS` (`NF_NAT_RANGE_PROTO_SPECIFIED`).
pub fn dnat(nfproto: u8) -> Expr {
    other(
        "nat",
        vec![
            be32(1, 1),
            be32(2, u32::from(nfproto)),
            be32(3, 1),
            be32(5, 2),
            be32(7, 2),
        ],
    )
}

/// `[ dynset update reg_key 1 set NAME ]`: `NFTA_DYNSET_SREG_KEY`,
/// `NFTA_DYNSET_OP` (`NFT_DYNSET_OP_UPDATE` 1), `NFTA_DYNSET_SET_NAME`
/// (and `NFTA_DYNSET_SET_ID` for a set of this batch).
pub fn dynset_update(set: &str, set_id: Option<u32>) -> Expr {
    let mut attrs = vec![be32(4, 1), be32(3, 1), string(1, set)];
    if let Some(id) = set_id {
        attrs.push(be32(2, id));
    }
    other("dynset", attrs)
}
