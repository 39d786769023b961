//! `drydock start` on a full filesystem of 64 MiB, a tmpfs and an ext4 image: updates that need
//! space are refused (SYS_TRANSIENT, "no space"), nothing of them is kept, the server stays up
//! and answers, and once space is freed updates go through again; everything acknowledged is
//! there after a restart.
//!
//! The filesystem is mounted in a private mount namespace (`unshare -m`, with `-r` when not
//! root), so the tests need `unshare` and either root or unprivileged user namespaces; the
//! ext4 one also needs root, `mkfs.ext4` and a loop device. Without them a test fails and says
//! so. Before memory files were reserved as they grow, the tmpfs scenario killed the server
//! with SIGBUS.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use candid::{Decode, Encode, Principal};
use ic_agent::{Agent, AgentError};
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInstallMode, InstallCodeArgs, ProvisionalCreateCanisterWithCyclesArgs,
};

/// How the 64 MiB filesystem is mounted at `$T` (`$CTL` is a scratch directory).
const TMPFS: &str = r#"mount -t tmpfs -o size=64m tmpfs "$T""#;
const EXT4: &str = r#"dd if=/dev/zero of="$CTL/ext4.img" bs=1M count=64 status=none
mkfs.ext4 -q -F "$CTL/ext4.img"
mount -o loop "$CTL/ext4.img" "$T""#;

const SCRIPT: &str = r#"
set -eu
eval "$MOUNT"
dd if=/dev/zero of="$T/filler" bs=1M count=20 status=none
( while [ ! -e "$CTL/free" ]; do sleep 0.05; done; rm -f "$T/filler"; touch "$CTL/freed" ) &
"$DRYDOCK" --state-dir "$T/state" start --port 0 --status-dir "$CTL/status" 2>"$CTL/server.log" &
pid=$!
echo "$pid" > "$CTL/server.pid"
set +e
wait "$pid"
echo "$?" > "$CTL/server.exit"
"$DRYDOCK" --state-dir "$T/state" canister call "$(cat "$CTL/id")" size --query --output hex > "$CTL/after" 2>&1
touch "$CTL/free"
"#;

fn wait_for(path: &Path, what: &str, limit: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < limit,
            "{what}: {} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pages(reply: &[u8]) -> u32 {
    u32::from_le_bytes(reply.try_into().expect("a u32 reply"))
}

async fn grow(agent: &Agent, id: Principal) -> Result<u32, AgentError> {
    agent
        .update(&id, "grow")
        .with_arg(Vec::<u8>::new())
        .call_and_wait()
        .await
        .map(|r| pages(&r))
}

async fn size(agent: &Agent, id: Principal) -> u32 {
    pages(
        &agent
            .query(&id, "size")
            .with_arg(Vec::<u8>::new())
            .call()
            .await
            .expect("the size query"),
    )
}

#[test]
fn on_a_full_tmpfs_updates_that_need_space_are_refused_and_drydock_keeps_serving() {
    full_disk("tmpfs", TMPFS);
}

#[test]
fn on_a_full_ext4_filesystem_updates_that_need_space_are_refused_and_drydock_keeps_serving() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(
        root,
        "this test mounts an ext4 image on a loop device, which needs root"
    );
    assert!(
        Command::new("mkfs.ext4").arg("-V").output().is_ok(),
        "this test needs mkfs.ext4 (e2fsprogs)"
    );
    full_disk("ext4", EXT4);
}

