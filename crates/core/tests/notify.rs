#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! Webhook notifications against a small HTTP server the test starts on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatkeep_core::events::{Event, EventSink};
use chatkeep_core::notify::{Delivery, Target, Webhook};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    content_type: String,
    body: serde_json::Value,
}

/// Answers each request with the next status in `statuses` (200 once they run out).
struct Server {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    fn start(statuses: &[u16]) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(statuses.to_vec()));
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let (log, statuses) = (log.clone(), statuses.clone());
                std::thread::spawn(move || serve(stream.unwrap(), &log, &statuses));
            }
        });
        Server { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, log: &Mutex<Vec<Received>>, statuses: &Mutex<Vec<u16>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_string();
        let (mut length, mut content_type) = (0usize, String::new());
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "content-type" => content_type = value.trim().to_string(),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        log.lock().unwrap().push(Received { path, content_type, body: serde_json::from_slice(&body).unwrap() });
        let status = {
            let mut statuses = statuses.lock().unwrap();
            if statuses.is_empty() { 200 } else { statuses.remove(0) }
        };
        let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{{}}");
        writer.write_all(reply.as_bytes()).unwrap();
    }
}

fn quick() -> Delivery {
    Delivery { attempts: 3, first_pause: Duration::from_millis(20), timeout: Duration::from_secs(5) }
}

fn failed() -> Event {
    Event::JobFailed { job: "retention".into(), attempts: 3, error: "the database is busy".into() }
}

#[test]
fn a_webhook_posts_json_with_a_slack_compatible_text_and_retries_a_server_error() {
    let server = Server::start(&[503]);
    let webhook = Webhook::start_with(Target::Json { url: format!("{}/hooks/ops", server.url) }, quick());
    webhook.emit(failed());
    assert!(webhook.flush(Duration::from_secs(10)), "delivered before the flush returns");

    let received = server.received();
    assert_eq!(received.len(), 2, "a 503, then the retry that got through: {received:?}");
    let body = &received[1].body;
    assert_eq!(received[1].path, "/hooks/ops");
    assert_eq!(received[1].content_type, "application/json");
    assert_eq!(body["event"], "job_failed");
    assert_eq!(body["job"], "retention");
    assert_eq!(body["attempts"], 3);
    assert_eq!(body["source"], "chatkeep");
    assert_eq!(body["text"], "chatkeep: job retention failed after 3 attempts: the database is busy");
    assert!(body["at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn telegram_mode_posts_send_message_with_the_chat_id() {
    let server = Server::start(&[]);
    let target =
        Target::Telegram { api_url: server.url.clone(), token: "123456:ABC-def_9".into(), chat_id: "-100200".into() };
    let webhook = Webhook::start_with(target, quick());
    webhook.emit(Event::JobMissed {
        job: "snapshot".into(),
        missed: 2,
        first: "2026-02-01 01:00 +08".into(),
        last: "2026-02-02 01:00 +08".into(),
        caught_up: true,
    });
    assert!(webhook.flush(Duration::from_secs(10)));
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/bot123456:ABC-def_9/sendMessage");
    assert_eq!(received[0].body["chat_id"], "-100200");
    assert_eq!(
        received[0].body["text"],
        "chatkeep: job snapshot missed its run 2 times, 2026-02-01 01:00 +08 to 2026-02-02 01:00 +08 \
         (chatkeep was not running); running it once now"
    );
    assert!(
        format!("{webhook:?}").contains("-100200") && !format!("{webhook:?}").contains("ABC-def"),
        "no token in logs"
    );
}

#[test]
fn an_endpoint_that_is_down_never_blocks_or_fails_the_sender() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let webhook = Webhook::start_with(Target::Json { url: format!("http://127.0.0.1:{port}/") }, quick());
    let started = std::time::Instant::now();
    for _ in 0..5 {
        webhook.emit(failed());
    }
    assert!(started.elapsed() < Duration::from_millis(500), "emit queues; it does not wait for the network");
    assert!(webhook.flush(Duration::from_secs(20)), "each event is given up after its attempts");

    // A client error is not retried.
    let server = Server::start(&[400]);
    let webhook = Webhook::start_with(Target::Json { url: server.url.clone() }, quick());
    webhook.emit(failed());
    assert!(webhook.flush(Duration::from_secs(10)));
    assert_eq!(server.received().len(), 1);
}
