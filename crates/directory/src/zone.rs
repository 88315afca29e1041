//! The directory's zone as data: an in-memory copy of what every held
//! number lists ([`Snapshot`]), and the answer to a question about a name
//! ([`Zone::answer`]). No sockets and no store here, so every rule is
//! tested by calling a function.

use std::collections::{HashMap, HashSet};
use std::fmt;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::{NAPTR, NS, SOA};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use store::{DirectoryListing, EnumRecord};
use tracing::warn;

/// How long resolvers may keep a number's records: entries change when
/// their holder edits them, and a minute is as long as an edit may take to
/// be seen.
pub const RECORD_TTL: u32 = 60;
/// The apex's NS and SOA change only with the configuration.
pub const APEX_TTL: u32 = 3600;
/// How long resolvers may remember that a name has no records (the SOA
/// minimum, RFC 2308): a number granted a moment ago should not stay
/// unknown for long.
pub const NEGATIVE_TTL: u32 = 60;

/// The longest apex: a number's name (up to 24 labels, 50 bytes) must
/// still fit in 255 bytes below it.
const MAX_APEX_LEN: usize = 200;

/// The name the directory answers for, with everything below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apex {
    name: Name,
}

/// Why a `--dns-apex` is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApexError(String);

impl fmt::Display for ApexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ApexError {}

impl Apex {
    /// Reads a domain name (`callex.arpa.`, the final dot optional) made
    /// of host-name labels: letters, digits and `-`.
    pub fn parse(text: &str) -> Result<Apex, ApexError> {
        let trimmed = text.strip_suffix('.').unwrap_or(text);
        let refuse = |why: &str| ApexError(format!("DNS apex {text:?} is not usable: {why}"));
        if trimmed.is_empty() {
            return Err(refuse("give a domain name such as callex.arpa."));
        }
        if trimmed.len() > MAX_APEX_LEN {
            return Err(refuse(&format!(
                "longer than {MAX_APEX_LEN} characters, which leaves no room for numbers below it"
            )));
        }
        let label_ok = |label: &str| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if !trimmed.split('.').all(label_ok) {
            return Err(refuse(
                "each label is 1 to 63 letters, digits or hyphens (not first or last)",
            ));
        }
        let name = Name::from_ascii(format!("{}.", trimmed.to_ascii_lowercase()))
            .map_err(|err| refuse(&err.to_string()))?;
        Ok(Apex { name })
    }

    pub fn name(&self) -> &Name {
        &self.name
    }

    /// `ns.<apex>`: the name server the apex's NS and SOA point to. The
    /// operator delegates the apex to this host (glue in the parent zone).
    fn name_server(&self) -> Name {
        self.child("ns")
    }

    /// `hostmaster.<apex>`: the SOA's mailbox (RFC 2142).
    fn hostmaster(&self) -> Name {
        self.child("hostmaster")
    }

    fn child(&self, label: &str) -> Name {
        // A short host-name label below an apex checked to leave room for
        // numbers' names cannot make an invalid name.
        self.name
            .prepend_label(label)
            .expect("the apex leaves room for one more label")
    }

    /// The labels of `name` below the apex, leftmost first, or `None` when
    /// `name` is not the apex nor below it. `name` is lowercase (a query's
    /// `LowerName`).
    pub fn labels_below<'n>(&self, name: &'n Name) -> Option<Vec<&'n [u8]>> {
        if !self.name.zone_of(name) {
            return None;
        }
        // Counted label by label: `num_labels` leaves out a leading `*`.
        let below = name.iter().len() - self.name.iter().len();
        Some(name.iter().take(below).collect())
    }
}

impl fmt::Display for Apex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.name.fmt(f)
    }
}

