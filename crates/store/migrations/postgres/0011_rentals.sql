-- Monthly rentals and numbers given back (SPEC §2 "numbers carry a monthly
-- rental that the billing run charges", SPEC §6 "a double-entry ledger
-- records every … rental").
--
-- The ledger gains a kind, `rental`, and a description ("rental of
-- 02-6200-6200-082 for 2026-12"). A rental transaction names its order, once
-- per billing month, so the (order, kind) uniqueness of 0008 is for charges
-- and refunds only; the month's uniqueness is `rentals`'.
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_check;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_check
    CHECK (kind IN ('topup', 'charge', 'refund', 'rental'));
ALTER TABLE ledger_transactions ADD COLUMN description TEXT
    CHECK (length(description) BETWEEN 1 AND 200);
DROP INDEX ledger_order_kind;
CREATE UNIQUE INDEX ledger_order_kind ON ledger_transactions (order_id, kind)
    WHERE order_id IS NOT NULL AND kind IN ('charge', 'refund');

-- A balance may now be negative: a rental the balance cannot cover is still
-- charged (the debt is recorded) and the member is in arrears until a
-- top-up. Purchases still need the money: they take it only while the
-- balance covers them (`balance_e4 >= amount` in the statement).
ALTER TABLE balances DROP CONSTRAINT balances_balance_e4_check;
CREATE INDEX balances_arrears ON balances (member_id) WHERE balance_e4 < 0;

-- One rental per assigned order and billing month ('YYYY-MM', UTC): the
-- unique key that makes a second run, or two at once, charge once.
CREATE TABLE rentals (
    order_id       BIGINT NOT NULL REFERENCES orders (id),
    month          TEXT   NOT NULL CHECK (length(month) = 7),
    transaction_id BIGINT NOT NULL REFERENCES ledger_transactions (id),
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
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number           TEXT   COLLATE "C" NOT NULL,
    member_id        BIGINT NOT NULL REFERENCES members (id),
    order_id         BIGINT          REFERENCES orders (id),
    actor            TEXT   NOT NULL CHECK (length(actor) BETWEEN 1 AND 100),
    at               BIGINT NOT NULL,
    quarantine_until BIGINT NOT NULL,
    returned_at      BIGINT
);
CREATE INDEX number_releases_number ON number_releases (number, id);
CREATE INDEX number_releases_quarantined ON number_releases (quarantine_until)
    WHERE returned_at IS NULL;
