#!/bin/sh
# Creates and migrates Temporal's persistence and visibility databases (idempotent).
set -eu
HOST=${POSTGRES_SEEDS:-postgresql}
PORT=${DB_PORT:-5432}
USER=${POSTGRES_USER:-temporal}
SCHEMA=/etc/temporal/schema/postgresql/v12

until nc -z "$HOST" "$PORT"; do echo "waiting for PostgreSQL at $HOST:$PORT"; sleep 1; done

for db in temporal temporal_visibility; do
  case $db in
    temporal) dir=$SCHEMA/temporal/versioned ;;
    *) dir=$SCHEMA/visibility/versioned ;;
  esac
  temporal-sql-tool --plugin postgres12 --ep "$HOST" -p "$PORT" -u "$USER" --db "$db" create || true
  temporal-sql-tool --plugin postgres12 --ep "$HOST" -p "$PORT" -u "$USER" --db "$db" setup-schema -v 0.0 || true
  temporal-sql-tool --plugin postgres12 --ep "$HOST" -p "$PORT" -u "$USER" --db "$db" update-schema -d "$dir"
done
echo "schema ready"
