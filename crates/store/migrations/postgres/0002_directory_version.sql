-- A counter that moves whenever a SIP credential or a number's holder
-- changes, from any process on the database (the CLI, another node): the
-- switch caches HA1s and holders in memory and drops its cache when the
-- counter has moved, so a password reset or a released number takes
-- effect on every node within its poll interval.
CREATE TABLE directory_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT  NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 0);

CREATE FUNCTION bump_directory_version() RETURNS trigger AS $$
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER sip_credentials_changed
    AFTER INSERT OR UPDATE OR DELETE ON sip_credentials
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_version();
CREATE TRIGGER numbers_changed
    AFTER INSERT OR UPDATE OR DELETE ON numbers
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_version();
