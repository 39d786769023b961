//! The PocketIC protocol's request bodies, as drydock's PocketIC server decodes them
//! (`drydock_pocketic::request`): an input is one byte choosing the request, then its body.
//! The checks are what the decoder promises the routes:
//! - a known operation's bad body is a bad request, never "unsupported";
//! - every principal it hands on is a principal (at most 29 bytes);
//! - a gzipped blob never gunzips past its limit.
//!
//! What the routes then do with a request needs a replica, which this build leaves out; the
//! clients' own suites cover it (`clients/pocket-ic-rust`, `clients/pic-js`,
//! `clients/pocket-ic-py`).

use drydock_pocketic::request::{self, Read, Update};
use drydock_pocketic::PocketIcError;

/// Every `read/<op>` and `update/<op>` the server serves, and one it does not.
const READS: [&str; 10] = [
    "topology",
    "get_time",
    "query",
    "ingress_status",
    "get_cycles",
    "get_controllers",
    "get_stable_memory",
    "get_subnet",
    "pub_key",
    "mock_pending_canister_http_requests",
];
const UPDATES: [&str; 9] = [
    "submit_ingress_message",
    "await_ingress_message",
    "execute_ingress_message",
    "tick",
    "set_time",
    "set_certified_time",
    "set_stable_memory",
    "add_cycles",
    "mock_canister_http_response",
];

/// The gunzip limit of the target (the server's is 1 GiB).
const BLOB_LIMIT: u64 = 1 << 20;

/// How many requests an input can choose: the reads, the updates, then instance creation,
/// auto progress, the HTTP gateway, and a blob plain and gzipped.
pub const CHOICES: usize = READS.len() + UPDATES.len() + 5;

/// Decodes `input` as the request its first byte chooses. Panics only if a promise breaks.
pub fn decode_bytes(input: &[u8]) {
    let Some((&choice, body)) = input.split_first() else {
        return;
    };
    let choice = usize::from(choice) % CHOICES;
    if let Some(op) = READS.get(choice) {
        check_known(
            op,
            READS.len() - 1,
            choice,
            request::read(op, body).map(read_principals),
        );
        return;
    }
    let choice = choice - READS.len();
    if let Some(op) = UPDATES.get(choice) {
        check_known(
            op,
            UPDATES.len() - 1,
            choice,
            request::update(op, body).map(update_principals),
        );
        return;
    }
    match choice - UPDATES.len() {
        0 => {
            if let Ok(config) = request::instance_config(body) {
                // Without subnets and with a `state_dir`, this reads a directory (only reads).
                let _ = request::refusal(&config);
            }
        }
        1 => {
            let _ = request::auto_progress(body);
        }
        2 => {
            let _ = request::gateway(body);
        }
        n => {
            let gzip = n == 4;
            if let Ok(blob) = request::blob(body, gzip, BLOB_LIMIT) {
                assert!(blob.len() as u64 <= BLOB_LIMIT, "a blob past its limit");
                if !gzip {
                    assert_eq!(blob, body, "a plain blob is the body");
                }
            }
        }
    }
}

/// The last of `ops` is unknown: only it may be unsupported, and it always is.
fn check_known(
    op: &str,
    unknown: usize,
    index: usize,
    result: Result<Vec<candid::Principal>, PocketIcError>,
) {
    match result {
        Ok(principals) => {
            assert!(index != unknown, "{op} is not served but was decoded");
            for p in principals {
                assert!(
                    p.as_slice().len() <= 29,
                    "{op}: a principal of {} bytes",
                    p.as_slice().len()
                );
            }
        }
        Err(PocketIcError::Unsupported(_)) => assert_eq!(index, unknown, "{op} is served"),
        Err(PocketIcError::BadRequest(m)) => {
            assert!(index != unknown, "{op}: bad, not unsupported");
            assert!(
                m.contains(op),
                "{op}: the error does not name the request: {m}"
            );
        }
        Err(e) => panic!("{op}: an error of the wrong class: {e}"),
    }
}

fn read_principals(r: Read) -> Vec<candid::Principal> {
    match r {
        Read::Topology | Read::GetTime => vec![],
        Read::Query(c) => vec![c.sender, c.canister],
        Read::IngressStatus { caller, .. } => caller.into_iter().collect(),
        Read::GetCycles(p)
        | Read::GetControllers(p)
        | Read::GetStableMemory(p)
        | Read::GetSubnet(p)
        | Read::PubKey(p) => vec![p],
    }
}