#[allow(clippy::print_stderr)] // the measured figures, shown with --nocapture
fn full_disk(fs: &str, mount: &str) {
    let unshare = Command::new("unshare").arg("--help").output();
    assert!(
        unshare.is_ok_and(|o| o.status.success()),
        "this test needs `unshare` (util-linux) to mount a private {fs}"
    );
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let ctl = tempfile::tempdir().unwrap();
    let mnt = tempfile::tempdir().unwrap();
    let mut ns = Command::new("unshare");
    if !root {
        ns.arg("-r");
    }
    let mut child = ns
        .args(["-m", "--propagation", "private", "sh", "-c", SCRIPT])
        .env("T", mnt.path())
        .env("CTL", ctl.path())
        .env("MOUNT", mount)
        .env("DRYDOCK", env!("CARGO_BIN_EXE_drydock"))
        .stdin(Stdio::null())
        .spawn()
        .expect("run unshare");
    let status = ctl.path().join("status/status.json");
    let start = Instant::now();
    while !status.exists() {
        if let Ok(Some(exit)) = child.try_wait() {
            panic!(
                "could not mount a {fs} in a private mount namespace (exit {exit}): this test needs root or unprivileged user namespaces"
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "drydock start did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&status).unwrap()).unwrap();
    let port = status["gateway_port"].as_u64().unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (id, acked) = rt.block_on(async {
        let agent = Agent::builder()
            .with_url(format!("http://127.0.0.1:{port}"))
            .build()
            .unwrap();
        agent.fetch_root_key().await.unwrap();
        let created = agent
            .update(
                &Principal::management_canister(),
                "provisional_create_canister_with_cycles",
            )
            .with_effective_canister_id(drydock_replica::canister_id_from_index(0))
            .with_arg(
                Encode!(&ProvisionalCreateCanisterWithCyclesArgs {
                    amount: None,
                    settings: None,
                    specified_id: None,
                    sender_canister_version: None,
                })
                .unwrap(),
            )
            .call_and_wait()
            .await
            .unwrap();
        let id = Decode!(&created, CanisterIdRecord).unwrap().canister_id;
        let wasm = wat::parse_file(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/wat/fill.wat"),
        )
        .unwrap();
        agent
            .update(&Principal::management_canister(), "install_code")
            .with_effective_canister_id(id)
            .with_arg(
                Encode!(&InstallCodeArgs {
                    mode: CanisterInstallMode::Install,
                    canister_id: id,
                    wasm_module: wasm,
                    arg: Vec::new(),
                    sender_canister_version: None,
                })
                .unwrap(),
            )
            .call_and_wait()
            .await
            .unwrap();

        // Grow by 4 MiB at a time until the space left on the filesystem runs out.
        let mut acked = size(&agent, id).await;
        let mut refusal = None;
        for _ in 0..40 {
            match grow(&agent, id).await {
                Ok(pages) => {
                    assert_eq!(pages, acked + 64);
                    acked = pages;
                }
                Err(e) => {
                    refusal = Some(e.to_string());
                    break;
                }
            }
        }
        let refusal = refusal.expect("40 grows of 4 MiB fitted in a 64 MiB filesystem");
        eprintln!("{fs}: the heap grew to {acked} Wasm pages, then: {refusal}");
        assert!(acked > 1, "not even one grow fitted: {refusal}");
        assert!(
            refusal.contains("no space") && refusal.contains("drydock could not process"),
            "{refusal}"
        );
        // Interface spec, "Request status": drydock's own failure carries no IC error code
        // (IC0204 would claim a full ingress history).
        assert!(!refusal.contains("IC0204"), "{refusal}");
        // The server is up, the refused growth left nothing, and it is refused again.
        assert_eq!(size(&agent, id).await, acked);
        agent.status().await.expect("the status endpoint");
        let again = grow(&agent, id).await.expect_err("still no space");
        assert!(again.to_string().contains("no space"), "{again}");
        assert_eq!(size(&agent, id).await, acked);

        // Space comes back: so do updates.
        std::fs::write(ctl.path().join("free"), b"").unwrap();
        wait_for(
            &ctl.path().join("freed"),
            "freeing space",
            Duration::from_secs(10),
        );
        let grown = grow(&agent, id)
            .await
            .expect("a grow after space was freed");
        assert_eq!(grown, acked + 64);
        assert_eq!(size(&agent, id).await, grown);
        (id, grown)
    });

    // Restart (a clean stop, then the embedded CLI on the same directory): all is there.
    std::fs::write(ctl.path().join("id"), id.to_text()).unwrap();
    let pid: i32 = std::fs::read_to_string(ctl.path().join("server.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: kill has no memory-safety preconditions; the pid is the server's.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let exit = child.wait().expect("the namespace shell");
    assert!(exit.success(), "the namespace shell failed: {exit}");
    let server_exit = std::fs::read_to_string(ctl.path().join("server.exit")).unwrap();
    let log = std::fs::read_to_string(ctl.path().join("server.log")).unwrap_or_default();
    assert_eq!(
        server_exit.trim(),
        "0",
        "the server did not stop cleanly: {log}"
    );
    let after = std::fs::read_to_string(ctl.path().join("after")).unwrap();
    assert!(
        after.contains(&hex::encode(acked.to_le_bytes())),
        "after a restart the size is not {acked} pages: {after}"
    );
}
