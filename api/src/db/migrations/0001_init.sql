-- One schema for SQLite and PostgreSQL: only TEXT and BIGINT columns (the sqlx Any driver
-- maps those the same on both). Ids are UUID text, times are epoch milliseconds, nested
-- structures are base64 protobuf (`*_pb`) or JSON text.

CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    admin BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Every bearer token (sessions, API keys, host tokens, provision tokens), stored hashed.
CREATE TABLE tokens (
    token_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    user_id TEXT,
    host_id TEXT,
    org_id TEXT,
    label TEXT NOT NULL,
    scopes TEXT NOT NULL,
    expires_at BIGINT,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE protocols (
    protocol_id TEXT PRIMARY KEY,
    org_id TEXT,
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    ticker TEXT,
    visibility BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE protocol_versions (
    protocol_version_id TEXT PRIMARY KEY,
    protocol_id TEXT NOT NULL REFERENCES protocols(protocol_id),
    org_id TEXT,
    protocol_key TEXT NOT NULL,
    variant_key TEXT NOT NULL,
    semantic_version TEXT NOT NULL,
    sku_code TEXT NOT NULL,
    description TEXT,
    metadata_json TEXT NOT NULL,
    visibility BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (protocol_key, variant_key, semantic_version)
);

CREATE TABLE images (
    image_id TEXT PRIMARY KEY,
    protocol_version_id TEXT NOT NULL REFERENCES protocol_versions(protocol_version_id),
    build_version BIGINT NOT NULL,
    visibility BIGINT NOT NULL,
    image_pb TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (protocol_version_id, build_version)
);

CREATE TABLE archives (
    archive_id TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(image_id),
    store_key TEXT NOT NULL,
    org_id TEXT,
    new_archive_keys TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX archives_store_key ON archives (store_key);

-- Data versions of one store key; `complete` once the manifest is stored.
CREATE TABLE data_versions (
    store_key TEXT NOT NULL,
    data_version BIGINT NOT NULL,
    complete BIGINT NOT NULL,
    total_size BIGINT NOT NULL,
    compression_pb TEXT,
    chunk_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (store_key, data_version)
);

CREATE TABLE chunks (
    store_key TEXT NOT NULL,
    data_version BIGINT NOT NULL,
    chunk_index BIGINT NOT NULL,
    chunk_pb TEXT NOT NULL,
    PRIMARY KEY (store_key, data_version, chunk_index)
);

CREATE TABLE hosts (
    host_id TEXT PRIMARY KEY,
    org_id TEXT,
    network_name TEXT NOT NULL,
    display_name TEXT,
    bv_version TEXT NOT NULL,
    os TEXT NOT NULL,
    os_version TEXT NOT NULL,
    cpu_cores BIGINT NOT NULL,
    memory_bytes BIGINT NOT NULL,
    disk_bytes BIGINT NOT NULL,
    ip_address TEXT NOT NULL,
    ip_gateway TEXT NOT NULL,
    region TEXT,
    tags_json TEXT NOT NULL,
    online BIGINT NOT NULL,
    last_seen_at BIGINT,
    deleted_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE nodes (
    node_id TEXT PRIMARY KEY,
    node_name TEXT NOT NULL UNIQUE,
    host_id TEXT NOT NULL REFERENCES hosts(host_id),
    org_id TEXT,
    image_id TEXT NOT NULL,
    store_key TEXT NOT NULL,
    protocol_key TEXT NOT NULL,
    next_state BIGINT NOT NULL,
    state BIGINT NOT NULL,
    node_pb TEXT NOT NULL,
    deleted_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX nodes_host ON nodes (host_id);

CREATE TABLE commands (
    command_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    host_id TEXT NOT NULL,
    node_id TEXT,
    command_pb TEXT NOT NULL,
    acked_at BIGINT,
    completed_at BIGINT,
    exit_code BIGINT,
    exit_message TEXT,
    retry_hint_seconds BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX commands_host_pending ON commands (host_id, completed_at);

CREATE TABLE secrets (
    node_id TEXT NOT NULL,
    name TEXT NOT NULL,
    ciphertext TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (node_id, name)
);
