-- Portal sessions: a member logged in through the web portal. The browser
-- holds a random token in a cookie; only its SHA-256 is kept, as for API
-- tokens. `csrf` is the session's synchronizer token, which every form the
-- portal renders for this session carries back.
CREATE TABLE portal_sessions (
    token_hash TEXT    PRIMARY KEY CHECK (length(token_hash) = 64),
    member_id  INTEGER NOT NULL REFERENCES members (id),
    csrf       TEXT    NOT NULL CHECK (length(csrf) BETWEEN 32 AND 100),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX portal_sessions_member ON portal_sessions (member_id);
CREATE INDEX portal_sessions_expiry ON portal_sessions (expires_at);
