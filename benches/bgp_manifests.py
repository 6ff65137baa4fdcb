#!/usr/bin/env python3
"""Writes the BGP benchmark's cluster for `kroute run`: SERVICES LoadBalancer
services with INGRESS load-balancer ingress IPs each (SERVICES x INGRESS /32
routes to announce; no node ports: 10,000 would not fit the node-port
range), one ready endpoint each, and the Node, as manifests.

    python3 benches/bgp_manifests.py DIR SERVICES INGRESS [NODE_IP]

The ingress IPs are consecutive from 10.200.0.0 (service i owns
10.200.0.0 + i*INGRESS .. + INGRESS-1): the same addresses `route_prefixes`
gives the other senders of benches/bgp_bench.py.
"""
import ipaddress
import os
import sys

FIRST_ROUTE = ipaddress.IPv4Address("10.200.0.0")


def route_prefixes(count: int) -> list[str]:
    """The COUNT /32 routes every sender of the benchmark announces."""
    return [f"{FIRST_ROUTE + i}/32" for i in range(count)]


def write(out: str, services: int, ingress: int, node_ip: str) -> None:
    if FIRST_ROUTE + services * ingress > ipaddress.IPv4Address("10.255.255.255"):
        raise SystemExit(f"{services} x {ingress} ingress IPs do not fit from {FIRST_ROUTE}")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "node.yaml"), "w") as f:
        f.write(
            "apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\n"
            f"status: {{addresses: [{{type: InternalIP, address: {node_ip}}}]}}\n"
        )
    with open(os.path.join(out, "services.yaml"), "w") as f:
        for i in range(services):
            cluster_ip = f"10.96.{i // 250}.{i % 250 + 1}"
            ips = ", ".join(
                f"{{ip: {FIRST_ROUTE + i * ingress + k}}}" for k in range(ingress)
            )
            f.write(
                f"---\napiVersion: v1\nkind: Service\n"
                f"metadata: {{name: lb-{i}, namespace: bench}}\n"
                f"spec: {{type: LoadBalancer, clusterIP: {cluster_ip}, clusterIPs: [{cluster_ip}], "
                f"allocateLoadBalancerNodePorts: false, "
                f"ports: [{{name: http, protocol: TCP, port: 80}}]}}\n"
                f"status: {{loadBalancer: {{ingress: [{ips}]}}}}\n"
            )
            endpoint = f"10.{128 + i // 65536}.{(i // 256) % 256}.{i % 256}"
            f.write(
                f"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                f"metadata: {{name: lb-{i}-1, namespace: bench, "
                f"labels: {{kubernetes.io/service-name: lb-{i}}}}}\n"
                f"addressType: IPv4\nports: [{{name: http, protocol: TCP, port: 8080}}]\n"
                f"endpoints: [{{addresses: [{endpoint}], nodeName: node-a}}]\n"
            )


def main() -> None:
    if len(sys.argv) not in (4, 5):
        raise SystemExit(__doc__)
    node_ip = sys.argv[4] if len(sys.argv) == 5 else "10.99.0.1"
    write(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), node_ip)


if __name__ == "__main__":
    main()
