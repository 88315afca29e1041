-- Callex store, PostgreSQL. Keep in step with ../sqlite/ (same tables, columns,
-- constraints and index names; only the types' spelling differs).
--
-- Times are integer milliseconds since the Unix epoch, UTC (`*_at`).
-- Lengths are counted in characters, as the Rust side validates them.

-- Identity: a member id is never reused, even after a delete, because
-- bills and CDRs outlive the row.
CREATE TABLE members (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('individual', 'company')),
    display_name TEXT    NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    email        TEXT             CHECK (length(email) BETWEEN 3 AND 254),
    -- The e-mail lowercased by the store: uniqueness and look-ups use it, so
    -- both engines agree on what "the same address" means.
    email_key    TEXT    UNIQUE,
    country      TEXT    NOT NULL CHECK (length(country) = 2 AND country = upper(country)),
    created_at   BIGINT  NOT NULL,
    CHECK ((email IS NULL) = (email_key IS NULL))
);

-- A number in canonical digits is held by at most one member (primary key).
CREATE TABLE numbers (
    number      TEXT    PRIMARY KEY CHECK (length(number) BETWEEN 1 AND 32),
    kind        TEXT    NOT NULL CHECK (kind IN ('pin', 'vns', 'e164')),
    member_id   BIGINT  NOT NULL REFERENCES members (id),
    assigned_at BIGINT  NOT NULL
);
CREATE INDEX numbers_member ON numbers (member_id);

-- HA1 = H(username:realm:password) per digest algorithm, never the password.
-- Releasing the number deletes its credentials, so whoever gets the number
-- next cannot be logged into with the previous holder's password.
CREATE TABLE sip_credentials (
    username   TEXT    NOT NULL REFERENCES numbers (number) ON DELETE CASCADE,
    realm      TEXT    NOT NULL CHECK (length(realm) BETWEEN 1 AND 255),
    algorithm  TEXT    NOT NULL CHECK (algorithm IN ('MD5', 'SHA-256')),
    ha1        TEXT    NOT NULL CHECK (length(ha1) IN (32, 64)),
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (username, realm, algorithm)
);

-- RFC 3261 section 10 location service: one row per (address-of-record, contact).
CREATE TABLE bindings (
    aor         TEXT    NOT NULL,
    contact     TEXT    NOT NULL,
    q           BIGINT  NOT NULL CHECK (q BETWEEN 0 AND 1000), -- per mille: q=0.7 is 700
    expires_at  BIGINT  NOT NULL,
    call_id     TEXT    NOT NULL,
    cseq        BIGINT  NOT NULL CHECK (cseq BETWEEN 0 AND 4294967295),
    path        TEXT    NOT NULL DEFAULT '',          -- RFC 3327 Path values, as received
    received    TEXT    NOT NULL,                     -- e.g. 'udp:192.0.2.1:5060'
    instance_id TEXT,                                 -- RFC 5626 +sip.instance
    reg_id      BIGINT  CHECK (reg_id BETWEEN 1 AND 4294967295),
    user_agent  TEXT    NOT NULL DEFAULT '',
    node        TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (aor, contact)
);
CREATE INDEX bindings_expiry ON bindings (expires_at);

-- Calls in progress, written when a call starts so that a node killed
-- mid-call can close them on restart (see `recover_interrupted`).
CREATE TABLE active_calls (
    call_id          TEXT    PRIMARY KEY,
    node             TEXT    NOT NULL,
    a_leg_call_id    TEXT    NOT NULL,
    b_leg_call_id    TEXT,
    caller           TEXT    NOT NULL,
    callee_dialled   TEXT    NOT NULL,
    callee_presented TEXT,
    start_at         BIGINT  NOT NULL,
    answer_at        BIGINT
);
CREATE INDEX active_calls_node ON active_calls (node);

-- One row per finished call. `call_id` is unique: closing a call twice, from
-- two tasks or two nodes, still leaves one CDR.
CREATE TABLE cdrs (
    id               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id          TEXT    NOT NULL UNIQUE,
    node             TEXT    NOT NULL,
    a_leg_call_id    TEXT    NOT NULL,
    b_leg_call_id    TEXT,
    caller           TEXT    NOT NULL,
    callee_dialled   TEXT    NOT NULL,
    callee_presented TEXT,
    start_at         BIGINT  NOT NULL,
    answer_at        BIGINT,
    end_at           BIGINT  NOT NULL,
    duration_ms      BIGINT  NOT NULL,
    disposition      TEXT    NOT NULL CHECK (disposition IN
                         ('answered', 'busy', 'no-answer', 'cancelled', 'failed', 'interrupted')),
    sip_code         BIGINT  CHECK (sip_code BETWEEN 100 AND 699),
    CHECK (start_at <= end_at),
    CHECK (answer_at IS NULL OR (answer_at BETWEEN start_at AND end_at)),
    CHECK (duration_ms = CASE WHEN answer_at IS NULL THEN 0 ELSE end_at - answer_at END),
    CHECK (disposition <> 'answered' OR answer_at IS NOT NULL),
    CHECK (disposition NOT IN ('busy', 'no-answer', 'cancelled', 'failed') OR answer_at IS NULL),
    CHECK (disposition <> 'failed' OR sip_code IS NOT NULL)
);
CREATE INDEX cdrs_start ON cdrs (start_at);
CREATE INDEX cdrs_caller ON cdrs (caller);
CREATE INDEX cdrs_callee ON cdrs (callee_dialled);

-- Operator API tokens: only the SHA-256 of the token is kept.
CREATE TABLE api_tokens (
    id         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    token_hash TEXT    NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    created_at BIGINT  NOT NULL
);
