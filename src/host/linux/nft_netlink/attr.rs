//! Raw netlink attributes for what `netlink-packet-netfilter` 0.4.0 does not
//! model (the expressions fib, ct, numgen, reject, nat, masq, dynset; set and
//! element userdata), as `DefaultNla`s the crate's own types can carry.

use netlink_packet_core::DefaultNla;

/// A plain attribute.
pub fn raw(kind: u16, value: Vec<u8>) -> DefaultNla {
    DefaultNla::new(kind, value)
}

/// A big-endian `u32` attribute (nf_tables' integers are network order).
pub fn be32(kind: u16, value: u32) -> DefaultNla {
    raw(kind, value.to_be_bytes().to_vec())
}

/// A NUL-terminated string attribute.
pub fn string(kind: u16, value: &str) -> DefaultNla {
    let mut bytes = Vec::with_capacity(value.len() + 1);
    bytes.extend_from_slice(value.as_bytes());
    bytes.push(0);
    raw(kind, bytes)
}

/// libnftnl's userdata: type-length-value records of one byte each for type
/// and length, opaque to the kernel, read back by `nft` when it lists (how
/// to print a key, a rule's comment).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Udata(Vec<u8>);

impl Udata {
    pub fn new() -> Udata {
        Udata::default()
    }

    /// A record holding `value` (at most 255 bytes).
    pub fn bytes(mut self, kind: u8, value: &[u8]) -> Udata {
        let len = u8::try_from(value.len()).unwrap_or(u8::MAX);
        self.0.push(kind);
        self.0.push(len);
        self.0.extend_from_slice(&value[..usize::from(len)]);
        self
    }

    /// A record holding a host-order `u32`, as libnftnl writes them.
    pub fn u32(self, kind: u8, value: u32) -> Udata {
        self.bytes(kind, &value.to_ne_bytes())
    }

    /// A record holding a NUL-terminated string.
    pub fn string(self, kind: u8, value: &str) -> Udata {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        self.bytes(kind, &bytes)
    }

    /// A record holding other records.
    pub fn nest(self, kind: u8, inner: Udata) -> Udata {
        self.bytes(kind, &inner.0)
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}
