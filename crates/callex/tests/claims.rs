//! `callex claim` as an operator meets it: a company claims its domain, the
//! operator vouches for it, and the dial plan then reads `sip:example.com`
//! as the company's number; revoking ends it.

mod common;

use common::*;

#[test]
fn a_domain_verified_by_the_operator_dials_the_company_until_revoked() {
    let data_dir = scratch_dir("claims");
    let company = succeeded(run(
        &data_dir,
        &[
            "member",
            "add",
            "--name",
            "Example Inc.",
            "--country",
            "KR",
            "--company",
        ],
    ));
    let company = company.trim();
    succeeded(run(
        &data_dir,
        &[
            "number",
            "grant",
            "6200-6200",
            "--member",
            company,
            "--kind",
            "vns",
        ],
    ));

    let added = succeeded(run(
        &data_dir,
        &[
            "claim",
            "add",
            "--member",
            company,
            "--kind",
            "domain",
            "Example.com.",
            "--number",
            "6200-6200",
        ],
    ));
    assert!(
        added.contains("pending\tdomain example.com -> 62006200"),
        "{added}"
    );
    assert!(
        added.contains("publish: _callex-challenge.example.com. TXT \"callex-verify="),
        "{added}"
    );
    let id = added
        .split_whitespace()
        .nth(1)
        .expect("the claim id")
        .to_owned();

    let dial = || {
        succeeded(run(
            &data_dir,
            &["dial", "sip:example.com", "--from", "6200-6200"],
        ))
    };
    let before = dial();
    assert!(before.contains("an address at another domain"), "{before}");

    let verified = succeeded(run(&data_dir, &["claim", "verify", &id, "--operator"]));
    assert!(verified.contains("verified (by operator)"), "{verified}");
    let listed = succeeded(run(&data_dir, &["claim", "list", "--member", company]));
    assert_eq!(listed.lines().count(), 1, "{listed}");
    let dialled = dial();
    assert!(
        dialled.contains("example.com is a company's verified domain → company 6200-6200"),
        "{dialled}"
    );
    assert!(
        dialled.contains("rings: the phones registered as 62006200"),
        "{dialled}"
    );

    let revoked = succeeded(run(&data_dir, &["claim", "revoke", &id]));
    assert!(revoked.contains("revoked"), "{revoked}");
    let after = dial();
    assert!(after.contains("an address at another domain"), "{after}");

    let unknown = run(&data_dir, &["claim", "verify", "999", "--operator"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("there is no claim 999"),
        "{unknown:?}"
    );
}
