-- Firmware: the panel's signing key (sealed by the vault) and the uploaded artifacts, whose files
-- live in the panel's data directory under firmware/<id>.
CREATE TABLE panel_keys (
    name       TEXT PRIMARY KEY,
    sealed     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE firmware_artifacts (
    id          TEXT PRIMARY KEY,
    version     TEXT NOT NULL,
    target      TEXT NOT NULL,
    notes       TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    -- Ed25519 signature (base64) of the manifest (domain::firmware::Manifest::signed_bytes).
    signature   TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at INTEGER NOT NULL,
    UNIQUE (version, target)
);
