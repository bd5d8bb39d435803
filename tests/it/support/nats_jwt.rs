//! NATS decentralized auth for the login tests, made by the test (the library under test only
//! reads a credentials file): an operator, an account with JetStream enabled, users; their JWTs
//! signed with the `nkeys` crate as `nsc` signs them (header `ed25519-nkey`, claims `nats.type`
//! and `version: 2`), a `.creds` file in `nsc`'s layout, and the server's configuration lines
//! for operator mode with a memory resolver.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nkeys::KeyPair;
use serde_json::{json, Value};

/// A JWT of `claims` (`jti`, `iat`, `iss`, `sub` and `name` added) signed by `issuer`.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = json!({
        "jti": format!("{}{}", name.to_uppercase(), &subject[1..20]),
        "iat": 1_700_000_000u64,
        "iss": issuer.public_key(),
        "sub": subject,
        "name": name,
        "nats": nats,
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let sig = issuer.sign(signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// An operator, one account with JetStream and the system account (JetStream needs one), as
/// the server's configuration knows them.
pub struct Operator {
    operator: KeyPair,
    account: KeyPair,
    system: KeyPair,
}

impl Operator {
    pub fn new() -> Operator {
        Operator {
            operator: KeyPair::new_operator(),
            account: KeyPair::new_account(),
            system: KeyPair::new_account(),
        }
    }

    /// The server's lines: the operator's JWT, the memory resolver preloaded with the accounts.
    pub fn server_conf(&self) -> String {
        let op_jwt = jwt(
            &self.operator,
            &self.operator.public_key(),
            "op",
            json!({"type": "operator", "version": 2}),
        );
        let limits = json!({
            "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
            "wildcards": true, "conn": -1, "leaf": -1,
            "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1,
        });
        let acc_jwt = jwt(
            &self.operator,
            &self.account.public_key(),
            "acc",
            json!({"limits": limits, "type": "account", "version": 2}),
        );
        let sys_jwt = jwt(
            &self.operator,
            &self.system.public_key(),
            "sys",
            json!({"limits": {"conn": -1}, "type": "account", "version": 2}),
        );
        let (acc, sys) = (self.account.public_key(), self.system.public_key());
        format!(
            "operator: \"{op_jwt}\"\nsystem_account: {sys}\nresolver: MEMORY\n\
             resolver_preload: {{ {acc}: \"{acc_jwt}\", {sys}: \"{sys_jwt}\" }}\n"
        )
    }

    /// A user of this account: its credentials file's text.
    pub fn user_creds(&self, name: &str) -> String {
        creds(&self.account, name)
    }
}

/// A user issued by an account the server does not know: a well-formed file, the wrong key.
pub fn stranger_creds(name: &str) -> String {
    creds(&KeyPair::new_account(), name)
}

fn creds(account: &KeyPair, name: &str) -> String {
    let user = KeyPair::new_user();
    let user_jwt = jwt(
        account,
        &user.public_key(),
        name,
        json!({"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
               "type": "user", "version": 2}),
    );
    format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n",
        user.seed().unwrap()
    )
}

/// The JWT and the seed of a credentials file's text (the secrets a log line must not show).
pub fn creds_secrets(creds: &str) -> Vec<String> {
    creds
        .lines()
        .filter(|l| l.starts_with("eyJ") || l.starts_with("SU"))
        .map(str::to_string)
        .collect()
}