/// What every held number lists, as of one directory version, indexed by
/// the number's name below the apex (labels joined by `.`, lowercase).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The store's directory version this copy was read at; the SOA serial.
    pub version: i64,
    /// Every held number's name and its records (possibly none).
    numbers: HashMap<String, Vec<EnumRecord>>,
    /// Names that are not a held number but have one below them (`pin`,
    /// `082.pin`, a number's shorter prefix): they exist, with no records,
    /// so they answer NOERROR rather than NXDOMAIN (RFC 8020: an NXDOMAIN
    /// says nothing exists below, which resolvers that minimise their
    /// queries rely on).
    interior: HashSet<String>,
}

impl Snapshot {
    /// Indexes `listings`. A listing whose key the numbering rules cannot
    /// read as its kind is left out, with a warning.
    pub fn new(version: i64, listings: &[DirectoryListing]) -> Snapshot {
        let mut snapshot = Snapshot {
            version,
            ..Snapshot::default()
        };
        for listing in listings {
            let number = match numbering::Number::from_key(listing.kind.into(), &listing.number) {
                Ok(number) => number,
                Err(err) => {
                    warn!(
                        number = %listing.number,
                        kind = %listing.kind,
                        error = %err,
                        "a held number has no name in the DNS directory"
                    );
                    continue;
                }
            };
            let labels = numbering::enum_dns::labels(&number);
            for first in 1..labels.len() {
                snapshot.interior.insert(labels[first..].join("."));
            }
            snapshot
                .numbers
                .insert(labels.join("."), listing.entries.records());
        }
        snapshot
    }

    /// How many held numbers it names.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }
}

/// What the directory says to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub code: ResponseCode,
    /// The AA bit: set on every answer about the apex and below.
    pub authoritative: bool,
    pub answers: Vec<Record>,
    /// The SOA, for an NXDOMAIN or an answer with no data (RFC 2308).
    pub authority: Vec<Record>,
}

impl Answer {
    fn refused() -> Answer {
        Answer {
            code: ResponseCode::Refused,
            authoritative: false,
            answers: Vec::new(),
            authority: Vec::new(),
        }
    }
}

/// The apex and a snapshot: everything an answer needs.
#[derive(Debug, Clone)]
pub struct Zone<'a> {
    pub apex: &'a Apex,
    pub snapshot: &'a Snapshot,
}

impl Zone<'_> {
    /// The answer to `query_type` questions about `name` (lowercase; as
    /// asked in `owner`, the name's original spelling, which the records
    /// carry back).
    pub fn answer(&self, name: &Name, owner: &Name, query_type: RecordType) -> Answer {
        let Some(labels) = self.apex.labels_below(name) else {
            return Answer::refused();
        };
        if matches!(query_type, RecordType::AXFR | RecordType::IXFR) {
            // The zone is every member's number: not handed out whole.
            return Answer::refused();
        }
        if labels.is_empty() {
            return self.at_apex(owner, query_type);
        }
        let Some(relative) = relative_name(&labels) else {
            return self.negative(ResponseCode::NXDomain);
        };
        if let Some(records) = self.snapshot.numbers.get(&relative) {
            let wanted = matches!(query_type, RecordType::NAPTR | RecordType::ANY);
            if wanted && !records.is_empty() {
                return self.positive(records.iter().map(|record| naptr(owner, record)).collect());
            }
            return self.negative(ResponseCode::NoError);
        }
        if self.snapshot.interior.contains(&relative) {
            return self.negative(ResponseCode::NoError);
        }
        self.negative(ResponseCode::NXDomain)
    }

    fn at_apex(&self, owner: &Name, query_type: RecordType) -> Answer {
        let soa = || self.soa(owner.clone(), APEX_TTL);
        let ns = || {
            Record::from_rdata(
                owner.clone(),
                APEX_TTL,
                RData::NS(NS(self.apex.name_server())),
            )
        };
        match query_type {
            RecordType::SOA => self.positive(vec![soa()]),
            RecordType::NS => self.positive(vec![ns()]),
            RecordType::ANY => self.positive(vec![soa(), ns()]),
            _ => self.negative(ResponseCode::NoError),
        }
    }

    fn positive(&self, answers: Vec<Record>) -> Answer {
        Answer {
            code: ResponseCode::NoError,
            authoritative: true,
            answers,
            authority: Vec::new(),
        }
    }

    /// No such name, or no data of that type: the SOA says for how long.
    fn negative(&self, code: ResponseCode) -> Answer {
        Answer {
            code,
            authoritative: true,
            answers: Vec::new(),
            authority: vec![self.soa(self.apex.name().clone(), NEGATIVE_TTL)],
        }
    }

    fn soa(&self, owner: Name, ttl: u32) -> Record {
        // The serial only has to grow when the data does (RFC 1982
        // arithmetic wraps): the version's low 32 bits do.
        let serial = self.snapshot.version as u32;
        Record::from_rdata(
            owner,
            ttl,
            RData::SOA(SOA::new(
                self.apex.name_server(),
                self.apex.hostmaster(),
                serial,
                3600,
                600,
                86_400,
                NEGATIVE_TTL,
            )),
        )
    }
}

