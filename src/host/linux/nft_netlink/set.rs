//! `NFT_MSG_NEWSET` attributes: kroute's named sets and maps, and the
//! anonymous sets and maps nft makes for `{ … }` inside a rule.

use netlink_packet_netfilter::nftables::{SetAttribute, SetDescription, SetFlags};

use super::attr::Udata;
use crate::host::nft::{Family, SetDef, SetKeyType, TABLE};

/// nft's data type ids (`TYPE_INTEGER`, `TYPE_IPADDR`, `TYPE_IP6ADDR`,
/// `TYPE_INET_PROTOCOL`, `TYPE_INET_SERVICE`), combined for a concatenation
/// six bits apart, and `NFT_DATA_VERDICT`.
const TYPE_INTEGER: u32 = 4;
const TYPE_IPADDR: u32 = 7;
const TYPE_IP6ADDR: u32 = 8;
const TYPE_INET_PROTOCOL: u32 = 12;
const TYPE_INET_SERVICE: u32 = 13;
const TYPE_BITS: u32 = 6;
const DATA_VERDICT: u32 = 0xffff_ff00;

/// libnftnl's set userdata records (`NFTNL_UDATA_SET_*`) and the two parts
/// of a `typeof` record (`NFTNL_UDATA_SET_TYPEOF_EXPR`, `_DATA`).
const UDATA_KEYBYTEORDER: u8 = 0;
const UDATA_DATABYTEORDER: u8 = 1;
const UDATA_MERGE_ELEMENTS: u8 = 2;
const UDATA_KEY_TYPEOF: u8 = 3;
const UDATA_DATA_TYPEOF: u8 = 4;
const UDATA_DATA_INTERVAL: u8 = 6;
const UDATA_TYPEOF_EXPR: u8 = 0;
const UDATA_TYPEOF_DATA: u8 = 1;
/// nft's byte orders (`BYTEORDER_HOST_ENDIAN`, `_BIG_ENDIAN`) and
/// expression kinds (`EXPR_VERDICT`, `EXPR_PAYLOAD`, `EXPR_CONCAT`).
const HOST_ENDIAN: u32 = 1;
const BIG_ENDIAN: u32 = 2;
const EXPR_VERDICT: u32 = 1;
const EXPR_PAYLOAD: u32 = 7;
const EXPR_CONCAT: u32 = 13;

/// The name nft gives an anonymous set or map; the kernel replaces `%d`.
pub const ANON_SET: &str = "__set%d";
pub const ANON_MAP: &str = "__map%d";

fn addr_type(family: Family) -> (u32, u32) {
    match family {
        Family::Ip => (TYPE_IPADDR, 4),
        Family::Ip6 => (TYPE_IP6ADDR, 16),
    }
}

/// Key type and length (each concatenated part padded to 4 bytes).
pub fn key_type(family: Family, key: SetKeyType) -> Option<(u32, u32)> {
    let (addr, addr_len) = addr_type(family);
    let proto_port = (TYPE_INET_PROTOCOL << TYPE_BITS) | TYPE_INET_SERVICE;
    match key {
        SetKeyType::Addr => Some((addr, addr_len)),
        SetKeyType::AddrProtoPort => Some(((addr << (2 * TYPE_BITS)) | proto_port, addr_len + 8)),
        SetKeyType::ProtoPort => Some((proto_port, 8)),
        SetKeyType::Unknown => None,
    }
}

/// `add set|map FAMILY kroute NAME { … }`; `None` for an unknown key type.
pub fn named(family: Family, name: &str, def: &SetDef, id: u32) -> Option<Vec<SetAttribute>> {
    let (ktype, klen) = key_type(family, def.key)?;
    let mut flags = SetFlags::empty();
    if def.verdict_map {
        flags |= SetFlags::Map;
    }
    if def.interval {
        flags |= SetFlags::Interval;
    }
    if def.timeout.is_some() {
        flags |= SetFlags::Timeout | SetFlags::Eval;
    }
    let mut attrs = vec![
        SetAttribute::Table(TABLE.to_string()),
        SetAttribute::Name(name.to_string()),
        SetAttribute::Flags(flags),
        SetAttribute::KeyType(ktype),
        SetAttribute::KeyLen(klen),
    ];
    if def.verdict_map {
        attrs.push(SetAttribute::DataType(DATA_VERDICT));
        attrs.push(SetAttribute::DataLen(0));
    }
    attrs.push(SetAttribute::Id(id));
    if let Some(secs) = def.timeout {
        attrs.push(SetAttribute::Timeout(u64::from(secs) * 1000));
    }
    let udata = if def.verdict_map {
        // What nft 1.0.6 records for `type A . B . C : verdict`.
        Udata::new()
            .u32(UDATA_KEYBYTEORDER, 0)
            .u32(UDATA_DATABYTEORDER, 0)
            .nest(
                UDATA_KEY_TYPEOF,
                Udata::new()
                    .u32(UDATA_TYPEOF_EXPR, EXPR_CONCAT)
                    .nest(UDATA_TYPEOF_DATA, Udata::new()),
            )
            .u32(UDATA_DATA_INTERVAL, 0)
    } else {
        Udata::new().u32(UDATA_KEYBYTEORDER, BIG_ENDIAN)
    };
    attrs.push(SetAttribute::UserData(udata.into_bytes()));
    Some(attrs)
}