fn update_principals(u: Update) -> Vec<candid::Principal> {
    match u {
        Update::Submit(c) | Update::Execute(c) => vec![c.sender, c.canister],
        Update::Await(_) | Update::Tick | Update::SetTime(_) => vec![],
        Update::SetStableMemory { canister, .. } | Update::AddCycles { canister, .. } => {
            vec![canister]
        }
    }
}

/// The seeds: one body of each request, as the `pocket-ic` crate sends it.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let canister = r#""canister_id":"////////4AAAAQE=""#;
    let call = format!(
        r#"{{"sender":"BA==",{canister},"effective_principal":{{"CanisterId":"////////4AAAAQE="}},"method":"get","payload":"RElETAAA"}}"#
    );
    let message = r#"{"effective_principal":"None","message_id":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}"#;
    let app = r#"{"state_config":"New","instruction_config":"Production"}"#;
    let read_bodies: [(&str, String); 9] = [
        ("topology", String::new()),
        ("get_time", String::new()),
        ("query", call.clone()),
        (
            "ingress_status",
            format!(r#"{{"raw_message_id":{message},"raw_caller":{{"principal_id":"BA=="}}}}"#),
        ),
        ("get_cycles", format!("{{{canister}}}")),
        ("get_controllers", format!("{{{canister}}}")),
        ("get_stable_memory", format!("{{{canister}}}")),
        ("get_subnet", format!("{{{canister}}}")),
        ("pub_key", r#"{"subnet_id":"AQID"}"#.to_string()),
    ];
    let update_bodies: [(&str, String); 8] = [
        ("submit_ingress_message", call.clone()),
        ("await_ingress_message", message.to_string()),
        ("execute_ingress_message", call),
        ("tick", "{}".to_string()),
        (
            "set_time",
            r#"{"nanos_since_epoch":1700000000000000000}"#.to_string(),
        ),
        (
            "set_certified_time",
            r#"{"nanos_since_epoch":1}"#.to_string(),
        ),
        (
            "set_stable_memory",
            format!(r#"{{{canister},"blob_id":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}}"#),
        ),
        (
            "add_cycles",
            format!(r#"{{{canister},"amount":1000000000000}}"#),
        ),
    ];
    let mut out = Vec::new();
    let mut push = |name: String, choice: usize, body: &[u8]| {
        let mut bytes = vec![u8::try_from(choice).expect("few choices")];
        bytes.extend_from_slice(body);
        out.push((name, bytes));
    };
    for (op, body) in read_bodies {
        let i = READS.iter().position(|o| *o == op).expect("a read");
        push(format!("read-{op}.json"), i, body.as_bytes());
    }
    for (op, body) in update_bodies {
        let i = UPDATES.iter().position(|o| *o == op).expect("an update");
        push(
            format!("update-{op}.json"),
            READS.len() + i,
            body.as_bytes(),
        );
    }
    let base = READS.len() + UPDATES.len();
    push(
        "instance.json".into(),
        base,
        format!(
            r#"{{"subnet_config_set":{{"application":[{app}],"nns":{app}}},"initial_time":{{"Timestamp":{{"nanos_since_epoch":5}}}},"icp_features":{{"registry":"DefaultConfig","ii":null}}}}"#
        )
        .as_bytes(),
    );
    push(
        "auto-progress.json".into(),
        base + 1,
        br#"{"artificial_delay_ms":5}"#,
    );
    push(
        "gateway.json".into(),
        base + 2,
        br#"{"ip_addr":"127.0.0.1","port":0,"forward_to":{"PocketIcInstance":0},"domains":null,"https_config":null}"#,
    );
    push("blob.bin".into(), base + 3, b"stable memory bytes");
    let gz = {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&[7u8; 4096]).expect("gzip");
        e.finish().expect("gzip")
    };
    push("blob-gzip.bin".into(), base + 4, &gz);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_is_a_request_the_server_accepts() {
        for (name, bytes) in seeds() {
            let (&choice, body) = bytes.split_first().expect("a choice");
            let choice = usize::from(choice);
            let accepted = if let Some(op) = READS.get(choice) {
                request::read(op, body).map(drop)
            } else if let Some(op) = UPDATES.get(choice - READS.len()) {
                request::update(op, body).map(drop)
            } else {
                match choice - READS.len() - UPDATES.len() {
                    0 => request::instance_config(body).map(drop),
                    1 => request::auto_progress(body).map(drop),
                    2 => request::gateway(body)
                        .map(drop)
                        .map_err(PocketIcError::BadRequest),
                    n => request::blob(body, n == 4, BLOB_LIMIT).map(drop),
                }
            };
            assert!(accepted.is_ok(), "{name}: {accepted:?}");
        }
    }
}
