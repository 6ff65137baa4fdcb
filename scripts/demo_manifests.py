#!/usr/bin/env python3
"""Reads a directory of Kubernetes manifests and prints what the demo needs,
one item per line:

    node     NAME INTERNAL_IP
    backend  POD_NAME POD_IP PORT PROTO                 (EndpointSlices)
    frontend NS/SERVICE KIND IP PORT PROTO EXPECT       (Services)

KIND is clusterip, nodeport (IP "-": the node's), externalip or lbip; EXPECT is
"answer" when the service has endpoints, else "refused".

Standard library only (no PyYAML on a fresh machine): a line scanner for the
few fields it needs, in block or flow style, not a YAML parser.
"""
import pathlib
import re
import sys

IPV4 = r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d./])"


def documents(directory):
    for path in sorted(pathlib.Path(directory).iterdir()):
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        for doc in re.split(r"^---[^\n]*$", path.read_text(), flags=re.M):
            doc = "\n".join(l for l in doc.splitlines() if not l.lstrip().startswith("#"))
            kind = re.search(r"^kind:\s*(\S+)", doc, re.M)
            if kind:
                yield kind.group(1), doc


def field(text, key):
    m = re.search(r"(?:^|[\s{,])" + re.escape(key) + r":\s*['\"]?([^\s'\",}\]#]+)", text, re.M)
    return m.group(1) if m else None


def metadata(doc, key):
    return field("\n".join(block(doc, "metadata", 0)), key)


def block(doc, key, indent=None):
    """Lines of the block under `key:` (first match at `indent`, or any)."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        m = re.fullmatch(r"( *)" + re.escape(key) + r":\s*", line)
        if not m or (indent is not None and len(m.group(1)) != indent):
            continue
        at = len(m.group(1))
        out = []
        for nxt in lines[i + 1:]:
            stripped = nxt.lstrip(" ")
            depth = len(nxt) - len(stripped)
            if stripped and (depth < at or (depth == at and not stripped.startswith("- "))):
                break
            out.append(nxt)
        return out
    return []


def list_items(lines):
    """Splits block lines into list items (each starting with `- `)."""
    items, current, item_indent = [], None, None
    for line in lines:
        stripped = line.lstrip(" ")
        depth = len(line) - len(stripped)
        if stripped.startswith("- ") and (item_indent is None or depth == item_indent):
            item_indent = depth
            current = [" " * (depth + 2) + stripped[2:]]
            items.append(current)
        elif current is not None:
            current.append(line)
    return ["\n".join(item) for item in items]


def ips_of(doc, key, indent):
    """IPv4 addresses of `key: [a, b]` or of a block list under `key:`."""
    inline = re.search(r"^ {%d}%s:\s*\[([^\]]*)\]" % (indent, re.escape(key)), doc, re.M)
    text = inline.group(1) if inline else "\n".join(block(doc, key, indent))
    return re.findall(IPV4, text)


def main(directory):
    services, with_endpoints, backends = [], set(), []
    for kind, doc in documents(directory):
        if kind == "Node":
            addrs = "\n".join(block(doc, "addresses"))
            internal = [i for i in list_items(addrs.splitlines()) if field(i, "type") == "InternalIP"]
            print("node", metadata(doc, "name"), field(internal[0], "address") if internal else "-")
        elif kind == "Service":
            services.append(doc)
        elif kind == "EndpointSlice":
            ns = metadata(doc, "namespace") or "default"
            svc = field("\n".join(block(doc, "labels", 2)), "kubernetes.io/service-name")
            ports = [(field(i, "port"), (field(i, "protocol") or "TCP").lower())
                     for i in list_items(block(doc, "ports", 0))]
            for item in list_items(block(doc, "endpoints", 0)):
                target = "\n".join(block(item, "targetRef"))
                pod = field(target, "name") if target else None
                first = item.splitlines()[0]
                addresses = re.findall(IPV4, "\n".join(block(item, "addresses")) or first)
                for ip in addresses:
                    with_endpoints.add(f"{ns}/{svc}")
                    for port, proto in ports:
                        if port:
                            backends.append((pod or "pod-" + ip.replace(".", "-"), ip, port, proto))
    for doc in services:
        name = f"{metadata(doc, 'namespace') or 'default'}/{metadata(doc, 'name')}"
        expect = "answer" if name in with_endpoints else "refused"
        spec = "\n".join(["spec:"] + block(doc, "spec", 0))
        cluster_ip = field("\n".join(l for l in spec.splitlines() if l.startswith("  clusterIP:")), "clusterIP")
        external = ips_of(spec, "externalIPs", 2)
        status = "\n".join(block(doc, "status", 0))
        lb = [ip for ip in re.findall(r"\bip:\s*" + IPV4, status)]
        for item in list_items(block(doc, "ports", 2)):
            proto = (field(item, "protocol") or "TCP").lower()
            port = field(item, "port")
            if not port:
                continue
            if cluster_ip and cluster_ip != "None":
                print("frontend", name, "clusterip", cluster_ip, port, proto, expect)
            node_port = field(item, "nodePort")
            if node_port:
                print("frontend", name, "nodeport", "-", node_port, proto, expect)
            for ip in external:
                print("frontend", name, "externalip", ip, port, proto, expect)
            for ip in lb:
                print("frontend", name, "lbip", ip, port, proto, expect)
    for b in backends:
        print("backend", *b)


if __name__ == "__main__":
    main(sys.argv[1])
