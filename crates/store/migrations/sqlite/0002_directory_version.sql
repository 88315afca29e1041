-- A counter that moves whenever a SIP credential or a number's holder
-- changes, from any process on the database (the CLI, another node): the
-- switch caches HA1s and holders in memory and drops its cache when the
-- counter has moved, so a password reset or a released number takes
-- effect on the running exchange within its poll interval.
CREATE TABLE directory_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 0);

CREATE TRIGGER sip_credentials_inserted AFTER INSERT ON sip_credentials
BEGIN UPDATE directory_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER sip_credentials_updated AFTER UPDATE ON sip_credentials
BEGIN UPDATE directory_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER sip_credentials_deleted AFTER DELETE ON sip_credentials
BEGIN UPDATE directory_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER numbers_inserted AFTER INSERT ON numbers
BEGIN UPDATE directory_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER numbers_updated AFTER UPDATE ON numbers
BEGIN UPDATE directory_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER numbers_deleted AFTER DELETE ON numbers
BEGIN UPDATE directory_version SET version = version + 1 WHERE id = 1; END;
