-- Member accounts (SPEC §3): how a member logs in (an argon2id PHC string,
-- never the password), what they speak (a BCP 47 tag), where they can be
-- reached outside the exchange (an E.164 key, `+` and digits; a SIP URI or
-- E.164 number at another provider), and their role. A member of a company
-- names the company (a member row of kind company); the store checks that
-- kind and that a company admin has a company, as SQLite cannot add table
-- CHECKs to an existing table.
ALTER TABLE members ADD COLUMN password_hash  TEXT CHECK (length(password_hash) BETWEEN 1 AND 512);
ALTER TABLE members ADD COLUMN language       TEXT CHECK (length(language) BETWEEN 2 AND 35);
ALTER TABLE members ADD COLUMN contact_pstn   TEXT CHECK (length(contact_pstn) BETWEEN 2 AND 32 AND substr(contact_pstn, 1, 1) = '+');
ALTER TABLE members ADD COLUMN voip_elsewhere TEXT CHECK (length(voip_elsewhere) BETWEEN 1 AND 254);
ALTER TABLE members ADD COLUMN role           TEXT NOT NULL DEFAULT 'member'
    CHECK (role IN ('operator', 'company_admin', 'member'));
ALTER TABLE members ADD COLUMN company_id     INTEGER REFERENCES members (id);
CREATE INDEX members_company ON members (company_id);

-- Members' API tokens, for their scripts: like the operator's `api_tokens`,
-- only the SHA-256 of the token is kept; a token acts as its member.
CREATE TABLE member_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id  INTEGER NOT NULL REFERENCES members (id),
    name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash TEXT    NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    created_at INTEGER NOT NULL,
    UNIQUE (member_id, name)
);

-- Company branches (SPEC §3): where a company's calls go, per country
-- (ISO 3166-1 alpha-2): a terminal (a number key held by the company or one
-- of its members), a group ringing together (such keys, comma-separated),
-- or a PSTN number (an E.164 key). One branch per (company, country); at
-- most one of a company's branches is its default (the partial index).
CREATE TABLE company_branches (
    company_id       INTEGER NOT NULL REFERENCES members (id),
    country          TEXT    NOT NULL CHECK (length(country) = 2 AND country = upper(country)),
    destination_kind TEXT    NOT NULL CHECK (destination_kind IN ('terminal', 'group', 'pstn')),
    destination      TEXT    NOT NULL CHECK (length(destination) BETWEEN 1 AND 1100),
    is_default       BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (company_id, country)
);
CREATE UNIQUE INDEX company_branches_default ON company_branches (company_id) WHERE is_default;
