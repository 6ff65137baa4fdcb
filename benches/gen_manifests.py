#!/usr/bin/env python3
"""Writes a scale test cluster for `kroute run`: SERVICES services with
ENDPOINTS endpoints each (half of them NodePorts) and one Node, as manifests.

    python3 benches/gen_manifests.py DIR SERVICES ENDPOINTS
"""
import os
import sys


def main() -> None:
    out, services, endpoints = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "node.yaml"), "w") as f:
        f.write(
            "apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\n"
            "status: {addresses: [{type: InternalIP, address: 192.168.50.1}]}\n"
        )
    with open(os.path.join(out, "services.yaml"), "w") as f:
        for i in range(services):
            ip = f"10.96.{i // 250}.{i % 250 + 1}"
            node_port = 30000 + i % 2700 if i % 2 == 0 else None
            kind = "NodePort" if node_port else "ClusterIP"
            np = f", nodePort: {node_port}" if node_port else ""
            f.write(
                f"---\napiVersion: v1\nkind: Service\n"
                f"metadata: {{name: svc-{i}, namespace: bench}}\n"
                f"spec: {{type: {kind}, clusterIP: {ip}, clusterIPs: [{ip}], "
                f"ports: [{{name: http, protocol: TCP, port: 80{np}}}]}}\n"
            )
            eps = ", ".join(
                "{addresses: [10.%d.%d.%d], nodeName: node-%s}"
                % (128 + n // 65536, (n // 256) % 256, n % 256, "a" if e % 3 == 0 else "b")
                for e, n in ((e, i * endpoints + e) for e in range(endpoints))
            )
            f.write(
                f"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                f"metadata: {{name: svc-{i}-1, namespace: bench, "
                f"labels: {{kubernetes.io/service-name: svc-{i}}}}}\n"
                f"addressType: IPv4\nports: [{{name: http, protocol: TCP, port: 8080}}]\n"
                f"endpoints: [{eps}]\n"
            )


if __name__ == "__main__":
    main()
