#!/usr/bin/env python3
"""Reads a directory of Kubernetes manifests (block-style YAML, as `kubectl get
-o yaml` writes it) and prints what the demo needs, one item per line:

    node     NAME INTERNAL_IP
    backend  POD_NAME POD_IP PORT PROTO          (from EndpointSlices)
    frontend SERVICE clusterip IP PORT PROTO      (from Services)
    frontend SERVICE nodeport - NODE_PORT PROTO

Standard library only (no PyYAML on a fresh machine): a line scanner that
understands the few fields it needs, not a YAML parser.
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
            kind = re.search(r"^kind:\s*(\S+)", doc, re.M)
            if kind:
                yield kind.group(1), doc


def metadata_name(doc):
    m = re.search(r"^metadata:\s*\n(?:[ \t]+.*\n|\s*\n)*?[ \t]+name:\s*['\"]?([^\s'\"]+)", doc, re.M)
    return m.group(1) if m else "unnamed"


def block(doc, key, indent):
    """Lines of the block under `key:` at exactly `indent` spaces."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if re.fullmatch(" " * indent + re.escape(key) + r":\s*", line):
            out = []
            for nxt in lines[i + 1:]:
                stripped = nxt.lstrip(" ")
                depth = len(nxt) - len(stripped)
                if stripped and depth < indent or (stripped and depth == indent and not stripped.startswith("- ")):
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


def field(text, key):
    m = re.search(r"(?:^|\s)" + re.escape(key) + r":\s*['\"]?([^\s'\"#]+)", text, re.M)
    return m.group(1) if m else None


def main(directory):
    for kind, doc in documents(directory):
        if kind == "Node":
            addrs = "\n".join(block(doc, "addresses", 2))
            m = re.search(r"type:\s*InternalIP\s*\n\s*address:\s*" + IPV4, addrs) or re.search(
                r"address:\s*" + IPV4 + r"\s*\n\s*type:\s*InternalIP", addrs)
            print("node", metadata_name(doc), m.group(1) if m else "-")
        elif kind == "Service":
            name = metadata_name(doc)
            cluster_ip = field("\n".join(l for l in doc.splitlines() if l.startswith("  clusterIP:")), "clusterIP")
            for item in list_items(block(doc, "ports", 2)):
                proto = (field(item, "protocol") or "TCP").lower()
                port = field(item, "port")
                if cluster_ip and cluster_ip != "None" and port:
                    print("frontend", name, "clusterip", cluster_ip, port, proto)
                node_port = field(item, "nodePort")
                if node_port:
                    print("frontend", name, "nodeport", "-", node_port, proto)
        elif kind == "EndpointSlice":
            ports = [(field(i, "port"), (field(i, "protocol") or "TCP").lower())
                     for i in list_items(block(doc, "ports", 0))]
            for item in list_items(block(doc, "endpoints", 0)):
                target = "\n".join(block(item, "targetRef", 2))
                pod = field(target, "name") if target else None
                for ip in re.findall(IPV4, "\n".join(block(item, "addresses", 2)) or item.splitlines()[0]):
                    for port, proto in ports:
                        if port:
                            print("backend", pod or "pod-" + ip.replace(".", "-"), ip, port, proto)


if __name__ == "__main__":
    main(sys.argv[1])
