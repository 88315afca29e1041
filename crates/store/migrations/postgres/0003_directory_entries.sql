-- The number directory (SPEC §7): what a held number resolves to besides a
-- phone — its holder's SIP address, home page and mailbox — served as ENUM
-- NAPTR records over DNS and as JSON over HTTP.
--
-- One row per number that has at least one entry; a number without a row is
-- held but lists nothing. Releasing the number deletes its row, so its next
-- holder does not inherit the previous holder's home page. The store checks
-- each value's shape (scheme, characters) before writing; the lengths here
-- keep every entry small enough for one DNS character-string once written as
-- a NAPTR regexp (`!^.*$!URI!`, 255 bytes at most). `number` is the
-- canonical key of `numbers` (up to 32 characters: digits, a leading `+` for
-- E.164, `#` for a VNS branch).
CREATE TABLE directory_entries (
    number     TEXT    PRIMARY KEY REFERENCES numbers (number) ON DELETE CASCADE,
    sip        TEXT             CHECK (length(sip) BETWEEN 5 AND 248),     -- sip: or sips: URI
    web        TEXT             CHECK (length(web) BETWEEN 8 AND 248),     -- http: or https: URL
    email      TEXT             CHECK (length(email) BETWEEN 3 AND 241),   -- address, without mailto:
    updated_at BIGINT  NOT NULL,
    CHECK (sip IS NOT NULL OR web IS NOT NULL OR email IS NOT NULL)
);

-- Directory entries are part of what the directory version counts (see
-- 0002): the DNS directory's in-memory copy reloads when it moves.
CREATE TRIGGER directory_entries_changed
    AFTER INSERT OR UPDATE OR DELETE ON directory_entries
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_version();
