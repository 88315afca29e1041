-- Provisioning links (SPEC §3, the seed's "flash card"): a short-lived link
-- a member's softphone downloads its SIP account from. The token is kept as
-- its SHA-256 (like API tokens), and the SIP password only sealed under the
-- token (see store::provisioning): the database alone reveals neither. One
-- link per number: a new one replaces it; a released number's link goes
-- with the number.
CREATE TABLE provisioning_links (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    number          TEXT    NOT NULL UNIQUE REFERENCES numbers (number) ON DELETE CASCADE,
    member_id       INTEGER NOT NULL REFERENCES members (id),
    token_hash      TEXT    NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    sealed_password BLOB    NOT NULL CHECK (length(sealed_password) BETWEEN 33 AND 1024),
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL CHECK (expires_at > created_at),
    fetches         INTEGER NOT NULL DEFAULT 0 CHECK (fetches >= 0),
    last_fetched_at INTEGER
);