/// The labels joined by `.`, if each is printable ASCII without a `.` of
/// its own; anything else names no number.
fn relative_name(labels: &[&[u8]]) -> Option<String> {
    let mut name = String::new();
    for (i, label) in labels.iter().enumerate() {
        if !label.iter().all(|b| b.is_ascii_graphic() && *b != b'.') {
            return None;
        }
        if i > 0 {
            name.push('.');
        }
        // Printable ASCII, checked above.
        name.push_str(std::str::from_utf8(label).ok()?);
    }
    Some(name)
}

fn naptr(owner: &Name, record: &EnumRecord) -> Record {
    Record::from_rdata(
        owner.clone(),
        RECORD_TTL,
        RData::NAPTR(NAPTR::new(
            record.order,
            record.preference,
            b"u".to_vec().into_boxed_slice(),
            record.service.as_bytes().to_vec().into_boxed_slice(),
            record.regexp().into_bytes().into_boxed_slice(),
            Name::root(),
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{DirectoryEntries, MemberId, NumberKind};

    fn listing(number: &str, kind: NumberKind, entries: DirectoryEntries) -> DirectoryListing {
        DirectoryListing {
            number: number.into(),
            kind,
            holder: MemberId(1),
            entries,
        }
    }

    fn all_three() -> DirectoryEntries {
        DirectoryEntries {
            sip: Some("sip:alice@example.com".into()),
            web: Some("https://alice.example.com/".into()),
            email: Some("alice@example.com".into()),
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot::new(
            7,
            &[
                listing("0262006200082", NumberKind::Pin, all_three()),
                listing(
                    "62006200#082",
                    NumberKind::Vns,
                    DirectoryEntries {
                        web: Some("http://acme.example/kr".into()),
                        ..DirectoryEntries::default()
                    },
                ),
                listing("62006200", NumberKind::Vns, DirectoryEntries::default()),
                listing(
                    "+82262006200",
                    NumberKind::E164,
                    DirectoryEntries {
                        sip: Some("sips:alice@example.com;transport=tls".into()),
                        ..DirectoryEntries::default()
                    },
                ),
                listing("not-a-key", NumberKind::Pin, all_three()),
            ],
        )
    }

    /// A name from its labels as written, split at dots: `#` and bytes
    /// that are not ASCII are labels on the wire as any others.
    fn name(text: &str) -> Name {
        let labels = text.trim_end_matches('.').split('.').map(str::as_bytes);
        Name::from_labels(labels).unwrap()
    }

    fn ask(snapshot: &Snapshot, asked: &Name, query_type: RecordType) -> Answer {
        let apex = Apex::parse("callex.arpa").unwrap();
        let zone = Zone {
            apex: &apex,
            snapshot,
        };
        zone.answer(&asked.to_lowercase(), asked, query_type)
    }

    fn naptrs(answer: &Answer) -> Vec<(u16, u16, String, String, String)> {
        answer
            .answers
            .iter()
            .map(|record| match &record.data {
                RData::NAPTR(n) => (
                    n.order,
                    n.preference,
                    String::from_utf8_lossy(&n.flags).into_owned(),
                    String::from_utf8_lossy(&n.services).into_owned(),
                    String::from_utf8_lossy(&n.regexp).into_owned(),
                ),
                other => panic!("not a NAPTR: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_pin_with_three_entries_has_three_naptr_records() {
        let answer = ask(
            &snapshot(),
            &name("0.0.2.6.0.0.2.6.2.0.082.pin.callex.arpa."),
            RecordType::NAPTR,
        );
        assert_eq!(answer.code, ResponseCode::NoError);
        assert!(answer.authoritative);
        assert_eq!(
            naptrs(&answer),
            [
                (
                    100,
                    10,
                    "u".into(),
                    "E2U+sip".into(),
                    "!^.*$!sip:alice@example.com!".into()
                ),
                (
                    100,
                    20,
                    "u".into(),
                    "E2U+web:https".into(),
                    "!^.*$!https://alice.example.com/!".into()
                ),
                (
                    100,
                    30,
                    "u".into(),
                    "E2U+email:mailto".into(),
                    "!^.*$!mailto:alice@example.com!".into()
                ),
            ]
        );
        assert!(answer
            .answers
            .iter()
            .all(|r| r.ttl == RECORD_TTL && r.record_type() == RecordType::NAPTR));
    }

    #[test]
    fn a_vns_branch_is_named_below_its_company_and_any_case_is_the_same_name() {
        let answer = ask(
            &snapshot(),
            &name("082.#.0.0.2.6.0.0.2.6.VNS.Callex.Arpa."),
            RecordType::NAPTR,
        );
        assert_eq!(
            naptrs(&answer),
            [(
                100,
                20,
                "u".into(),
                "E2U+web:http".into(),
                "!^.*$!http://acme.example/kr!".into()
            )]
        );
        assert!(
            answer.answers[0]
                .name
                .eq_case(&name("082.#.0.0.2.6.0.0.2.6.VNS.Callex.Arpa.")),
            "the records carry the name as asked"
        );
    }

    #[test]
    fn an_e164_number_is_named_as_under_e164_arpa() {
        let answer = ask(
            &snapshot(),
            &name("0.0.2.6.0.0.2.6.2.2.8.e164.callex.arpa."),
            RecordType::ANY,
        );
        assert_eq!(
            naptrs(&answer),
            [(
                100,
                10,
                "u".into(),
                "E2U+sip".into(),
                "!^.*$!sips:alice@example.com;transport=tls!".into()
            )]
        );
    }

    #[test]
    fn a_held_number_listing_nothing_or_asked_another_type_has_no_data() {
        let snapshot = snapshot();
        for (text, query_type) in [
            ("0.0.2.6.0.0.2.6.vns.callex.arpa.", RecordType::NAPTR),
            ("0.0.2.6.0.0.2.6.2.0.082.pin.callex.arpa.", RecordType::A),
            ("0.0.2.6.0.0.2.6.2.0.082.pin.callex.arpa.", RecordType::TXT),
        ] {
            let answer = ask(&snapshot, &name(text), query_type);
            assert_eq!(answer.code, ResponseCode::NoError, "{text} {query_type}");
            assert!(answer.authoritative);
            assert!(answer.answers.is_empty());
            assert_eq!(answer.authority[0].record_type(), RecordType::SOA);
        }
    }

    #[test]
    fn names_above_held_numbers_exist_without_data() {
        let snapshot = snapshot();
        for text in [
            "pin.callex.arpa.",
            "082.pin.callex.arpa.",
            "2.6.2.0.082.pin.callex.arpa.",
            "#.0.0.2.6.0.0.2.6.vns.callex.arpa.",
            "6.vns.callex.arpa.",
            "e164.callex.arpa.",
            "2.8.e164.callex.arpa.",
        ] {
            let answer = ask(&snapshot, &name(text), RecordType::NAPTR);
            assert_eq!(answer.code, ResponseCode::NoError, "{text}");
            assert!(answer.answers.is_empty(), "{text}");
        }
    }

    #[test]
    fn an_unheld_number_or_a_junk_name_is_nxdomain_with_the_soa() {
        let snapshot = snapshot();
        let dotted_label = Name::from_labels([&b"0.0"[..], b"pin", b"callex", b"arpa"]).unwrap();
        let mut names: Vec<Name> = [
            "1.0.2.6.0.0.2.6.2.0.082.pin.callex.arpa.",
            "9.0.0.2.6.0.0.2.6.2.2.8.e164.callex.arpa.",
            "0.0.2.6.0.0.2.6.2.0.082.pin.extra.callex.arpa.",
            "0.0.2.6.0.0.2.6.2.2.8.e164.pin.callex.arpa.",
            "www.callex.arpa.",
            "12.34.pin.callex.arpa.",
            "é.0.0.2.6.0.0.2.6.vns.callex.arpa.",
            "*.pin.callex.arpa.",
        ]
        .into_iter()
        .map(name)
        .collect();
        names.push(dotted_label);
        for name in names {
            let answer = ask(&snapshot, &name, RecordType::NAPTR);
            assert_eq!(answer.code, ResponseCode::NXDomain, "{name}");
            assert!(answer.authoritative, "{name}");
            assert!(answer.answers.is_empty());
            match &answer.authority[0].data {
                RData::SOA(soa) => {
                    assert_eq!(soa.serial, 7);
                    assert_eq!(soa.minimum, NEGATIVE_TTL);
                }
                other => panic!("{name}: not a SOA: {other:?}"),
            }
        }
    }

    #[test]
    fn the_apex_has_its_soa_and_ns() {
        let snapshot = snapshot();
        let apex = name("callex.arpa.");
        let soa = ask(&snapshot, &apex, RecordType::SOA);
        assert_eq!(soa.code, ResponseCode::NoError);
        assert!(soa.authoritative);
        assert_eq!(soa.answers[0].record_type(), RecordType::SOA);
        let ns = ask(&snapshot, &apex, RecordType::NS);
        match &ns.answers[0].data {
            RData::NS(ns) => assert_eq!(ns.0.to_string(), "ns.callex.arpa."),
            other => panic!("not an NS: {other:?}"),
        }
        let a = ask(&snapshot, &apex, RecordType::A);
        assert_eq!(a.code, ResponseCode::NoError);
        assert!(a.answers.is_empty());
    }

    #[test]
    fn names_outside_the_apex_and_zone_transfers_are_refused() {
        let snapshot = snapshot();
        for (text, query_type) in [
            ("example.com.", RecordType::A),
            ("arpa.", RecordType::NS),
            (
                "0.0.2.6.0.0.2.6.2.0.082.pin.callex.arpa.example.",
                RecordType::NAPTR,
            ),
            ("notcallex.arpa.", RecordType::NAPTR),
            ("callex.arpa.", RecordType::AXFR),
        ] {
            let answer = ask(&snapshot, &name(text), query_type);
            assert_eq!(answer.code, ResponseCode::Refused, "{text}");
            assert!(!answer.authoritative);
        }
    }

    #[test]
    fn apexes_are_domain_names_of_host_labels() {
        assert_eq!(
            Apex::parse("Callex.ARPA").unwrap().to_string(),
            "callex.arpa."
        );
        assert_eq!(
            Apex::parse("enum.example.net.").unwrap().to_string(),
            "enum.example.net."
        );
        for bad in [
            "",
            ".",
            "callex..arpa",
            "-x.arpa",
            "under_score.arpa",
            "é.arpa",
        ] {
            assert!(Apex::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Apex::parse(&format!("{}.arpa", "a.".repeat(120))).is_err());
    }
}
