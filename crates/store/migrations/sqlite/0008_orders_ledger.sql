-- The purchase flow (SPEC §2) and the prepaid ledger.
--
-- orders: one member buying one inventory number. `state` moves
-- requested → approved (the number held until `hold_until`) or rejected
-- (with `reason`) → payment_requested → paid → assigned; or expired (the
-- hold ran out) / cancelled. The price, rental and currency are the
-- listing's when the order was made (exact ten-thousandths, as in 0005).
-- A member's `idempotency_key` names one order: the same request sent
-- twice is one order.
--
-- At most one live order per number (orders_live_number): two buyers
-- racing for one number race on this index and on the inventory row's
-- state, and exactly one wins.
CREATE TABLE orders (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id       INTEGER NOT NULL REFERENCES members (id),
    number          TEXT    NOT NULL REFERENCES inventory (number),
    state           TEXT    NOT NULL CHECK (state IN ('requested', 'approved', 'rejected',
                            'payment_requested', 'paid', 'assigned', 'expired', 'cancelled')),
    price_e4        BIGINT  NOT NULL CHECK (price_e4 >= 0),
    monthly_e4      BIGINT  NOT NULL CHECK (monthly_e4 >= 0),
    currency        TEXT    NOT NULL CHECK (length(currency) = 3),
    hold_until      BIGINT,
    reason          TEXT             CHECK (length(reason) BETWEEN 1 AND 500),
    idempotency_key TEXT    NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 100),
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    UNIQUE (member_id, idempotency_key),
    CHECK (state <> 'rejected' OR reason IS NOT NULL)
);
CREATE UNIQUE INDEX orders_live_number ON orders (number)
    WHERE state IN ('requested', 'approved', 'payment_requested', 'paid');
CREATE INDEX orders_member ON orders (member_id, id);
CREATE INDEX orders_holds ON orders (hold_until)
    WHERE state IN ('approved', 'payment_requested');

-- Every transition of an order: from (NULL for its creation), to, who
-- ("member 7", "operator", "system") and when, with an optional note.
CREATE TABLE order_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id   INTEGER NOT NULL REFERENCES orders (id),
    from_state TEXT,
    to_state   TEXT    NOT NULL,
    actor      TEXT    NOT NULL CHECK (length(actor) BETWEEN 1 AND 100),
    at         BIGINT  NOT NULL,
    note       TEXT             CHECK (length(note) BETWEEN 1 AND 500)
);
CREATE INDEX order_events_order ON order_events (order_id, id);

-- The double-entry ledger. A ledger transaction (a top-up, a charge, a
-- refund) has entries whose amounts sum to zero per currency; an amount
-- is what the account is credited with (negative: debited), in
-- ten-thousandths. Accounts: a member's prepaid `balance`, and the
-- operator's `revenue` (charges) and `funding` (money received for
-- top-ups), whose member_id is NULL.
--
-- A top-up's idempotency key is unique per member; a charge or a refund
-- is unique per order.
CREATE TABLE ledger_transactions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id       INTEGER NOT NULL REFERENCES members (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('topup', 'charge', 'refund')),
    order_id        INTEGER          REFERENCES orders (id),
    idempotency_key TEXT             CHECK (length(idempotency_key) BETWEEN 1 AND 100),
    actor           TEXT    NOT NULL CHECK (length(actor) BETWEEN 1 AND 100),
    at              BIGINT  NOT NULL
);
CREATE UNIQUE INDEX ledger_topup_key ON ledger_transactions (member_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX ledger_order_kind ON ledger_transactions (order_id, kind)
    WHERE order_id IS NOT NULL;
CREATE INDEX ledger_transactions_member ON ledger_transactions (member_id, id);

CREATE TABLE ledger_entries (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id INTEGER NOT NULL REFERENCES ledger_transactions (id),
    account        TEXT    NOT NULL CHECK (account IN ('balance', 'revenue', 'funding')),
    member_id      INTEGER          REFERENCES members (id),
    currency       TEXT    NOT NULL CHECK (length(currency) = 3),
    amount_e4      BIGINT  NOT NULL CHECK (amount_e4 <> 0),
    CHECK ((account = 'balance') = (member_id IS NOT NULL))
);
CREATE INDEX ledger_entries_transaction ON ledger_entries (transaction_id);

-- A member's balance per currency: the sum of their `balance` entries,
-- kept beside them so that a charge checks and takes it in one statement
-- (`balance_e4 >= amount`), race-free on both engines. Never negative.
CREATE TABLE balances (
    member_id  INTEGER NOT NULL REFERENCES members (id),
    currency   TEXT    NOT NULL CHECK (length(currency) = 3),
    balance_e4 BIGINT  NOT NULL CHECK (balance_e4 >= 0),
    PRIMARY KEY (member_id, currency)
);
