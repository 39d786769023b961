//! Candid for the command line: a canister's service description (from its `candid:service`
//! metadata), argument text in and reply bytes out, typed by the service when there is one,
//! and Candid values as JSON.
//!
//! Service text is parsed without candid_parser's pretty diagnostics, which would write to
//! stderr; a service that does not parse is treated as absent and the caller warns.

use candid::types::{FuncMode, Function, Label, Type, TypeInner};
use candid::{IDLArgs, IDLValue, TypeEnv};
use candid_parser::syntax::{IDLInitArgs, IDLProg};
use serde_json::{json, Value};

use crate::error::CliError;

/// A parsed Candid service: its type environment and main actor type.
pub struct Service {
    pub env: TypeEnv,
    actor: Type,
}

impl Service {
    /// Parses a `.did` text; fails when it does not parse or has no main service.
    pub fn parse(text: &str) -> Result<Service, String> {
        let prog: IDLProg = text
            .parse()
            .map_err(|e: candid_parser::Error| e.to_string())?;
        let mut env = TypeEnv::new();
        let actor = candid_parser::check_prog(&mut env, &prog)
            .map_err(|e| e.to_string())?
            .ok_or("the Candid text has no main service")?;
        Ok(Service { env, actor })
    }

    /// The init argument types of a service class `service : (args) -> {...}`, if it is one.
    pub fn init_args(&self) -> Option<Vec<Type>> {
        match self.env.trace_type(&self.actor).ok()?.as_ref() {
            TypeInner::Class(args, _) => Some(args.clone()),
            _ => None,
        }
    }

    /// The signature of a method.
    pub fn method(&self, name: &str) -> Option<&Function> {
        let methods = self.env.as_service(&self.actor).ok()?;
        let (_, ty) = methods.iter().find(|(m, _)| m == name)?;
        self.env.as_func(ty).ok()
    }

    /// Init argument types given apart from the service, as in a `candid:args` section
    /// (`(text, opt nat)`), which may use the service's type names.
    pub fn parse_init_args(&self, text: &str) -> Result<(TypeEnv, Vec<Type>), String> {
        let prog: IDLInitArgs = text
            .parse()
            .map_err(|e: candid_parser::Error| e.to_string())?;
        let mut env = TypeEnv::new();
        let args = candid_parser::typing::check_init_args(&mut env, &self.env, &prog)
            .map_err(|e| e.to_string())?;
        Ok((env, args))
    }
}

/// Whether a method is a query (or composite query).
pub fn is_query(f: &Function) -> bool {
    f.modes
        .iter()
        .any(|m| matches!(m, FuncMode::Query | FuncMode::CompositeQuery))
}

/// Encodes Candid argument text, against `types` when given (so `42` becomes a `nat64` where
/// the method wants one), else with the types the text implies.
///
/// # Errors
/// [`CliError::Usage`] when the text does not parse or does not fit the types.
pub fn encode_args(text: &str, types: Option<(&TypeEnv, &[Type])>) -> Result<Vec<u8>, CliError> {
    let args = candid_parser::parse_idl_args(text).map_err(|e| {
        CliError::usage(format!(
            "malformed Candid argument text {}: {e}",
            excerpt(text)
        ))
    })?;
    let Some((env, types)) = types else {
        return args.to_bytes().map_err(|e| {
            CliError::usage(format!(
                "cannot encode the arguments {}: {}",
                excerpt(text),
                cut(&e.to_string())
            ))
        });
    };
    let sig = signature(types);
    if args.args.len() > types.len() {
        return Err(CliError::usage(format!(
            "{} argument values given, but the Candid interface takes {} {sig}",
            args.args.len(),
            types.len()
        )));
    }
    // Omitted trailing arguments may be null, reserved or opt, as Candid allows.
    let mut values = args.args;
    for ty in &types[values.len()..] {
        let value = match env.trace_type(ty).map(|t| t.as_ref().clone()) {
            Ok(TypeInner::Null) => IDLValue::Null,
            Ok(TypeInner::Reserved) => IDLValue::Reserved,
            Ok(TypeInner::Opt(_)) => IDLValue::None,
            _ => {
                return Err(CliError::usage(format!(
                    "missing argument {} of type {ty}: the Candid interface takes {sig}",
                    values.len() + 1
                )))
            }
        };
        values.push(value);
    }
    IDLArgs { args: values }
        .to_bytes_with_types(env, types)
        .map_err(|e| {
            CliError::usage(format!(
                "the arguments {} do not match the Candid types {sig}: {}",
                excerpt(text),
                cut(&e.to_string())
            ))
        })
}

/// At most this many characters of user input are echoed in an error.
const ECHO_MAX: usize = 200;

/// User input, quoted, cut to a readable length.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(ECHO_MAX) {
        Some((cut, _)) => format!("{:?}… ({} bytes in all)", &text[..cut], text.len()),
        None => format!("{text:?}"),
    }
}

/// An error message (which may quote the input), cut to a readable length.
fn cut(msg: &str) -> String {
    match msg.char_indices().nth(ECHO_MAX) {
        Some((cut, _)) => format!("{}…", &msg[..cut]),
        None => msg.to_string(),
    }
}

/// The argument types as Candid text, `(text, opt nat)`.
pub fn signature(types: &[Type]) -> String {
    let list: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    format!("({})", list.join(", "))
}

/// Decodes reply bytes, with `types` when given and when they fit, else as the bytes
/// describe themselves. `None` when the bytes are not Candid at all.
pub fn decode_reply(bytes: &[u8], types: Option<(&TypeEnv, &[Type])>) -> Option<IDLArgs> {
    if let Some((env, types)) = types {
        if let Ok(args) = IDLArgs::from_bytes_with_types(bytes, env, types) {
            return Some(args);
        }
    }
    IDLArgs::from_bytes(bytes).ok()
}

