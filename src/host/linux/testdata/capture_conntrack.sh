#!/bin/sh
# Regenerates the ctnetlink fixtures (conntrack_*.hex) from the local kernel,
# in a throwaway network namespace (needs root, nft, python3):
#   sh capture_conntrack.sh
# The namespace DNATs UDP to 10.96.0.10:53 / [fd00:96::10]:53 towards
# 10.244.1.11:5353 / [fd00:244:1::11]:5353 (addresses on lo), puts one flow
# in conntrack zone 7, and makes a UDP flow that is not NATed, a TCP flow
# and a ping, so the dumps hold every shape kroute meets. Each .hex file is
# one recv() per line, as the kernel sent it, after a `#` comment line.
set -eu
cd "$(dirname "$0")"
ns="kr-ctcap-$$"
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
ip -n "$ns" link set lo up
ip -n "$ns" addr add 10.244.1.11/32 dev lo
ip -n "$ns" -6 addr add fd00:244:1::11/128 dev lo nodad
ip -n "$ns" route add 10.96.0.0/12 dev lo
ip -n "$ns" -6 route add fd00:96::/112 dev lo
ip netns exec "$ns" nft -f - <<'EOF'
table inet capture {
  chain raw {
    type filter hook output priority raw
    udp dport 54 ct zone set 7
  }
  chain nat {
    type nat hook output priority -100
    ip daddr 10.96.0.10 udp dport { 53, 54 } dnat ip to 10.244.1.11:5353
    ip6 daddr fd00:96::10 udp dport 53 dnat ip6 to [fd00:244:1::11]:5353
  }
}
EOF
ip netns exec "$ns" python3 - <<'EOF'
import socket, struct

def flows():
    for fam, dst, sport in [(socket.AF_INET, "10.96.0.10", 40000),
                            (socket.AF_INET6, "fd00:96::10", 40001)]:
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0" if fam == socket.AF_INET else "::", sport))
        s.sendto(b"x", (dst, 53))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 40002))
    s.sendto(b"x", ("10.96.0.10", 54))          # zone 7
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 40003))
    s.sendto(b"x", ("10.244.1.11", 9999))       # not NATed
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("10.244.1.11", 8080)); srv.listen()
    c = socket.create_connection(("10.244.1.11", 8080))
    return [srv, c]

keep = flows()
import subprocess
subprocess.run(["ping", "-c1", "-W1", "10.244.1.11"], check=True, stdout=subprocess.DEVNULL)

NFNL_SUBSYS_CTNETLINK, GET, DELETE = 1, 1, 2
F_REQUEST, F_ACK, F_DUMP = 1, 4, 0x300

def nla(kind, payload, nested=False):
    kind |= 0x8000 if nested else 0
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)

def msg(kind, flags, family, attrs, seq):
    body = struct.pack("=BBH", family, 0, 0) + attrs
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_CTNETLINK << 8) | kind, flags, seq, 0) + body

def udp_filter():
    proto = nla(1, struct.pack("=B", 17))
    tuple_ = nla(2, proto, nested=True)
    return nla(1, tuple_, nested=True) + nla(25, nla(1, struct.pack("=I", 1 << 3)), nested=True)

sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
sock.bind((0, 0))

def exchange(request, name, comment, until_done=True):
    sock.send(request)
    lines = []
    while True:
        data = sock.recv(1 << 20)
        lines.append(data.hex())
        _, kind, _, _, _ = struct.unpack_from("=IHHII", data, 0)
        if kind == 2:  # NLMSG_ERROR: an ack or an error
            break
        if until_done and any(struct.unpack_from("=IH", data, off)[1] == 3 for off in offsets(data)):
            break
    with open(name, "w") as f:
        f.write("# " + comment + "\n" + "\n".join(lines) + "\n")
    return [bytes.fromhex(l) for l in lines]

def offsets(data):
    off = 0
    while off + 16 <= len(data):
        yield off
        length = struct.unpack_from("=I", data, off)[0]
        if length < 16:
            return
        off += (length + 3) & ~3

exchange(msg(GET, F_REQUEST | F_DUMP, socket.AF_INET, b"", 1), "conntrack_dump_ip_all.hex",
         "IPCTNL_MSG_CT_GET dump, AF_INET, no filter: UDP DNATed, UDP in zone 7, UDP not NATed, TCP, ICMP")
exchange(msg(GET, F_REQUEST | F_DUMP, socket.AF_INET6, udp_filter(), 2), "conntrack_dump_ip6_udp.hex",
         "IPCTNL_MSG_CT_GET dump, AF_INET6, CTA_FILTER proto UDP: one UDP DNATed")

def orig_tuple(src, dst, sport, dport):
    ip = nla(1, socket.inet_aton(src)) + nla(2, socket.inet_aton(dst))
    proto = nla(1, struct.pack("=B", 17)) + nla(2, struct.pack(">H", sport)) + nla(3, struct.pack(">H", dport))
    return nla(1, nla(1, ip, nested=True) + nla(2, proto, nested=True), nested=True)

exchange(msg(DELETE, F_REQUEST | F_ACK, socket.AF_INET, orig_tuple("10.244.1.11", "10.96.0.10", 40000, 53), 3),
         "conntrack_delete_ack.hex", "IPCTNL_MSG_CT_DELETE of the DNATed UDP entry: the ack", until_done=False)
exchange(msg(DELETE, F_REQUEST | F_ACK, socket.AF_INET, orig_tuple("10.244.1.11", "10.96.0.10", 40000, 53), 4),
         "conntrack_delete_enoent.hex", "the same delete again: ENOENT", until_done=False)
EOF
echo "captured: $(ls conntrack_*.hex | tr '\n' ' ')"
