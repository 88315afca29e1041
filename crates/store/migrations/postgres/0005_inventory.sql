-- The number inventory (SPEC §2, the marketplace's stock): every number the
-- operator offers for sale, whether still available, held by a purchase in
-- progress, sold or withdrawn.
--
-- - number: the canonical store key (numbering's `Number::key`), one row
--   per number however it was written.
-- - kind: pin, vns, e164 (a PSTN number), or did: a virtual business number
--   (SPEC §5), an E.164 number from the operator's ranges — kept apart from
--   e164 because companies buy it for a pool, not a member as their number.
-- - country: ISO 3166-1 alpha-2; area_code: digits, NULL when the kind has
--   none (a VNS).
-- - price_e4 (the one-off price) and monthly_e4 (the monthly rental): exact
--   decimal amounts in ten-thousandths of `currency` (ISO 4217), as
--   integers. Four decimals hold every ISO 4217 minor unit; integers compare
--   and index as numbers on both engines, where SQLite's NUMERIC would store
--   a REAL (a float) and TEXT would compare '9' above '10'. The store reads
--   them back as rust_decimal values with scale 4.
-- - number and area_code compare bytewise (COLLATE "C"), as on SQLite:
--   both engines page through search results in the same order.
-- - premium: the golden class (numbering's `Golden`: repeating,
--   sequential, repeated) or NULL for an ordinary number.
CREATE TABLE inventory (
    number     TEXT    COLLATE "C" PRIMARY KEY CHECK (length(number) BETWEEN 1 AND 32),
    kind       TEXT    NOT NULL CHECK (kind IN ('pin', 'vns', 'e164', 'did')),
    country    TEXT    NOT NULL CHECK (length(country) = 2),
    area_code  TEXT    COLLATE "C" CHECK (length(area_code) BETWEEN 1 AND 8),
    price_e4   BIGINT  NOT NULL CHECK (price_e4 >= 0),
    monthly_e4 BIGINT  NOT NULL CHECK (monthly_e4 >= 0),
    currency   TEXT    NOT NULL CHECK (length(currency) = 3),
    premium    TEXT             CHECK (premium IN ('repeating', 'sequential', 'repeated')),
    state      TEXT    NOT NULL DEFAULT 'available'
                       CHECK (state IN ('available', 'held', 'sold', 'withdrawn')),
    created_at BIGINT  NOT NULL
);

-- Search looks at available numbers only, in number order (its keyset
-- cursor), within a country: each index serves one way of narrowing, and
-- gives the numbers in order so a page stops after `limit` rows. The other
-- filters (area, contains, price) are checked on the way. An index on the
-- area code would find an area's numbers, but out of number order: sorting
-- the hundreds of thousands of numbers of a busy area costs more than
-- skipping the other areas' numbers (a country has few areas with numbers
-- for sale, each a large share).
CREATE INDEX inventory_available
    ON inventory (country, number) WHERE state = 'available';
CREATE INDEX inventory_available_by_kind
    ON inventory (country, kind, number) WHERE state = 'available';
CREATE INDEX inventory_available_premium
    ON inventory (country, number) WHERE state = 'available' AND premium IS NOT NULL;
