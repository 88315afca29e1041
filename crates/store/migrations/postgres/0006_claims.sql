-- Claims (SPEC §3): an individual claims an e-mail address, a company a
-- domain name, each resolving to a number the member holds (a PIN for an
-- address, a VNS for a domain). Only a verified claim is used: the
-- classifier's step 2 (SPEC §1) reads `verified` rows, and a value is
-- verified for at most one member at a time (the partial unique index
-- below: two members verifying one address race on it, and one wins).
--
-- `value` is normalised by the store: lowercase, a domain without its
-- trailing dot and in ASCII (an IDN as its xn-- form). `token_hash` is the
-- SHA-256 of the one-time token or code with the claim's value, never the
-- token itself. Releasing the number deletes its claims.
CREATE TABLE claims (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id   BIGINT  NOT NULL REFERENCES members (id),
    kind        TEXT    NOT NULL CHECK (kind IN ('email', 'domain')),
    value       TEXT    NOT NULL CHECK (length(value) BETWEEN 3 AND 254 AND value = lower(value)),
    number      TEXT    NOT NULL REFERENCES numbers (number) ON DELETE CASCADE,
    token_hash  TEXT    NOT NULL CHECK (length(token_hash) = 64),
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'verified', 'revoked')),
    attempts    BIGINT  NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    expires_at  BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    verified_at BIGINT,
    verified_by TEXT             CHECK (verified_by IN ('dns', 'email', 'operator')),
    CHECK (state <> 'verified' OR (verified_at IS NOT NULL AND verified_by IS NOT NULL))
);
CREATE UNIQUE INDEX claims_verified_value ON claims (kind, value) WHERE state = 'verified';
CREATE INDEX claims_member ON claims (member_id);
CREATE INDEX claims_number ON claims (number);

-- Claims are part of what the directory version counts (see 0002): the
-- switch's cache of verified addresses and domains reloads when it moves.
CREATE TRIGGER claims_changed
    AFTER INSERT OR UPDATE OR DELETE ON claims
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_version();
