//! The switch's side of the numbering crate: what a Request-URI dials, for
//! whom, asked of the store's copy of who holds what.
//!
//! The classifier is pure and synchronous; what numbers are held lives in
//! the store (or the hot cache). So a call is classified twice: first
//! against a registry that holds nothing and writes down every number,
//! e-mail address and domain it is asked about (classification is
//! deterministic, and a "no" only ever leads to more questions, so these
//! are all it can ask), then, once those are answered from the cache or the
//! store, for real.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use numbering::{
    BusinessSignal, Caller, Classifier, Decision, DialError, DialString, Pin, PrefixTable,
    Registry, Target, Vns, E164,
};
use sip::uri::Uri;
use store::prelude::*;
use store::ClaimKind;

/// What the first pass asks the store: whether numbers (store keys) are
/// held, and which numbers verified e-mail addresses and domains claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Questions {
    pub numbers: Vec<String>,
    /// An e-mail address (lowercase) or a domain (lowercase, no trailing
    /// dot), as the classifier asks them.
    pub claims: Vec<(ClaimKind, String)>,
}

/// The store's answers to [`Questions`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    /// Whether each number is held.
    pub held: HashMap<String, bool>,
    /// The number key each verified address or domain resolves to (`None`:
    /// nobody verified it).
    pub claimed: HashMap<(ClaimKind, String), Option<String>>,
}

/// The operator's numbering configuration, shared by the controller and
/// the look-up tasks.
#[derive(Debug, Clone)]
pub struct DialPlan {
    classifier: Arc<Classifier>,
}

impl DialPlan {
    /// `own_hosts`: the realm and the addresses the exchange is known by;
    /// a Request-URI at one of them dials a number.
    pub fn new(own_hosts: &[&str]) -> DialPlan {
        DialPlan {
            classifier: Arc::new(Classifier::new(
                own_hosts,
                BusinessSignal::default(),
                PrefixTable::new(),
            )),
        }
    }

    /// What the classification of `request_uri` for a caller in `region`
    /// may ask the store.
    pub fn questions(&self, request_uri: &str, region: &str) -> Questions {
        let asked = Asking::default();
        with_dial_string(request_uri, |dialled| {
            let _ = self.classifier.classify(dialled, &caller(region), &asked);
        });
        asked.asked.into_inner()
    }

    /// What `request_uri` dials for a caller in `region`, with `answers`
    /// answering (at least) the [`questions`](DialPlan::questions).
    pub fn decide(
        &self,
        request_uri: &str,
        region: &str,
        answers: &Answers,
    ) -> Result<Decision, DialError> {
        let answers = Asking {
            answers: Some(answers),
            ..Asking::default()
        };
        with_dial_string(request_uri, |dialled| {
            self.classifier.classify(dialled, &caller(region), &answers)
        })
        .unwrap_or(Err(DialError::Nothing))
    }
}

/// Reads from the store what classifying `request_uri` for the holder of
/// `username` needs: the holder's country (their member record's), whether
/// each number the classifier may ask about is held, and what each e-mail
/// address or domain it may ask about is verified for. `None` for a
/// username nobody holds.
pub async fn read_answers(
    store: &Store,
    plan: &DialPlan,
    username: &str,
    request_uri: &str,
) -> Result<(Option<String>, Answers), StoreError> {
    let region = match store.holder(username).await? {
        Some(holder) => store.member(holder.member_id).await?.map(|m| m.country),
        None => None,
    };
    let mut answers = Answers::default();
    if let Some(region) = &region {
        let questions = plan.questions(request_uri, region);
        for number in questions.numbers {
            let is_held = store.holder(&number).await?.is_some();
            answers.held.insert(number, is_held);
        }
        for (kind, value) in questions.claims {
            let number = store.verified_claim(kind, &value).await?;
            answers.claimed.insert((kind, value), number);
        }
    }
    Ok((region, answers))
}

fn caller(region: &str) -> Caller<'_> {
    // Business pools come with the business-number issue; until then no
    // caller has one, and the signal is never read.
    Caller {
        region,
        business_pool: false,
        business_requested: false,
    }
}

