#!/usr/bin/env bash
# Wires a local registry into every node of a kind cluster, as kind's local-registry recipe does:
# the registry joins the "kind" network, and each node's containerd resolves REGISTRY_HOST
# (localhost:<port>, what images are tagged with) to the registry container on that network.
# Idempotent: safe to run again after nodes or the registry are recreated.
set -euo pipefail
: "${CLUSTER:?}" "${REGISTRY_CONTAINER:?}" "${REGISTRY_HOST:?}" "${REGISTRY_PORT:?}"

if [ "$(docker inspect -f '{{json .NetworkSettings.Networks.kind}}' "$REGISTRY_CONTAINER")" = "null" ]; then
  docker network connect kind "$REGISTRY_CONTAINER"
fi

hosts_dir="/etc/containerd/certs.d/${REGISTRY_HOST}"
for node in $(kind get nodes --name "$CLUSTER"); do
  docker exec "$node" mkdir -p "$hosts_dir"
  printf '[host."http://%s:%s"]\n' "$REGISTRY_CONTAINER" "$REGISTRY_PORT" \
    | docker exec -i "$node" cp /dev/stdin "${hosts_dir}/hosts.toml"
done
