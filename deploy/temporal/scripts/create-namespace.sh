#!/bin/sh
# Registers the namespace and the search attributes the speech pipeline maintains.
set -eu
NS=${TEMPORAL_NAMESPACE:-default}
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" | grep -q SERVING; do sleep 1; done
temporal operator namespace describe --namespace "$NS" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 ||
  temporal operator namespace create --namespace "$NS" --retention 30d --address "$TEMPORAL_ADDRESS"
for attr in PipelineStage InputFile; do
  temporal operator search-attribute create --namespace "$NS" --name "$attr" --type Keyword --address "$TEMPORAL_ADDRESS" --yes || true
done
echo "namespace $NS ready"
