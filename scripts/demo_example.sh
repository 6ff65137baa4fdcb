#!/usr/bin/env bash
# Writes the demo's stand-in example cluster into DIR (used while the
# repository has no examples/cluster): node-a, a NodePort web service with
# three pods, and a UDP service with two of them.
#   demo_example.sh DIR NODE_IP
set -euo pipefail
dir=$1
node_ip=$2

cat >"$dir/node.yaml" <<YAML
apiVersion: v1
kind: Node
metadata:
  name: node-a
spec:
  podCIDR: 10.244.1.0/24
status:
  addresses:
  - type: InternalIP
    address: $node_ip
YAML

cat >"$dir/web.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  type: NodePort
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ports:
  - name: http
    protocol: TCP
    port: 80
    targetPort: 8080
    nodePort: 30080
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
ports:
- name: http
  protocol: TCP
  port: 8080
endpoints:
- addresses:
  - 10.244.1.11
  nodeName: node-a
  targetRef:
    kind: Pod
    name: web-1
- addresses:
  - 10.244.1.12
  nodeName: node-a
  targetRef:
    kind: Pod
    name: web-2
- addresses:
  - 10.244.1.13
  nodeName: node-a
  targetRef:
    kind: Pod
    name: web-3
YAML

cat >"$dir/echo-udp.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata:
  name: echo-udp
  namespace: default
spec:
  type: ClusterIP
  clusterIP: 10.96.0.53
  clusterIPs: [10.96.0.53]
  ports:
  - name: echo
    protocol: UDP
    port: 53
    targetPort: 5353
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-udp-1
  namespace: default
  labels:
    kubernetes.io/service-name: echo-udp
addressType: IPv4
ports:
- name: echo
  protocol: UDP
  port: 5353
endpoints:
- addresses:
  - 10.244.1.11
  nodeName: node-a
  targetRef:
    kind: Pod
    name: web-1
- addresses:
  - 10.244.1.12
  nodeName: node-a
  targetRef:
    kind: Pod
    name: web-2
YAML
