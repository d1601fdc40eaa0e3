#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! The real desktop app, driven through WebDriver (tauri-driver + WebKitWebDriver)
//! in a virtual display with a private session bus, on a seeded SQLite file.
//! Figures on screen are compared with what the core computes for the same file
//! (the functions `chatkeep stats --json` and `retention preview --json` print).
//! Each page is photographed into docs/screenshots/.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chatkeep_core::config::DatabaseUrl;
use chatkeep_core::domain::Actor;
use chatkeep_core::ops::NoProgress;
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::ops::retention::Retention;
use chatkeep_core::ops::stats::storage_stats;
use chatkeep_core::{Clock, Store, SystemClock};
use thirtyfour::prelude::*;

/// A child process stopped with SIGTERM (tauri-driver must not be SIGKILLed: it would
/// leave WebKitWebDriver holding its port).
struct Stop(Child);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn tool(name: &str) -> Option<PathBuf> {
    let tools = std::env::var_os("CHATKEEP_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/chatkeep/tools")))?;
    let path = tools.join("bin").join(name);
    path.exists().then_some(path)
}

/// Xvfb on a free display, a session bus, and tauri-driver inside them.
struct Desktop {
    _driver: Stop,
    _bus: Stop,
    _display: Stop,
    port: u16,
}

