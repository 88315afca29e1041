-- Monthly rentals and numbers given back (SPEC §2 "numbers carry a monthly
-- rental that the billing run charges", SPEC §6 "a double-entry ledger
-- records every … rental").
--
-- The ledger gains a kind, `rental`, and a description ("rental of
-- 02-6200-6200-082 for 2026-12"). A rental transaction names its order, once
-- per billing month, so the (order, kind) uniqueness of 0008 is for charges
-- and refunds only; the month's uniqueness is `rentals`'.
--
-- SQLite cannot change a CHECK in place: ledger_transactions and
-- ledger_entries (which references it) are rebuilt with the same rows, and
-- renamed into place after the old tables are dropped (SQLite rewrites
-- ledger_entries' reference on the rename).
CREATE TABLE ledger_transactions_0011 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id       INTEGER NOT NULL REFERENCES members (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('topup', 'charge', 'refund', 'rental')),
    order_id        INTEGER          REFERENCES orders (id),
    idempotency_key TEXT             CHECK (length(idempotency_key) BETWEEN 1 AND 100),
    actor           TEXT    NOT NULL CHECK (length(actor) BETWEEN 1 AND 100),
    at              BIGINT  NOT NULL,
    description     TEXT             CHECK (length(description) BETWEEN 1 AND 200)
);
INSERT INTO ledger_transactions_0011 (id, member_id, kind, order_id, idempotency_key, actor, at)
    SELECT id, member_id, kind, order_id, idempotency_key, actor, at FROM ledger_transactions;

CREATE TABLE ledger_entries_0011 (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id INTEGER NOT NULL REFERENCES ledger_transactions_0011 (id),
    account        TEXT    NOT NULL CHECK (account IN ('balance', 'revenue', 'funding')),
    member_id      INTEGER          REFERENCES members (id),
    currency       TEXT    NOT NULL CHECK (length(currency) = 3),
    amount_e4      BIGINT  NOT NULL CHECK (amount_e4 <> 0),
    CHECK ((account = 'balance') = (member_id IS NOT NULL))
);
INSERT INTO ledger_entries_0011 SELECT * FROM ledger_entries;

DROP TABLE ledger_entries;
DROP TABLE ledger_transactions;
ALTER TABLE ledger_transactions_0011 RENAME TO ledger_transactions;
ALTER TABLE ledger_entries_0011 RENAME TO ledger_entries;

CREATE UNIQUE INDEX ledger_topup_key ON ledger_transactions (member_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX ledger_order_kind ON ledger_transactions (order_id, kind)
    WHERE order_id IS NOT NULL AND kind IN ('charge', 'refund');
CREATE INDEX ledger_transactions_member ON ledger_transactions (member_id, id);
CREATE INDEX ledger_entries_transaction ON ledger_entries (transaction_id);

-- A balance may now be negative: a rental the balance cannot cover is still
-- charged (the debt is recorded) and the member is in arrears until a
-- top-up. Purchases still need the money: they take it only while the
-- balance covers them (`balance_e4 >= amount` in the statement).
CREATE TABLE balances_0011 (
    member_id  INTEGER NOT NULL REFERENCES members (id),
    currency   TEXT    NOT NULL CHECK (length(currency) = 3),
    balance_e4 BIGINT  NOT NULL,
    PRIMARY KEY (member_id, currency)
);
INSERT INTO balances_0011 SELECT * FROM balances;
DROP TABLE balances;
ALTER TABLE balances_0011 RENAME TO balances;
CREATE INDEX balances_arrears ON balances (member_id) WHERE balance_e4 < 0;

-- One rental per assigned order and billing month ('YYYY-MM', UTC): the
-- unique key that makes a second run, or two at once, charge once.
CREATE TABLE rentals (
    order_id       INTEGER NOT NULL REFERENCES orders (id),
    month          TEXT    NOT NULL CHECK (length(month) = 7),
    transaction_id INTEGER NOT NULL REFERENCES ledger_transactions (id),
    PRIMARY KEY (order_id, month)
);

-- When the holder gave the number back: the order stays `assigned` (its
-- history), and the rental stops.
ALTER TABLE orders ADD COLUMN released_at BIGINT;

-- The history of numbers given back: who released which number of whose,
-- when, and until when it stays out of sale (its quarantine, so that the
-- previous holder's callers do not reach the next one). `returned_at` is
-- when it went back on sale.
CREATE TABLE number_releases (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    number           TEXT    NOT NULL,
    member_id        INTEGER NOT NULL REFERENCES members (id),
    order_id         INTEGER          REFERENCES orders (id),
    actor            TEXT    NOT NULL CHECK (length(actor) BETWEEN 1 AND 100),
    at               BIGINT  NOT NULL,
    quarantine_until BIGINT  NOT NULL,
    returned_at      BIGINT
);
CREATE INDEX number_releases_number ON number_releases (number, id);
CREATE INDEX number_releases_quarantined ON number_releases (quarantine_until)
    WHERE returned_at IS NULL;
