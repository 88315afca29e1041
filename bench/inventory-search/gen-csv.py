#!/usr/bin/env python3
"""Writes N inventory rows as `callex numbers import` reads them, to stdout.

Deterministic: the same N gives the same file. Numbers are spread over
six countries, three kinds (E.164, DID, PIN; VNS now and then) and several
area codes each, with prices from 1,000 to 99,999.99 in the country's
currency; premium is left empty, so the importer classifies the digits.

    bench/inventory-search/gen-csv.py 1000000 > /tmp/inventory-1m.csv
"""
import sys

# country, calling code, currency, area codes (each followed by 8 local digits
# makes a valid national number there)
COUNTRIES = [
    ("KR", "82", "KRW", ["2", "31", "51", "70"]),
    ("US", "1", "USD", ["212", "415", "646", "917"]),
    ("GB", "44", "GBP", ["20"]),
    ("DE", "49", "EUR", ["30", "40", "89"]),
    ("JP", "81", "JPY", ["3", "6"]),
    ("FR", "33", "EUR", ["1", "4"]),
]
# A multiplier coprime with 10: i -> i * STEP mod 10^k visits every local
# number once, in a scattered order.
STEP = 7_919_003


def rows(n):
    slot = 0
    for i in range(n):
        country, cc, currency, areas = COUNTRIES[i % len(COUNTRIES)]
        turn = i // len(COUNTRIES)
        area = areas[turn % len(areas)]
        serial = turn // len(areas)
        local_digits = 10 - len(area) if cc == "1" else 8
        local = str(serial * STEP % 10**local_digits).zfill(local_digits)
        price = f"{1000 + (i * 7_333) % 99_000}.{(i * 37) % 100:02d}"
        monthly = f"{100 + (i * 13) % 900}"
        which = i % 10
        if which < 6:
            kind, number = "e164", f"+{cc}{area}{local}"
        elif which < 8:
            kind, number = "did", f"+{cc}{area}{local}"
        elif which < 9 and cc != "1":
            # A PIN: the trunk 0 before the area code, the country code after.
            kind, number, area = "pin", f"0{area}-{local}-{cc.zfill(3)}", f"0{area}"
        else:
            kind, number = "e164", f"+{cc}{area}{local}"
        yield f"{number},{kind},{country},{area},{price},{monthly},{currency},\n"
        slot += 1


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    out = sys.stdout
    out.write("number,kind,country,area_code,price,monthly,currency,premium\n")
    out.writelines(rows(n))


if __name__ == "__main__":
    main()