fn start_desktop(home: &Path, env: &[(&str, String)]) -> Option<Desktop> {
    let Some(driver) = tool("tauri-driver") else {
        assert!(std::env::var_os("CI").is_none(), "tauri-driver is missing; scripts/ensure-deps.sh installs it");
        eprintln!("SKIPPED: tauri-driver is not installed (scripts/ensure-deps.sh installs it)");
        return None;
    };
    let display = (100..200)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .unwrap();
    let xvfb = Command::new("Xvfb")
        .args([
            format!(":{display}"),
            "-screen".into(),
            "0".into(),
            "1280x800x24".into(),
            "-nolisten".into(),
            "tcp".into(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb (package xvfb) is needed for the desktop tests");
    let xvfb = Stop(xvfb);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !Path::new(&format!("/tmp/.X11-unix/X{display}")).exists() {
        assert!(Instant::now() < deadline, "Xvfb did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut bus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon is needed for the desktop tests");
    let mut address = String::new();
    {
        use std::io::BufRead;
        let mut reader = std::io::BufReader::new(bus.stdout.take().unwrap());
        reader.read_line(&mut address).unwrap();
    }
    let bus = Stop(bus);
    let port = free_port();
    let native = free_port();
    let mut command = Command::new(driver);
    command
        .args(["--port", &port.to_string(), "--native-port", &native.to_string()])
        .env("DISPLAY", format!(":{display}"))
        .env("DBUS_SESSION_BUS_ADDRESS", address.trim())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("LANG")
        .env_remove("LC_ALL")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let driver = Stop(command.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "tauri-driver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Desktop { _driver: driver, _bus: bus, _display: xvfb, port })
}

async fn wait_for(driver: &WebDriver, css: &str) -> WebElement {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(element) = driver.find(By::Css(css)).await {
            return element;
        }
        assert!(Instant::now() < deadline, "{css} never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The raw figure behind a stat card, once it has loaded.
async fn value_of(driver: &WebDriver, testid: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(element) = driver.find(By::Css(format!("[data-testid={testid}][data-value]"))).await
            && let Ok(Some(text)) = element.attr("data-value").await
            && let Ok(value) = text.parse()
        {
            return value;
        }
        assert!(Instant::now() < deadline, "{testid} never showed a figure");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn open(driver: &WebDriver, page: &str) {
    wait_for(driver, &format!("[data-testid=nav-{page}]")).await.click().await.unwrap();
    wait_for(driver, &format!("[data-testid=page-{page}]")).await;
}

async fn photograph(driver: &WebDriver, page: &str) {
    // Let lists and charts finish loading before the picture.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    driver.screenshot(&shots.join(format!("{page}.png"))).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_app_shows_what_the_core_computes_and_does_what_its_buttons_say() {
    let home = tempfile::tempdir().unwrap();
    let db_path = home.path().join("chat.db");
    let saves = home.path().join("saved");
    std::fs::create_dir_all(&saves).unwrap();
    let store = Store::open(&DatabaseUrl::Sqlite(db_path.clone())).await.unwrap();
    let clock = SystemClock;
    let options = SeedOptions { conversations: 400, messages: 4_000, months: 6, seed: 7, until: clock.now() };
    seed_demo(&store, &options, Actor::Cli, &clock, &NoProgress).await.unwrap();
    let stats = storage_stats(&store, chrono_tz::Tz::UTC, &clock).await.unwrap();
    let person = chatkeep_core::ops::gdpr::find_subject(&store, "id:1").await.unwrap();
    let retention_settings = chatkeep_core::Config::resolve(chatkeep_core::config::ConfigInputs {
        explicit_file: None,
        env: &|_: &str| None,
        overrides: Default::default(),
        dirs: chatkeep_core::config::PlatformDirs { config_dir: None, data_dir: Some(home.path().to_path_buf()) },
        system_timezone: Some("UTC".into()),
    })
    .unwrap()
    .retention;
    let preview = Retention { store: &store, settings: &retention_settings, tz: chrono_tz::Tz::UTC, clock: &clock }
        .preview()
        .await
        .unwrap();
    store.close().await;

    let env = [
        ("DATABASE_URL", format!("sqlite://{}", db_path.display())),
        ("CHAT_BACKUP_DIRECTORY", home.path().join("backups").display().to_string()),
        ("TIMEZONE", "UTC".to_string()),
        ("CHATKEEP_DESKTOP_SAVE_DIR", saves.display().to_string()),
        ("CHATKEEP_NOTIFY_LOG", "false".to_string()),
    ];
    let Some(desktop) = start_desktop(home.path(), &env) else {
        return;
    };
    let mut caps = Capabilities::new();
    caps.set("browserName", "wry").unwrap();
    caps.set("tauri:options", serde_json::json!({ "application": env!("CARGO_BIN_EXE_chatkeep-desktop") })).unwrap();
    let started = Instant::now();
    let driver = WebDriver::new(format!("http://127.0.0.1:{}", desktop.port), caps).await.unwrap();

    // Overview: the same figures as `chatkeep stats --json`.
    assert_eq!(value_of(&driver, "stat-messages").await, stats.messages.total);
    eprintln!("cold start to a rendered overview: {} ms", started.elapsed().as_millis());
    assert_eq!(value_of(&driver, "stat-conversations").await, stats.conversations.total);
    assert_eq!(value_of(&driver, "stat-messages-30d").await, stats.messages.last_30_days);
    photograph(&driver, "overview").await;

    // Export: a typed range, CSV, through the save dialog's test path; read back with a CSV parser.
    open(&driver, "export").await;
    let today = chrono::Utc::now().date_naive();
    let from = (today - chrono::Duration::days(60)).to_string();
    for (testid, text) in [("export-from", from.as_str()), ("export-to", &today.to_string())] {
        let input = wait_for(&driver, &format!("[data-testid={testid}]")).await;
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }
    photograph(&driver, "export").await;
    wait_for(&driver, "[data-testid=export-submit]").await.click().await.unwrap();
    let done = wait_for(&driver, "[data-testid=export-done]").await;
    let toast = done.text().await.unwrap();
    let file = saves.join(format!("chat-export_{from}_{today}.csv"));
    assert!(toast.contains(&file.display().to_string()), "{toast}");
    let mut reader = csv::Reader::from_path(&file).unwrap();
    assert!(reader.headers().unwrap().iter().any(|h| h == "message_id"), "{:?}", reader.headers());
    let rows = reader.records().collect::<Result<Vec<_>, _>>().unwrap().len();
    assert!(rows > 0, "the export has the range's messages");
    let said: String = toast.split(" messages").next().unwrap().chars().filter(char::is_ascii_digit).collect();
    assert_eq!(said.parse::<usize>().unwrap(), rows, "one CSV row per message the toast counts: {toast}");

    // Backups: Back up now adds a verified snapshot.
    open(&driver, "backups").await;
    let before = driver.find_all(By::Css("[data-testid=backup-row][data-status=verified]")).await.unwrap().len();
    wait_for(&driver, "[data-testid=backup-now]").await.click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while driver.find_all(By::Css("[data-testid=backup-row][data-status=verified]")).await.unwrap().len() <= before {
        assert!(Instant::now() < deadline, "no new verified backup row appeared");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    photograph(&driver, "backups").await;

    // Retention: the preview's figures are the core's.
    open(&driver, "retention").await;
    assert_eq!(value_of(&driver, "preview-expire-messages").await, preview.expired.messages as i64);
    assert_eq!(value_of(&driver, "preview-purge-messages").await, preview.purged.messages as i64);
    photograph(&driver, "retention").await;

    // GDPR: find a person, see what is stored about them, record an erasure request,
    // erase them after typing their id, and read the certificate.
    open(&driver, "gdpr").await;
    let external = person.person.external_id.clone();
    wait_for(&driver, "[data-testid=gdpr-find-input]").await.send_keys(&external).await.unwrap();
    wait_for(&driver, "[data-testid=gdpr-find]").await.click().await.unwrap();
    let found = wait_for(&driver, "[data-testid=gdpr-subject]").await;
    assert_eq!(found.attr("data-messages").await.unwrap(), Some(person.counts.messages.to_string()));
    let kind = wait_for(&driver, "[data-testid=gdpr-kind]").await;
    thirtyfour::components::SelectElement::new(&kind).await.unwrap().select_by_value("erasure").await.unwrap();
    photograph(&driver, "gdpr").await;
    wait_for(&driver, "[data-testid=gdpr-record]").await.click().await.unwrap();
    wait_for(&driver, "[data-testid=gdpr-row][data-status=open] [data-testid=gdpr-erase]").await.click().await.unwrap();
    let confirm = wait_for(&driver, "[data-testid=gdpr-erase-confirm]").await;
    assert!(!confirm.is_enabled().await.unwrap(), "nothing is erased before the id is typed");
    wait_for(&driver, "[data-testid=gdpr-erase-typed]").await.send_keys(&external).await.unwrap();
    confirm.click().await.unwrap();
    let certificate = wait_for(&driver, "[data-testid=gdpr-certificate]").await;
    assert_eq!(certificate.attr("data-all-zero").await.unwrap().as_deref(), Some("true"));
    photograph(&driver, "gdpr-certificate").await;
    let store = Store::open(&DatabaseUrl::Sqlite(db_path.clone())).await.unwrap();
    let gone = chatkeep_core::ops::gdpr::find_subject(&store, &external).await;
    assert!(gone.is_err(), "the person is no longer in the database");
    store.close().await;
    driver.action_chain().send_keys(thirtyfour::Key::Escape).perform().await.unwrap();

    for page in ["jobs", "audit"] {
        open(&driver, page).await;
        photograph(&driver, page).await;
    }

    // Settings: a bad value shows the core's message and is not saved.
    open(&driver, "settings").await;
    let input = wait_for(&driver, "[data-testid='settings-input-retention.default_days']").await;
    input.clear().await.unwrap();
    input.send_keys("-3").await.unwrap();
    wait_for(&driver, "[data-testid=settings-save]").await.click().await.unwrap();
    let error = wait_for(&driver, "[data-testid=settings-error]").await.text().await.unwrap();
    assert!(error.contains("retention.default_days") && error.contains("from 1 to 36500"), "{error}");
    assert!(!home.path().join("config/chatkeep/chatkeep.toml").exists(), "nothing was written");
    photograph(&driver, "settings").await;

    // A change that deletes sooner asks first, saying what it means; declining writes nothing.
    input.clear().await.unwrap();
    input.send_keys("30").await.unwrap();
    wait_for(&driver, "[data-testid=settings-save]").await.click().await.unwrap();
    let asked = wait_for(&driver, "[data-testid=settings-weakenings]").await.text().await.unwrap();
    assert!(asked.contains("after 30 days instead of 180"), "{asked}");
    photograph(&driver, "settings-confirm").await;
    driver.action_chain().send_keys(thirtyfour::Key::Escape).perform().await.unwrap();
    assert!(!home.path().join("config/chatkeep/chatkeep.toml").exists(), "declined: nothing was written");

    driver.quit().await.unwrap();
}