/// Which header field an anonymous address set is matched against (for the
/// `typeof` record nft keeps: its protocol and field ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrField {
    Saddr,
    Daddr,
}

fn payload_typeof(family: Family, field: AddrField) -> Udata {
    // nft's PROTO_DESC_IP / _IP6 and its IPHDR_* / IP6HDR_* field indexes.
    let (desc, field) = match (family, field) {
        (Family::Ip, AddrField::Saddr) => (12, 11),
        (Family::Ip, AddrField::Daddr) => (12, 12),
        (Family::Ip6, AddrField::Saddr) => (13, 8),
        (Family::Ip6, AddrField::Daddr) => (13, 9),
    };
    Udata::new()
        .u32(UDATA_TYPEOF_EXPR, EXPR_PAYLOAD)
        .nest(UDATA_TYPEOF_DATA, Udata::new().u32(0, desc).u32(1, field))
}

/// `ip saddr { a, b/16 }`: a constant anonymous address set of `size`
/// elements (interval when it holds a prefix).
pub fn anonymous_addrs(
    family: Family,
    field: AddrField,
    interval: bool,
    size: u32,
    id: u32,
) -> Vec<SetAttribute> {
    let (ktype, klen) = addr_type(family);
    let mut flags = SetFlags::Anonymous | SetFlags::Constant;
    let mut udata = Udata::new().u32(UDATA_KEYBYTEORDER, BIG_ENDIAN);
    if interval {
        flags |= SetFlags::Interval;
        udata = udata.u32(UDATA_MERGE_ELEMENTS, 1);
    }
    let udata = udata.nest(UDATA_KEY_TYPEOF, payload_typeof(family, field));
    vec![
        SetAttribute::Table(TABLE.to_string()),
        SetAttribute::Name(ANON_SET.to_string()),
        SetAttribute::Flags(flags),
        SetAttribute::KeyType(ktype),
        SetAttribute::KeyLen(klen),
        SetAttribute::Id(id),
        SetAttribute::Description(vec![SetDescription::Size(size)]),
        SetAttribute::UserData(udata.into_bytes()),
    ]
}

/// `numgen random mod N vmap { 0 : v0, … }`: a constant anonymous verdict
/// map keyed by a host-order `u32`.
pub fn anonymous_numgen_map(size: u32, id: u32) -> Vec<SetAttribute> {
    let udata = Udata::new()
        .u32(UDATA_KEYBYTEORDER, HOST_ENDIAN)
        .u32(UDATA_DATABYTEORDER, 0)
        .nest(
            UDATA_DATA_TYPEOF,
            Udata::new()
                .u32(UDATA_TYPEOF_EXPR, EXPR_VERDICT)
                .nest(UDATA_TYPEOF_DATA, Udata::new()),
        )
        .u32(UDATA_DATA_INTERVAL, 0);
    vec![
        SetAttribute::Table(TABLE.to_string()),
        SetAttribute::Name(ANON_MAP.to_string()),
        SetAttribute::Flags(SetFlags::Anonymous | SetFlags::Constant | SetFlags::Map),
        SetAttribute::KeyType(TYPE_INTEGER),
        SetAttribute::KeyLen(4),
        SetAttribute::DataType(DATA_VERDICT),
        SetAttribute::DataLen(0),
        SetAttribute::Id(id),
        SetAttribute::Description(vec![SetDescription::Size(size)]),
        SetAttribute::UserData(udata.into_bytes()),
    ]
}