/// Runs `f` on the dial string of a Request-URI (`sip:`, `sips:`, `tel:`).
fn with_dial_string<T>(request_uri: &str, f: impl FnOnce(DialString<'_>) -> T) -> Option<T> {
    if let Some(number) = request_uri
        .get(..4)
        .filter(|scheme| scheme.eq_ignore_ascii_case("tel:"))
        .map(|_| &request_uri[4..])
    {
        return Some(f(DialString::Tel(number)));
    }
    let uri = Uri::parse(request_uri).ok()?;
    let scheme = uri.scheme_str();
    if !(scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")) {
        return None;
    }
    // RFC 3261 section 19.1.1: `user=phone` makes the user part a
    // telephone-subscriber, read as a tel: number.
    if uri
        .param("user")
        .flatten()
        .is_some_and(|u| u.eq_ignore_ascii_case("phone"))
    {
        if let Some(user) = uri.user() {
            return Some(f(DialString::Tel(user)));
        }
    }
    Some(f(DialString::Sip {
        user: uri.user(),
        host: uri.host(),
    }))
}

/// The store key (and SIP username) of the party a decision reaches, when
/// it is a member's or company's number: the AOR to ring.
pub fn callee_key(decision: &Decision) -> Option<String> {
    match &decision.target {
        Target::Member(pin) => Some(pin.key()),
        Target::Company(vns) => Some(vns.key()),
        Target::Number {
            number,
            route: numbering::Destination::Member,
        } => Some(number.to_string()),
        Target::Number { .. } | Target::Address { .. } => None,
    }
}

/// Answers from `answers` (nothing is held or claimed without them), and
/// remembers what it was asked.
#[derive(Default)]
struct Asking<'a> {
    answers: Option<&'a Answers>,
    asked: RefCell<Questions>,
}

impl Asking<'_> {
    fn ask(&self, key: String) -> bool {
        let held = self.answers.and_then(|a| a.held.get(&key)) == Some(&true);
        let keys = &mut self.asked.borrow_mut().numbers;
        if !keys.contains(&key) {
            keys.push(key);
        }
        held
    }

    /// The number key `value` is verified for, if any.
    fn ask_claim(&self, kind: ClaimKind, value: &str) -> Option<String> {
        let question = (kind, value.to_owned());
        let number = self
            .answers
            .and_then(|a| a.claimed.get(&question).cloned().flatten());
        let claims = &mut self.asked.borrow_mut().claims;
        if !claims.contains(&question) {
            claims.push(question);
        }
        number
    }
}

