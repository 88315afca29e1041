//! The portal as a browser meets it, through the router in process: a
//! cookie jar, forms posted with the CSRF token the page carried, and the
//! page that answers; a portal over a store with a few numbers for sale.

use std::collections::HashMap;

use axum::body::{to_bytes, Body};
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use store::prelude::*;
use store::{now_millis, Actor, Inventory, Orders, Topup};
use tower::ServiceExt;

pub struct Browser {
    router: Router,
    pub jar: HashMap<String, String>,
    /// The CSRF token of the last page shown.
    pub csrf: String,
}

pub struct Shown {
    pub status: StatusCode,
    pub location: Option<String>,
    pub html: String,
}

impl Browser {
    pub fn new(router: &Router) -> Browser {
        Browser {
            router: router.clone(),
            jar: HashMap::new(),
            csrf: String::new(),
        }
    }

    pub async fn request(&mut self, method: Method, uri: &str, form: Option<String>) -> Shown {
        let mut request = Request::builder().method(method).uri(uri);
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header(header::COOKIE, cookies.join("; "));
        }
        if form.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let request = request
            .body(Body::from(form.unwrap_or_default()))
            .expect("a request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("an answer");
        for cookie in response.headers().get_all(header::SET_COOKIE) {
            let text = cookie.to_str().expect("ASCII cookie");
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            assert!(attributes.contains("HttpOnly"), "{text}");
            assert!(attributes.contains("SameSite=Lax"), "{text}");
            if attributes.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = to_bytes(response.into_body(), 1 << 22)
            .await
            .expect("a body");
        let html = String::from_utf8(bytes.to_vec()).expect("UTF-8");
        if let Some(token) = csrf_in(&html) {
            self.csrf = token;
        }
        Shown {
            status,
            location,
            html,
        }
    }

    pub async fn get(&mut self, uri: &str) -> Shown {
        self.request(Method::GET, uri, None).await
    }

    /// Posts `fields` with the CSRF token of the last page, and follows a
    /// redirect as a browser does.
    pub async fn post(&mut self, uri: &str, fields: &[(&str, &str)]) -> Shown {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        let csrf = self.csrf.clone();
        all.push(("csrf", &csrf));
        self.post_raw(uri, serde_urlencoded::to_string(&all).unwrap())
            .await
    }

    pub async fn post_raw(&mut self, uri: &str, body: String) -> Shown {
        let page = self.request(Method::POST, uri, Some(body)).await;
        match (&page.status, &page.location) {
            (&StatusCode::SEE_OTHER, Some(to)) => {
                let to = to.clone();
                self.get(&to).await
            }
            _ => page,
        }
    }
}

pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    Some(html[at..].split('"').next()?.to_owned())
}

pub struct Portal {
    pub router: Router,
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
}

/// The portal on a SQLite store of its own.
pub async fn portal() -> Portal {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut portal = portal_on(dir.path().to_str().unwrap()).await;
    portal._dir = Some(dir);
    portal
}

/// The portal on the store at `target` (what `Store::open` takes), with
/// numbers for sale.
pub async fn portal_on(target: &str) -> Portal {
    let store = Store::open(target).await.expect("open the store");
    let listings = [
        ("+82 2 6185 3091", "e164", "5000"),
        ("+82 2 6185 3092", "e164", "5000"),
        ("6200-6200#082", "vns", "990000"),
    ]
    .map(|(number, kind, price)| web::inventory::ListingInput {
        number: number.into(),
        kind: kind.into(),
        country: "KR".into(),
        area_code: None,
        price: price.into(),
        monthly: "1100".into(),
        currency: "KRW".into(),
        premium: Some("none".into()),
    });
    let listings = web::inventory::read_listings(&listings).expect("good listings");
    store
        .import_listings(&listings, &|_| {})
        .await
        .expect("listed");
    Portal {
        router: web::router(web::AppState::new(store.clone(), "callex")),
        store,
        _dir: None,
    }
}

pub async fn sign_up(browser: &mut Browser, name: &str, email: &str) -> Shown {
    sign_up_as(browser, "individual", name, email).await
}

/// Signs up an account of `kind` (`individual` or `company`).
pub async fn sign_up_as(browser: &mut Browser, kind: &str, name: &str, email: &str) -> Shown {
    browser.get("/signup").await;
    browser
        .post(
            "/signup",
            &[
                ("kind", kind),
                ("name", name),
                ("email", email),
                ("country", "KR"),
                ("language", "ko"),
                ("password", "correct horse battery"),
                ("password_again", "correct horse battery"),
            ],
        )
        .await
}

pub async fn top_up(store: &Store, email: &str, amount: &str) {
    let member = store.member_by_email(email).await.unwrap().unwrap();
    store
        .top_up(
            &Topup {
                member: member.id,
                amount: amount.parse().unwrap(),
                currency: "KRW".into(),
                idempotency_key: format!("test-{email}-{amount}"),
            },
            Actor::Operator,
            now_millis(),
        )
        .await
        .expect("topped up");
}
