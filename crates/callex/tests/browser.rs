//! The members' portal end to end in a real browser: headless Chromium,
//! driven through chromedriver's W3C WebDriver endpoint, against the
//! `callex` binary serving the portal on 127.0.0.1.
//!
//! A new member signs up from the home page, searches the numbers for sale,
//! buys one, waits for the operator's top-up, pays from the balance, holds
//! the number, logs out and back in. A second member does the same with
//! JavaScript switched off in the browser, and from the keyboard reaches
//! the main content through the skip link. The operator's part (listing the
//! numbers, topping up) goes through the operator API, outside the browser.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`apt-get install -y
//! chromium chromium-driver`; `./scripts/test` installs them). Without them
//! these tests fail rather than skip. Every wait is bounded, and so is each
//! scenario; chromedriver and the Chromium it starts are killed when a test
//! ends, passed or failed. A failed scenario leaves a screenshot and the
//! page's HTML in its scratch directory, named in the panic message.

mod common;

use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::key::Key;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use common::{callex, http_request, scratch_dir, Running};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "chromedriver";
/// Bound on each step: a page to load, an element or a text to show.
const STEP: Duration = Duration::from_secs(10);
/// Bound on a whole scenario, however its steps add up.
const SCENARIO: Duration = Duration::from_secs(120);
const OPERATOR_TOKEN: &str = "browser-test-operator-token-0001";
const PASSWORD: &str = "correct horse battery";

