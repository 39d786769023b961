//! PocketIC's REST protocol on the wire: the JSON bodies its clients send and read. Written
//! from how the clients use them (the `pocket-ic` crate 16.x): bytes and raw principals are
//! standard base64 strings, enums are externally tagged, a principal used as a map key is
//! its text form.

use std::collections::BTreeMap;
use std::path::PathBuf;

#[cfg(feature = "server")]
use drydock_replica::{ErrorCode, RejectCode};
use serde::{Deserialize, Serialize};

/// `Vec<u8>` as a standard base64 string.
pub mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

/// `POST /instances`: the instance to create. Fields drydock does not use are ignored; the
/// ones that ask for what drydock cannot give are checked by [`crate::request::refusal`].
#[derive(Debug, Default, Deserialize)]
pub struct InstanceConfig {
    #[serde(default)]
    pub subnet_config_set: SubnetConfigSet,
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    #[serde(default)]
    pub icp_features: Option<serde_json::Value>,
    #[serde(default)]
    pub initial_time: Option<InitialTime>,
    #[serde(default)]
    pub http_gateway_config: Option<serde_json::Value>,
    #[serde(default)]
    pub bitcoind_addr: Option<serde_json::Value>,
    #[serde(default)]
    pub dogecoind_addr: Option<serde_json::Value>,
}

/// The subnets an instance asks for, by kind.
#[derive(Debug, Default, Deserialize)]
pub struct SubnetConfigSet {
    #[serde(default)]
    pub nns: Option<serde_json::Value>,
    #[serde(default)]
    pub sns: Option<serde_json::Value>,
    #[serde(default)]
    pub ii: Option<serde_json::Value>,
    #[serde(default)]
    pub fiduciary: Option<serde_json::Value>,
    #[serde(default)]
    pub bitcoin: Option<serde_json::Value>,
    #[serde(default)]
    pub test_threshold_keys: Option<serde_json::Value>,
    #[serde(default)]
    pub system: Vec<serde_json::Value>,
    #[serde(default)]
    pub application: Vec<SubnetSpec>,
    #[serde(default)]
    pub cloud_engine: Vec<serde_json::Value>,
    #[serde(default)]
    pub verified_application: Vec<serde_json::Value>,
}

/// One subnet of a [`SubnetConfigSet`].
#[derive(Debug, Deserialize)]
pub struct SubnetSpec {
    /// `"New"`, or `{"FromPath": ...}` for a PocketIC subnet state.
    pub state_config: serde_json::Value,
    /// `"Production"` or `"Benchmarking"`.
    pub instruction_config: serde_json::Value,
}

/// When an instance's clock starts, or that it follows real time.
#[derive(Debug, Deserialize)]
pub enum InitialTime {
    Timestamp(RawTime),
    AutoProgress(AutoProgressConfig),
}

#[derive(Debug, Default, Deserialize)]
pub struct AutoProgressConfig {
    #[serde(default)]
    pub artificial_delay_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct RawTime {
    pub nanos_since_epoch: u64,
}

/// The answer to `POST /instances`.
#[derive(Debug, Serialize)]
pub enum CreateInstanceResponse {
    Created {
        instance_id: usize,
        topology: Topology,
        http_gateway_info: Option<()>,
    },
    Error {
        message: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Topology {
    /// By the subnet id's text form.
    pub subnet_configs: BTreeMap<String, SubnetConfig>,
    pub default_effective_canister_id: RawCanisterId,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubnetConfig {
    pub subnet_kind: &'static str,
    pub subnet_admins: Option<()>,
    pub cost_schedule: &'static str,
    pub subnet_seed: [u8; 32],
    pub instruction_config: &'static str,
    pub canister_ranges: Vec<CanisterIdRange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CanisterIdRange {
    pub start: RawCanisterId,
    pub end: RawCanisterId,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawCanisterId {
    #[serde(with = "b64")]
    pub canister_id: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawSubnetId {
    #[serde(with = "b64")]
    pub subnet_id: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawPrincipalId {
    #[serde(with = "b64")]
    pub principal_id: Vec<u8>,
}

/// Where a call is routed: relevant for the management canister only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RawEffectivePrincipal {
    None,
    SubnetId(#[serde(with = "b64")] Vec<u8>),
    CanisterId(#[serde(with = "b64")] Vec<u8>),
}

/// An update or query call, sent as `sender` without a signature.
#[derive(Debug, Clone, Deserialize)]
pub struct RawCanisterCall {
    #[serde(with = "b64")]
    pub sender: Vec<u8>,
    #[serde(with = "b64")]
    pub canister_id: Vec<u8>,
    pub effective_principal: RawEffectivePrincipal,
    pub method: String,
    #[serde(with = "b64")]
    pub payload: Vec<u8>,
    #[serde(default)]
    pub sender_info: Option<serde_json::Value>,
}

/// A submitted ingress message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawMessageId {
    pub effective_principal: RawEffectivePrincipal,
    #[serde(with = "b64")]
    pub message_id: Vec<u8>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawIngressStatusArgs {
    pub raw_message_id: RawMessageId,
    #[serde(default)]
    pub raw_caller: Option<RawPrincipalId>,
}

/// A call's reply or rejection.
#[cfg(feature = "server")]
#[derive(Debug, Clone, Serialize)]
pub enum RawCanisterResult {
    Ok(#[serde(with = "b64")] Vec<u8>),
    Err(RejectResponse),
}

/// The answer to `submit_ingress_message`: the message, or why it was not accepted.
#[cfg(feature = "server")]
#[derive(Debug, Clone, Serialize)]
pub enum SubmitResult {
    Ok(RawMessageId),
    Err(RejectResponse),
}

/// A rejection: the IC's reject code and error code by name, as the clients name them.
#[cfg(feature = "server")]
#[derive(Debug, Clone, Serialize)]
pub struct RejectResponse {
    pub reject_code: RejectCode,
    pub reject_message: String,
    pub error_code: ErrorCode,
    pub certified: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawAddCycles {
    #[serde(with = "b64")]
    pub canister_id: Vec<u8>,
    pub amount: u128,
}

#[derive(Debug, Clone, Serialize)]
pub struct RawCycles {
    pub cycles: u128,
}

/// `update/set_stable_memory`: a blob uploaded to `/blobstore` becomes the stable memory.
#[derive(Debug, Clone, Deserialize)]
pub struct RawSetStableMemory {
    #[serde(with = "b64")]
    pub canister_id: Vec<u8>,
    #[serde(with = "b64")]
    pub blob_id: Vec<u8>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RawStableMemory {
    #[serde(with = "b64")]
    pub blob: Vec<u8>,
}

/// `POST /http_gateway`: serve the IC HTTP interface for an instance.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpGatewayConfig {
    #[serde(default)]
    pub ip_addr: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    /// `{"PocketIcInstance": id}` or `{"Replica": url}`.
    pub forward_to: serde_json::Value,
    #[serde(default)]
    pub domains: Option<Vec<String>>,
    #[serde(default)]
    pub https_config: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HttpGatewayInfo {
    pub instance_id: usize,
    pub port: u16,
}

#[derive(Debug, Clone, Serialize)]
pub enum CreateHttpGatewayResponse {
    Created(HttpGatewayInfo),
    Error { message: String },
}

/// Every error answer: `{"message": ...}`.
#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    pub message: String,
}