impl Registry for Asking<'_> {
    fn pin_held(&self, pin: &Pin) -> bool {
        self.ask(pin.key())
    }
    fn vns_held(&self, vns: &Vns) -> bool {
        self.ask(vns.key())
    }
    fn e164_held(&self, number: &E164) -> bool {
        self.ask(number.to_string())
    }
    // A claim's number is a key the store checked when the claim was made
    // (a PIN for an address, a VNS for a domain); one that does not read
    // as such any more reaches nobody.
    fn member_email(&self, address: &str) -> Option<Pin> {
        self.ask_claim(ClaimKind::Email, address)?.parse().ok()
    }
    fn company_domain(&self, domain: &str) -> Option<Vns> {
        self.ask_claim(ClaimKind::Domain, domain)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(uri: &str, held: &[&str]) -> Result<String, (u16, String)> {
        let plan = DialPlan::new(&["callex.example"]);
        let questions = plan.questions(uri, "KR");
        let answers = Answers {
            held: questions
                .numbers
                .iter()
                .map(|q| (q.clone(), held.contains(&q.as_str())))
                .collect(),
            ..Answers::default()
        };
        plan.decide(uri, "KR", &answers)
            .map(|d| d.target.to_string())
            .map_err(|e| (e.sip_status(), e.to_string()))
    }

    #[test]
    fn a_held_pin_is_rung_by_its_key() {
        let plan = DialPlan::new(&["callex.example"]);
        let uri = "sip:02-6200-6200-082@callex.example";
        let questions = plan.questions(uri, "KR");
        assert_eq!(questions.numbers[0], "0262006200082");
        let answers = Answers {
            held: HashMap::from([("0262006200082".to_owned(), true)]),
            ..Answers::default()
        };
        let decision = plan.decide(uri, "KR", &answers).unwrap();
        assert_eq!(callee_key(&decision).as_deref(), Some("0262006200082"));
    }

    #[test]
    fn a_verified_address_or_domain_is_rung_by_its_claims_number() {
        let plan = DialPlan::new(&["callex.example"]);
        for (uri, kind, value, number) in [
            (
                "sip:Alice@Example.com",
                ClaimKind::Email,
                "alice@example.com",
                "0262006200082",
            ),
            (
                "sip:example.com",
                ClaimKind::Domain,
                "example.com",
                "62006200",
            ),
        ] {
            let questions = plan.questions(uri, "KR");
            assert_eq!(questions.claims, vec![(kind, value.to_owned())], "{uri}");
            let unclaimed = Answers {
                claimed: HashMap::from([((kind, value.to_owned()), None)]),
                ..Answers::default()
            };
            let decision = plan.decide(uri, "KR", &unclaimed).unwrap();
            assert_eq!(callee_key(&decision), None, "{uri} before verification");
            let claimed = Answers {
                claimed: HashMap::from([((kind, value.to_owned()), Some(number.to_owned()))]),
                ..Answers::default()
            };
            let decision = plan.decide(uri, "KR", &claimed).unwrap();
            assert_eq!(callee_key(&decision).as_deref(), Some(number), "{uri}");
        }
    }

    /// Answers from `held`, and fails the test on a question outside it.
    struct Strict<'a>(&'a HashMap<String, bool>);

    impl Strict<'_> {
        fn held(&self, key: String) -> bool {
            *self
                .0
                .get(&key)
                .unwrap_or_else(|| panic!("{key} was not asked first"))
        }
    }

    impl Registry for Strict<'_> {
        fn pin_held(&self, pin: &Pin) -> bool {
            self.held(pin.key())
        }
        fn vns_held(&self, vns: &Vns) -> bool {
            self.held(vns.key())
        }
        fn e164_held(&self, number: &E164) -> bool {
            self.held(number.to_string())
        }
        fn member_email(&self, _: &str) -> Option<Pin> {
            None
        }
        fn company_domain(&self, _: &str) -> Option<Vns> {
            None
        }
    }

    #[test]
    fn the_first_pass_asks_everything_the_second_does() {
        for uri in [
            "sip:6200-6200%23082@callex.example",
            "sip:62006200@callex.example",
            "sip:0262006200082@10.0.0.1",
            "tel:+82-70-4000-1234",
            "sip:+827040001234@callex.example;user=phone",
            "sip:070-4000-1234@callex.example",
        ] {
            let plan = DialPlan::new(&["callex.example"]);
            let questions = plan.questions(uri, "KR").numbers;
            assert!(!questions.is_empty(), "{uri}");
            // Every subset of the questions held.
            for mask in 0..1u32 << questions.len() {
                let answers: HashMap<String, bool> = questions
                    .iter()
                    .enumerate()
                    .map(|(i, q)| (q.clone(), mask & 1 << i != 0))
                    .collect();
                let decided = with_dial_string(uri, |dialled| {
                    plan.classifier
                        .classify(dialled, &caller("KR"), &Strict(&answers))
                });
                assert!(decided.is_some(), "{uri}");
            }
        }
    }

    #[test]
    fn unknown_and_incomplete_numbers_have_readable_reasons() {
        assert_eq!(decide("sip:010@callex.example", &[]).unwrap_err().0, 484);
        let (status, reason) = decide("sip:6200-6200%23082@callex.example", &[]).unwrap_err();
        assert_eq!(
            (status, reason.as_str()),
            (404, "6200-6200#082 is not in service")
        );
        assert_eq!(decide("sip:alice@callex.example", &[]).unwrap_err().0, 404);
        assert_eq!(decide("mailto:a@b", &[]).unwrap_err().0, 484);
    }

    #[test]
    fn numbers_nobody_holds_have_no_callee() {
        let target = decide("sip:010-1234-5678@callex.example", &[]).unwrap();
        assert_eq!(target, "+82 10-1234-5678 (PSTN)");
    }
}