/// Numbers for sale: two ordinary ones a member buys at once, and a golden
/// one that waits for the operator's approval.
const INVENTORY: &str = r#"[
    {"number": "+82 2 6185 3091", "kind": "e164", "country": "KR", "area_code": "2",
     "price": "5000", "monthly": "1100", "currency": "KRW", "premium": "none"},
    {"number": "+82 2 6185 3092", "kind": "e164", "country": "KR", "area_code": "2",
     "price": "5000", "monthly": "1100", "currency": "KRW", "premium": "none"},
    {"number": "+82 2 7777 7777", "kind": "e164", "country": "KR", "area_code": "2",
     "price": "770000", "monthly": "1100", "currency": "KRW", "premium": "repeating"}
]"#;
/// The national digits of the numbers above, as a page shows them once
/// spaces, dashes and the `+` are taken out.
const ORDINARY: &str = "61853092";
const ANOTHER: &str = "61853091";
const GOLDEN: &str = "27777777";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_member_signs_up_buys_a_number_pays_for_it_and_logs_back_in() {
    require_chromium();
    let portal = Portal::start("browser-buy");
    let driver = Chromedriver::start(&portal.dir);
    let browser = Browser::start(&driver, &portal, Javascript::On).await;
    browser
        .run("sign-up-buy-pay", async {
            let member = Newcomer {
                name: "Ha-eun Kim",
                email: "haeun@example.net",
            };
            sign_up_from_the_home_page(&browser, &member).await?;
            buy_a_number(&browser, ORDINARY).await?;
            portal.top_up(member.email, "6100").await?;
            pay_from_balance(&browser, ORDINARY).await?;
            download_the_profile(&browser, ORDINARY, &portal.dir.join("downloads")).await?;
            log_out_and_back_in(&browser, &member, ORDINARY).await
        })
        .await;
    browser.close().await;
    drop(driver);
    portal.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_works_without_javascript_and_from_the_keyboard() {
    require_chromium();
    let portal = Portal::start("browser-nojs");
    let driver = Chromedriver::start(&portal.dir);
    let browser = Browser::start(&driver, &portal, Javascript::Off).await;
    browser
        .run("no-javascript", async {
            javascript_is_off(&browser).await?;
            skip_link_reaches_the_main_content(&browser).await?;
            let member = Newcomer {
                name: "Min-jun Park",
                email: "minjun@example.net",
            };
            sign_up_from_the_home_page(&browser, &member).await?;
            buy_a_number(&browser, ANOTHER).await?;
            cancel_the_order(&browser, ANOTHER).await
        })
        .await;
    browser.close().await;
    drop(driver);
    portal.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_approves_a_premium_purchase_in_the_portal() {
    require_chromium();
    let portal = Portal::start("browser-approve");
    let driver = Chromedriver::start(&portal.dir);
    let member = Browser::start(&driver, &portal, Javascript::On).await;
    let operator = Browser::start(&driver, &portal, Javascript::On).await;
    member
        .run("premium-approval", async {
            let buyer = Newcomer {
                name: "Seo-yeon Lee",
                email: "seoyeon@example.net",
            };
            let ops = Newcomer {
                name: "Operator",
                email: "ops@example.net",
            };
            portal.operator_account(&ops).await?;
            log_in(&operator, &ops).await?;
            sign_up_from_the_home_page(&member, &buyer).await?;
            operator_approves_a_premium_purchase(&member, &operator).await
        })
        .await;
    member.close().await;
    operator.close().await;
    drop(driver);
    portal.finish();
}

// The scenarios' steps, each as a person does it and sees it.

/// Logs in from the home page's "Log in" link.
async fn log_in(browser: &Browser, member: &Newcomer) -> Result<()> {
    browser.open("/").await?;
    browser.follow_link("Log in").await?;
    browser.see_heading("Log in").await?;
    browser.fill("E-mail address", member.email).await?;
    browser.fill("Password", PASSWORD).await?;
    browser.press("Log in").await?;
    browser.see_heading("My numbers").await?;
    browser.see(&format!("Logged in as {}.", member.name)).await
}

/// Someone who opens an account in the scenario.
struct Newcomer {
    name: &'static str,
    email: &'static str,
}

/// Opens `/`, follows "Sign up", fills the form by its labels and lands on
/// "My numbers" with the welcome.
async fn sign_up_from_the_home_page(browser: &Browser, member: &Newcomer) -> Result<()> {
    browser.open("/").await?;
    browser.follow_link("Sign up").await?;
    browser.see_heading("Open an account").await?;
    browser.choose("a person").await?;
    browser.fill("Name", member.name).await?;
    browser.fill("E-mail address", member.email).await?;
    browser.fill("Country", "KR").await?;
    browser.fill("Language", "en").await?;
    browser.fill("Password", PASSWORD).await?;
    browser.fill("Password again", PASSWORD).await?;
    browser.press("Open the account").await?;
    browser.see_heading("My numbers").await?;
    browser
        .see(&format!("Welcome, {}. Your account is open", member.name))
        .await?;
    browser.see("You hold no number yet.").await
}

/// Searches the numbers for sale from the home page's form and buys the one
/// whose digits hold `digits`; the number is then held for the member.
async fn buy_a_number(browser: &Browser, digits: &str) -> Result<()> {
    browser.open("/").await?;
    browser.fill("Country", "KR").await?;
    browser.fill("Containing", "6185").await?;
    browser.press("Search").await?;
    browser.see_heading("Numbers for sale").await?;
    let buttons = browser
        .all(&format!(
            "//tr[{}]//button",
            holds_digits(ANOTHER, ORDINARY)
        ))
        .await?;
    ensure!(
        buttons.len() == 2,
        "the search for 6185 lists {} Buy buttons, not one for each of the two numbers",
        buttons.len()
    );
    browser.press_in_row(digits, "Buy").await?;
    browser.see_heading("My numbers").await?;
    browser.see("is held for you until").await?;
    browser
        .find(&format!(
            "//section[@aria-labelledby='orders-h']//tr[{}]//button[normalize-space(.)='Pay from balance']",
            holds_digits(digits, digits)
        ))
        .await
        .map(drop)
        .context("the new order has no \"Pay from balance\" button")
}

/// Pays the held order from the balance the operator topped up: the number
/// moves under "Numbers I hold".
async fn pay_from_balance(browser: &Browser, digits: &str) -> Result<()> {
    // The top-up happened outside the browser: the page shows it once reloaded.
    browser.open("/my").await?;
    let balance = browser
        .find("//section[@aria-labelledby='balance-h']//li")
        .await
        .context("no balance on My numbers after the top-up")?
        .text()
        .await?;
    ensure!(
        balance == "6100 KRW",
        "the balance reads {balance:?}, not 6100 KRW"
    );
    browser.press_in_row(digits, "Pay from balance").await?;
    browser.see("is yours: it takes calls now").await?;
    holds(browser, digits).await
}

/// Logs out from the header, then back in through "Log in", and still holds
/// the number.
async fn log_out_and_back_in(browser: &Browser, member: &Newcomer, digits: &str) -> Result<()> {
    browser.press("Log out").await?;
    browser.see("Logged out.").await?;
    let my = browser.visit("/my").await;
    ensure!(
        my.as_deref().is_ok_and(|path| path.starts_with("/login")),
        "/my after logging out is {my:?}, not the log-in page"
    );
    log_in(browser, member).await?;
    holds(browser, digits).await
}

/// Cancels the member's order for the number: it is no longer payable.
async fn cancel_the_order(browser: &Browser, digits: &str) -> Result<()> {
    browser.press_in_row(digits, "Cancel").await?;
    browser.see_heading("My numbers").await?;
    let row = format!(
        "//section[@aria-labelledby='orders-h']//tr[{}]",
        holds_digits(digits, digits)
    );
    let state = browser.find(&row).await?.text().await?;
    ensure!(
        state.contains("cancelled") && !state.contains("Pay from balance"),
        "after Cancel the order reads {state:?}"
    );
    browser.see("You hold no number yet.").await
}

/// "Numbers I hold" lists the number.
async fn holds(browser: &Browser, digits: &str) -> Result<()> {
    browser
        .find(&format!(
            "//section[@aria-labelledby='held-h']//tr[{}]",
            holds_digits(digits, digits)
        ))
        .await
        .map(drop)
        .with_context(|| format!("\"Numbers I hold\" does not list the number ending {digits}"))
}

/// A page's own script must not run: otherwise the no-JavaScript scenario
/// would prove nothing.
async fn javascript_is_off(browser: &Browser) -> Result<()> {
    browser
        .client
        .goto("data:text/html,<title>before</title><script>document.title='ran'</script>")
        .await?;
    let title = browser.client.title().await?;
    ensure!(
        title == "before",
        "a page's script ran (title {title:?}): JavaScript is not off"
    );
    Ok(())
}

/// The first Tab on a page focuses "Skip to content", which targets
/// `#main`; Enter on it moves the focus into the main content.
async fn skip_link_reaches_the_main_content(browser: &Browser) -> Result<()> {
    browser.open("/").await?;
    browser.key(Key::Tab).await?;
    let focused = browser.client.active_element().await?;
    let text = focused.text().await?;
    let href = focused.attr("href").await?;
    ensure!(
        text == "Skip to content" && href.as_deref() == Some("#main"),
        "the first Tab focuses {text:?} (href {href:?}), not the skip link to #main"
    );
    browser.key(Key::Enter).await?;
    let focused = browser.client.active_element().await?;
    ensure!(
        focused.attr("id").await?.as_deref() == Some("main"),
        "Enter on the skip link leaves the focus on <{}> {:?}, not on #main",
        focused.tag_name().await?,
        focused.attr("id").await?
    );
    Ok(())
}

// The steps that wait for pages other engineers are building; each is
// finished and called from a scenario once those pages are merged.

/// On /my/terminals, a held number's "New password and profile" button
/// shows the SIP password once and links to the provisioning profile; the
/// profile downloads into `downloads`.
async fn download_the_profile(browser: &Browser, digits: &str, downloads: &Path) -> Result<()> {
    browser.open("/my/terminals").await?;
    browser.see_heading("My terminals").await?;
    let section = format!(
        "//*[self::section or self::tr or self::li][{}]",
        holds_digits(digits, digits)
    );
    let button = browser
        .find(&format!(
            "{section}//button[normalize-space(.)='New password and profile']"
        ))
        .await?;
    browser.click_to_next_page(button).await?;
    browser
        .see("The old SIP password of this number no longer works")
        .await?;
    let link = browser
        .find("//main//a[@download or contains(@href, 'profile')]")
        .await
        .context("no link to download the profile after a new password")?;
    link.click().await?;
    let deadline = Instant::now() + STEP;
    loop {
        let files: Vec<PathBuf> = std::fs::read_dir(downloads)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        // Chromium writes `NAME.crdownload` until the download completes.
        if let Some(profile) = files
            .iter()
            .find(|path| path.extension().is_some_and(|ext| ext != "crdownload"))
        {
            let text = std::fs::read_to_string(profile)
                .with_context(|| format!("reading the profile {}", profile.display()))?;
            ensure!(
                text.contains(digits),
                "the downloaded profile {} does not name the number {digits}",
                profile.display()
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "no profile downloaded into {} within {STEP:?}",
                downloads.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A member buys the golden number, which waits for approval; the operator
/// approves it on /operator/approvals; the member then sees it held.
async fn operator_approves_a_premium_purchase(member: &Browser, operator: &Browser) -> Result<()> {
    member.open("/numbers?country=KR&contains=7777").await?;
    member.press_in_row(GOLDEN, "Buy").await?;
    member.see("waits for the operator's approval").await?;
    operator.open("/operator/approvals").await?;
    operator.press_in_row(GOLDEN, "Approve").await?;
    operator.see("approved").await?;
    member.open("/my").await?;
    member
        .find(&format!(
            "//section[@aria-labelledby='orders-h']//tr[{}]//button[normalize-space(.)='Pay from balance']",
            holds_digits(GOLDEN, GOLDEN)
        ))
        .await
        .map(drop)
        .context("the approved golden number is not payable on My numbers")
}

/// An XPath predicate: the node's text holds `one` or `other` once spaces,
/// dashes, brackets and `+` are taken out (a page may group digits either
/// way).
fn holds_digits(one: &str, other: &str) -> String {
    const BARE: &str = "translate(normalize-space(.), ' -+()#', '')";
    format!("contains({BARE}, '{one}') or contains({BARE}, '{other}')")
}

// The harness: the exchange, chromedriver and the browser session.

/// `callex serve` on free ports with its own data directory, the operator
/// token known, and the inventory listed through the operator API.
struct Portal {
    running: Running,
    dir: PathBuf,
}

impl Portal {
    fn start(label: &str) -> Portal {
        let dir = scratch_dir(label);
        let mut command = callex();
        command
            .args(["serve", "--sip-listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.join("data"))
            .env("CALLEX_ADMIN_TOKEN", OPERATOR_TOKEN);
        let running = Running::start(command);
        let portal = Portal { running, dir };
        let listed = portal.operator("POST", "/api/v1/inventory", Some(INVENTORY));
        assert_eq!(listed.0, 201, "listing the inventory: {}", listed.1);
        portal
    }

    /// Stops the exchange and removes what the test left (kept when a
    /// scenario fails: the panic comes first).
    fn finish(self) {
        let (status, stderr) = self.running.terminate();
        assert_eq!(status.code(), Some(0), "callex serve: {stderr}");
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn http(&self) -> SocketAddr {
        self.running.http
    }

    /// The operator API, as the operator's own tools call it.
    fn operator(&self, method: &str, path: &str, json: Option<&str>) -> (u16, String) {
        let reply = http_request(self.http(), method, path, Some(OPERATOR_TOKEN), json);
        (reply.status, reply.body)
    }

    /// The operator credits the member with `email` (money received by bank
    /// transfer, say).
    /// An operator's portal account, made through the operator API.
    async fn operator_account(&self, who: &Newcomer) -> Result<()> {
        tokio::task::block_in_place(|| {
            let new = json!({"kind": "individual", "name": who.name, "email": who.email, "country": "KR"});
            let (status, body) = self.operator("POST", "/api/v1/members", Some(&new.to_string()));
            ensure!(status == 201, "adding the operator: {status} {body}");
            let id = serde_json::from_str::<Value>(&body)?["id"]
                .as_i64()
                .context("the new member's id")?;
            let role = json!({"role": "operator"}).to_string();
            let (status, body) =
                self.operator("PUT", &format!("/api/v1/members/{id}"), Some(&role));
            ensure!(
                status == 200,
                "making member {id} an operator: {status} {body}"
            );
            let password = json!({"password": PASSWORD}).to_string();
            let (status, body) = self.operator(
                "POST",
                &format!("/api/v1/members/{id}/password"),
                Some(&password),
            );
            ensure!(
                status == 204,
                "setting the operator's password: {status} {body}"
            );
            Ok(())
        })
    }

    async fn top_up(&self, email: &str, amount: &str) -> Result<()> {
        tokio::task::block_in_place(|| {
            let (status, body) = self.operator("GET", "/api/v1/members?limit=100", None);
            ensure!(status == 200, "listing members: {status} {body}");
            let members: Value = serde_json::from_str(&body)?;
            let id = members["items"]
                .as_array()
                .and_then(|items| items.iter().find(|m| m["email"] == email))
                .and_then(|m| m["id"].as_i64())
                .with_context(|| format!("no member {email} among {body}"))?;
            let topup = json!({"amount": amount, "currency": "KRW", "idempotency_key": "bank-1"});
            let (status, body) = self.operator(
                "POST",
                &format!("/api/v1/members/{id}/topups"),
                Some(&topup.to_string()),
            );
            ensure!(status == 201, "topping up member {id}: {status} {body}");
            Ok(())
        })
    }
}

/// Fails the test when Chromium or chromedriver is missing: a green run
/// always means a real browser used the portal.
fn require_chromium() {
    for program in [CHROMIUM, CHROMEDRIVER] {
        let ran = Command::new(program)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let problem = match ran {
            Ok(status) if status.success() => continue,
            Ok(status) => format!("`{program} --version` ended with {status}"),
            Err(e) => format!("{program} cannot be run: {e}"),
        };
        panic!(
            "{problem}: install Chromium and its driver with `apt-get install -y chromium \
             chromium-driver` (Debian; `./scripts/test` does it) — this test drives the portal \
             in a real browser and does not skip"
        );
    }
}

/// chromedriver on a free port of 127.0.0.1, in a process group of its
/// own so that dropping it ends the Chromium it started too.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    fn start(dir: &Path) -> Chromedriver {
        use std::os::unix::process::CommandExt;
        std::fs::create_dir_all(dir).expect("create the scratch directory");
        let log = dir.join("chromedriver.log");
        // The port was free a moment ago; another process may take it
        // first, so a driver that exits at once is started again.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free TCP port")
                .port();
            let mut child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
            let deadline = Instant::now() + STEP;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Chromedriver {
                        child,
                        url: format!("http://127.0.0.1:{port}"),
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "chromedriver did not listen within {STEP:?}; see {}",
            log.display()
        );
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the browser processes under it.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Javascript {
    On,
    Off,
}

/// One headless Chromium session on the portal, with its own profile.
struct Browser {
    client: Client,
    base: String,
    dir: PathBuf,
}

impl Browser {
    async fn start(driver: &Chromedriver, portal: &Portal, javascript: Javascript) -> Browser {
        let dir = portal.dir.clone();
        // Each session its own profile: two may run side by side.
        static SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let session = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let profile = dir.join(format!("chromium-profile-{session}"));
        let downloads = dir.join("downloads");
        std::fs::create_dir_all(&downloads).expect("create the downloads directory");
        let mut prefs = json!({
            "download.default_directory": downloads,
            "download.prompt_for_download": false,
            "intl.accept_languages": "en-US,en",
        });
        if javascript == Javascript::Off {
            prefs["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.display()),
                    "--window-size=1280,1024",
                    "--lang=en-US",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                ],
                "prefs": prefs,
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("json! of an object literal is an object")
        };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let connecting = builder.connect(&driver.url);
        let client = match tokio::time::timeout(Duration::from_secs(30), connecting).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!(
                "chromedriver could not start Chromium: {e}; see {}",
                dir.join("chromedriver.log").display()
            ),
            Err(_) => panic!(
                "Chromium did not start within 30 s; see {}",
                dir.join("chromedriver.log").display()
            ),
        };
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(STEP),
                Some(STEP),
                Some(Duration::ZERO),
            ))
            .await
            .expect("setting the session's timeouts");
        Browser {
            client,
            base: format!("http://{}", portal.http()),
            dir,
        }
    }

    /// Runs a scenario within [`SCENARIO`]; on failure saves a screenshot
    /// and the page, and panics naming them.
    async fn run(&self, name: &str, scenario: impl Future<Output = Result<()>>) {
        let outcome = tokio::time::timeout(SCENARIO, scenario)
            .await
            .unwrap_or_else(|_| Err(anyhow!("the scenario took longer than {SCENARIO:?}")));
        let Err(error) = outcome else { return };
        let kept = tokio::time::timeout(STEP, self.keep_evidence(name))
            .await
            .unwrap_or_else(|_| "no screenshot: the browser did not answer".to_owned());
        panic!("scenario {name} failed: {error:#}\n{kept}");
    }

    async fn keep_evidence(&self, name: &str) -> String {
        let url = self
            .client
            .current_url()
            .await
            .map_or_else(|e| format!("unknown ({e})"), |url| url.to_string());
        let shot = self.dir.join(format!("{name}.png"));
        let page = self.dir.join(format!("{name}.html"));
        let mut kept = format!("the page was {url}");
        match self.client.screenshot().await {
            Ok(png) => match std::fs::write(&shot, png) {
                Ok(()) => kept += &format!("; screenshot {}", shot.display()),
                Err(e) => kept += &format!("; the screenshot could not be written ({e})"),
            },
            Err(e) => kept += &format!("; no screenshot ({e})"),
        }
        if let Ok(html) = self.client.source().await {
            if std::fs::write(&page, html).is_ok() {
                kept += &format!("; HTML {}", page.display());
            }
        }
        kept
    }

    async fn close(self) {
        let _ = tokio::time::timeout(STEP, self.client.close()).await;
    }

    /// Loads `path` of the portal.
    async fn open(&self, path: &str) -> Result<()> {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .with_context(|| format!("opening {path}"))
    }

    /// Loads `path` and answers the path (and query) the browser ended on.
    async fn visit(&self, path: &str) -> Result<String> {
        self.open(path).await?;
        let url = self.client.current_url().await?;
        Ok(match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        })
    }

    /// Waits for the one element at `xpath`.
    async fn find(&self, xpath: &str) -> Result<Element> {
        self.client
            .wait()
            .at_most(STEP)
            .for_element(Locator::XPath(xpath))
            .await
            .with_context(|| format!("nothing at {xpath} within {STEP:?}"))
    }

    /// Every element at `xpath` now.
    async fn all(&self, xpath: &str) -> Result<Vec<Element>> {
        Ok(self.client.find_all(Locator::XPath(xpath)).await?)
    }

    /// Waits until the main content shows `text`.
    async fn see(&self, text: &str) -> Result<()> {
        let deadline = Instant::now() + STEP;
        loop {
            let shown = match self.client.find(Locator::Css("main")).await {
                Ok(main) => main.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if shown.contains(text) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the page does not show {text:?} within {STEP:?}; it shows:\n{shown}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the page's `h1` to read `heading`.
    async fn see_heading(&self, heading: &str) -> Result<()> {
        self.find(&format!("//h1[normalize-space(.)='{heading}']"))
            .await
            .map(drop)
    }

    /// Clicks the link reading `text`, and waits for the next page.
    async fn follow_link(&self, text: &str) -> Result<()> {
        let link = self
            .find(&format!("//a[normalize-space(.)='{text}']"))
            .await?;
        self.click_to_next_page(link).await
    }

    /// The form field labelled `label` (the label's own text, before any
    /// hint in it), as a screen reader finds it: through the label's `for`,
    /// or inside the label.
    async fn field(&self, label: &str) -> Result<Element> {
        let label_element = self
            .find(&format!(
                "//main//label[normalize-space(text()[1])='{label}']"
            ))
            .await
            .with_context(|| format!("no field labelled {label:?}"))?;
        Ok(match label_element.attr("for").await? {
            Some(id) => self.client.find(Locator::Id(&id)).await?,
            None => {
                label_element
                    .find(Locator::XPath(".//input|.//select|.//textarea"))
                    .await?
            }
        })
    }

    /// Types `value` into the field labelled `label`, replacing what it held.
    async fn fill(&self, label: &str, value: &str) -> Result<()> {
        let field = self.field(label).await?;
        field.clear().await?;
        field
            .send_keys(value)
            .await
            .with_context(|| format!("typing into {label:?}"))
    }

    /// Picks the radio button or checkbox labelled `label`.
    async fn choose(&self, label: &str) -> Result<()> {
        self.find(&format!(
            "//main//label[contains(normalize-space(.), '{label}')]//input"
        ))
        .await?
        .click()
        .await
        .with_context(|| format!("choosing {label:?}"))
    }

    /// Presses the one button reading `text`, and waits for the next page.
    async fn press(&self, text: &str) -> Result<()> {
        let xpath = format!("//button[normalize-space(.)='{text}']");
        let buttons = self.all(&xpath).await?;
        ensure!(
            buttons.len() <= 1,
            "{} buttons read {text:?}: which one is meant?",
            buttons.len()
        );
        let button = self.find(&xpath).await?;
        self.click_to_next_page(button).await
    }

    /// Presses the button reading `text` in the table row holding `digits`.
    async fn press_in_row(&self, digits: &str, text: &str) -> Result<()> {
        let button = self
            .find(&format!(
                "//tr[{}]//button[normalize-space(.)='{text}']",
                holds_digits(digits, digits)
            ))
            .await
            .with_context(|| format!("no {text:?} button for the number ending {digits}"))?;
        self.click_to_next_page(button).await
    }

    /// Clicks, then waits until the page it was on is gone (the form's
    /// answer or the link's target is loaded in its place).
    ///
    /// While the old document is being replaced, chromedriver may answer a
    /// command on it with an "unknown error" (the node "does not belong to
    /// the document") rather than a stale reference, for the click itself
    /// too: such errors are retried until the old page reads as stale, and
    /// reported only if it never does.
    async fn click_to_next_page(&self, target: Element) -> Result<()> {
        let before = self.client.find(Locator::Css("html")).await?;
        let mut last_error = target.click().await.err();
        let deadline = Instant::now() + STEP;
        loop {
            match before.tag_name().await {
                Err(CmdError::Standard(e)) if e.error == ErrorStatus::StaleElementReference => {
                    return Ok(());
                }
                Err(e) => last_error = Some(e),
                Ok(_) => {}
            }
            if Instant::now() > deadline {
                return Err(match last_error {
                    Some(e) => anyhow!(e).context("clicking to the next page"),
                    None => anyhow!("the click loaded no new page within {STEP:?}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Presses and releases one key, as a keyboard user does.
    async fn key(&self, key: Key) -> Result<()> {
        let value: char = key.into();
        let press = KeyActions::new("keyboard".to_owned())
            .then(KeyAction::Down { value })
            .then(KeyAction::Up { value });
        self.client.perform_actions(press).await?;
        Ok(())
    }
}