/// A Candid value as JSON: numbers that fit 64 bits as numbers (others as strings), blobs as
/// hex strings, `opt x` as x or null, records as objects (tuples as arrays), variants as
/// `{"tag": value}`, principals as text.
pub fn to_json(v: &IDLValue) -> Value {
    match v {
        IDLValue::Bool(b) => json!(b),
        IDLValue::Null | IDLValue::None | IDLValue::Reserved => Value::Null,
        IDLValue::Text(s) => json!(s),
        IDLValue::Number(s) => number(s),
        IDLValue::Int(i) => number(&i.to_string()),
        IDLValue::Nat(n) => number(&n.0.to_string()),
        IDLValue::Nat8(n) => json!(n),
        IDLValue::Nat16(n) => json!(n),
        IDLValue::Nat32(n) => json!(n),
        IDLValue::Nat64(n) => json!(n),
        IDLValue::Int8(n) => json!(n),
        IDLValue::Int16(n) => json!(n),
        IDLValue::Int32(n) => json!(n),
        IDLValue::Int64(n) => json!(n),
        IDLValue::Float32(f) => json!(f),
        IDLValue::Float64(f) => json!(f),
        IDLValue::Opt(v) => to_json(v),
        IDLValue::Vec(items) => {
            // A vec nat8 decoded without types arrives as a vec of Nat8: show it as a blob.
            if !items.is_empty() && items.iter().all(|i| matches!(i, IDLValue::Nat8(_))) {
                let bytes: Vec<u8> = items
                    .iter()
                    .filter_map(|i| {
                        if let IDLValue::Nat8(b) = i {
                            Some(*b)
                        } else {
                            None
                        }
                    })
                    .collect();
                return json!(hex::encode(bytes));
            }
            Value::Array(items.iter().map(to_json).collect())
        }
        IDLValue::Blob(b) => json!(hex::encode(b)),
        IDLValue::Record(fields) => {
            let is_tuple = !fields.is_empty()
                && fields.iter().enumerate().all(
                    |(i, f)| matches!(f.id, Label::Unnamed(n) | Label::Id(n) if n as usize == i),
                );
            if is_tuple {
                Value::Array(fields.iter().map(|f| to_json(&f.val)).collect())
            } else {
                Value::Object(
                    fields
                        .iter()
                        .map(|f| (label(&f.id), to_json(&f.val)))
                        .collect(),
                )
            }
        }
        IDLValue::Variant(v) => json!({ label(&v.0.id): to_json(&v.0.val) }),
        IDLValue::Principal(p) | IDLValue::Service(p) => json!(p.to_text()),
        IDLValue::Func(p, m) => json!({ "principal": p.to_text(), "method": m }),
    }
}

fn label(l: &Label) -> String {
    match l {
        Label::Named(n) => n.clone(),
        Label::Id(n) | Label::Unnamed(n) => n.to_string(),
    }
}

fn number(s: &str) -> Value {
    let plain: String = s.chars().filter(|c| *c != '_').collect();
    if let Ok(n) = plain.parse::<u64>() {
        json!(n)
    } else if let Ok(n) = plain.parse::<i64>() {
        json!(n)
    } else {
        json!(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KV: &str = r#"
        type Entry = record { key : text; value : text };
        service : (opt text) -> {
          put : (text, text) -> ();
          get : (text) -> (opt text) query;
          all : () -> (vec Entry) composite_query;
          len : () -> (nat64) query;
        }"#;

    #[test]
    fn a_service_class_gives_init_args_and_method_modes() {
        let s = Service::parse(KV).expect("parses");
        assert_eq!(s.init_args().map(|a| a.len()), Some(1));
        assert!(is_query(s.method("get").expect("get")));
        assert!(is_query(s.method("all").expect("all")));
        assert!(!is_query(s.method("put").expect("put")));
        assert!(s.method("nope").is_none());
    }

    #[test]
    fn numbers_are_encoded_as_the_method_types_say() {
        let s = Service::parse("service : { f : (nat64, opt text) -> () }").expect("parses");
        let f = s.method("f").expect("f");
        let bytes = encode_args("(42)", Some((&s.env, &f.args))).expect("encodes, padding the opt");
        let back = IDLArgs::from_bytes(&bytes).expect("decodes");
        assert_eq!(back.args[0], IDLValue::Nat64(42));
        assert_eq!(back.args[1], IDLValue::None);
    }

    #[test]
    fn wrong_arity_and_malformed_text_are_usage_errors() {
        let s = Service::parse("service : { f : (text) -> () }").expect("parses");
        let f = s.method("f").expect("f");
        for bad in ["()", "(\"a\", \"b\")", "(42)", "(\"unclosed"] {
            let e = encode_args(bad, Some((&s.env, &f.args))).expect_err(bad);
            assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        }
        assert_eq!(
            encode_args("(((", None).expect_err("malformed").exit_code(),
            2
        );
    }

    #[test]
    fn replies_become_json() {
        let bytes =
            candid::encode_args((Some("v".to_string()), 7u64, vec![1u8, 2])).expect("encode");
        let args = decode_reply(&bytes, None).expect("candid");
        let values: Vec<Value> = args.args.iter().map(to_json).collect();
        assert_eq!(values, vec![json!("v"), json!(7), json!("0102")]);
    }

    #[test]
    fn a_service_that_does_not_parse_is_an_error_not_a_panic() {
        assert!(Service::parse("service : { f : (").is_err());
        assert!(Service::parse("type t = nat;").is_err());
    }
}
