//! The client side of SASL/SCRAM-SHA-256 and -SHA-512 (RFC 5802, RFC 7677)
//! for [`super::wire`]: the three messages and the check of the server's
//! signature. Pure apart from the client nonce, which the caller passes in.
//!
//! Written over aws-lc-rs (the crypto library rustls already uses here):
//! the `scram` crate on crates.io (0.6) supports SHA-256 only and pulls in
//! ring 0.16, a second crypto stack.

use aws_lc_rs::{digest, hmac, pbkdf2};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::num::NonZeroU32;

use super::ScramMechanism;
use crate::secret::Secret;

/// Kafka refuses fewer; more than this is a misbehaving server (CPU cost).
const MAX_ITERATIONS: u32 = 100_000;

/// A SCRAM exchange in progress.
pub(crate) struct Scram {
    mechanism: ScramMechanism,
    password: Secret,
    client_first_bare: String,
    nonce: String,
    /// The server signature the final message must carry.
    expected_server_signature: Option<Vec<u8>>,
}

impl Scram {
    /// Starts an exchange; `nonce` must be fresh and random (printable, no comma).
    pub(crate) fn new(
        mechanism: ScramMechanism,
        username: &str,
        password: &Secret,
        nonce: String,
    ) -> Self {
        let name = username.replace('=', "=3D").replace(',', "=2C");
        Scram {
            mechanism,
            password: password.clone(),
            client_first_bare: format!("n={name},r={nonce}"),
            nonce,
            expected_server_signature: None,
        }
    }

    /// The client-first message.
    pub(crate) fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// Answers the server-first message with the client-final message.
    pub(crate) fn client_final(&mut self, server_first: &str) -> Result<String, String> {
        let attr = |key: char| {
            server_first
                .split(',')
                .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
        };
        if let Some(e) = attr('e') {
            return Err(format!("the server refused the exchange: {e}"));
        }
        let nonce = attr('r').ok_or("the server's first message has no nonce")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the server's nonce does not extend the client's".into());
        }
        let salt = attr('s')
            .and_then(|s| STANDARD.decode(s).ok())
            .ok_or("the server's first message has no valid salt")?;
        let iterations = attr('i')
            .and_then(|i| i.parse::<u32>().ok())
            .filter(|i| (1..=MAX_ITERATIONS).contains(i))
            .and_then(NonZeroU32::new)
            .ok_or("the server's first message has no valid iteration count")?;
        let (pbkdf, hmac_alg, digest_alg) = match self.mechanism {
            ScramMechanism::Sha256 => (
                pbkdf2::PBKDF2_HMAC_SHA256,
                hmac::HMAC_SHA256,
                &digest::SHA256,
            ),
            ScramMechanism::Sha512 => (
                pbkdf2::PBKDF2_HMAC_SHA512,
                hmac::HMAC_SHA512,
                &digest::SHA512,
            ),
        };
        let mut salted = vec![0u8; digest_alg.output_len()];
        pbkdf2::derive(
            pbkdf,
            iterations,
            &salt,
            self.password.expose().as_bytes(),
            &mut salted,
        );
        let salted_key = hmac::Key::new(hmac_alg, &salted);
        let client_key = hmac::sign(&salted_key, b"Client Key");
        let stored_key = digest::digest(digest_alg, client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = hmac::sign(
            &hmac::Key::new(hmac_alg, stored_key.as_ref()),
            auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(client_signature.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hmac::sign(&salted_key, b"Server Key");
        let server_signature = hmac::sign(
            &hmac::Key::new(hmac_alg, server_key.as_ref()),
            auth_message.as_bytes(),
        );
        self.expected_server_signature = Some(server_signature.as_ref().to_vec());
        Ok(format!("{without_proof},p={}", STANDARD.encode(proof)))
    }

    /// Checks the server-final message: the server proved it knows the password.
    pub(crate) fn verify(&self, server_final: &str) -> Result<(), String> {
        if let Some(e) = server_final.strip_prefix("e=") {
            return Err(format!("the server refused the credentials: {e}"));
        }
        let signature = server_final
            .split(',')
            .find_map(|p| p.strip_prefix("v="))
            .and_then(|v| STANDARD.decode(v).ok())
            .ok_or("the server's final message has no signature")?;
        match &self.expected_server_signature {
            Some(expected) if *expected == signature => Ok(()),
            _ => Err("the server's signature does not match: it does not know the password".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677, section 3.
    #[test]
    fn rfc7677_sha256_exchange() {
        let password = Secret::new("pencil".to_owned());
        let mut s = Scram::new(
            ScramMechanism::Sha256,
            "user",
            &password,
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        assert_eq!(s.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_eq!(
            s.client_final(server_first).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        s.verify("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(
            s.verify("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .is_err()
        );
    }

    #[test]
    fn refuses_a_nonce_that_does_not_extend_ours_and_escapes_names() {
        let password = Secret::new("x".to_owned());
        let mut s = Scram::new(ScramMechanism::Sha512, "a=b,c", &password, "abc".into());
        assert_eq!(s.client_first(), "n,,n=a=3Db=2Cc,r=abc");
        assert!(s.client_final("r=zzz,s=AAAA,i=4096").is_err());
        assert!(s.client_final("r=abcd,s=AAAA,i=0").is_err());
        assert!(
            s.client_final("e=unknown-user")
                .unwrap_err()
                .contains("unknown-user")
        );
    }
}
