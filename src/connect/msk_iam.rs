//! AWS MSK IAM authentication: signed OAUTHBEARER tokens from
//! `aws-msk-iam-sasl-signer`, using the standard AWS credential chain, a named
//! profile or an assumed role.
//!
//! librdkafka asks for a token from one of its own threads and refreshes it
//! before it expires (tokens last 15 minutes). The signer is async, so each
//! request runs on a short-lived thread with its own small runtime: that is
//! safe whatever thread librdkafka calls from, including a tokio worker.

use std::time::Duration;

use aws_config::Region;

/// A token and its expiry.
#[derive(Clone)]
pub struct MskIamToken {
    /// The base64url-encoded presigned URL. Treat as a secret.
    pub token: String,
    /// Expiry in milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
}

impl std::fmt::Debug for MskIamToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MskIamToken")
            .field("token", &"[redacted]")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// How long token generation may take (credential lookup included).
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Generates a token for `region`, blocking the calling thread.
pub fn generate_token(
    region: &str,
    profile: Option<&str>,
    role_arn: Option<&str>,
) -> Result<MskIamToken, String> {
    let region = Region::new(region.to_owned());
    let profile = profile.map(str::to_owned);
    let role_arn = role_arn.map(str::to_owned);
    let worker = std::thread::Builder::new()
        .name("kcp-msk-iam-token".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a runtime for MSK IAM signing: {e}"))?;
            runtime.block_on(async move {
                let signing = async {
                    match (profile, role_arn) {
                        (Some(profile), _) => aws_msk_iam_sasl_signer::generate_auth_token_from_profile(region, profile).await,
                        (None, Some(role)) => {
                            aws_msk_iam_sasl_signer::generate_auth_token_from_role(region, role, "kcp".to_owned()).await
                        }
                        (None, None) => aws_msk_iam_sasl_signer::generate_auth_token(region).await,
                    }
                };
                match tokio::time::timeout(TOKEN_TIMEOUT, signing).await {
                    Ok(Ok((token, expires_at_ms))) => Ok(MskIamToken { token, expires_at_ms }),
                    Ok(Err(e)) => Err(format!("cannot sign an MSK IAM token: {e}")),
                    Err(_) => Err(format!(
                        "signing an MSK IAM token took more than {}s (are AWS credentials available?)",
                        TOKEN_TIMEOUT.as_secs()
                    )),
                }
            })
        })
        .map_err(|e| format!("cannot start the MSK IAM signing thread: {e}"))?;
    worker
        .join()
        .map_err(|_| "the MSK IAM signing thread panicked".to_owned())?
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    /// Runs in a child process (see below) with fake AWS credentials in its
    /// environment; signing is local, so no AWS endpoint is needed.
    #[test]
    #[ignore = "run by signs_a_connect_url_with_env_credentials in a child process"]
    fn child_signs_with_env_credentials() {
        let token = super::generate_token("eu-west-1", None, None).unwrap();
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token.token)
            .unwrap();
        let url = String::from_utf8(url).unwrap();
        assert!(
            url.starts_with(
                "https://kafka.eu-west-1.amazonaws.com/?Action=kafka-cluster%3AConnect"
            ),
            "{url}"
        );
        assert!(url.contains("X-Amz-Credential=AKIDKCPTEST%2F"), "{url}");
        assert!(
            url.contains("%2Feu-west-1%2Fkafka-cluster%2Faws4_request"),
            "{url}"
        );
        assert!(url.contains("X-Amz-Signature="), "{url}");
        let now_ms = chrono::Utc::now().timestamp_millis();
        let lifetime = token.expires_at_ms - now_ms;
        assert!(
            (800_000..=900_000).contains(&lifetime),
            "token lifetime {lifetime} ms"
        );
        assert!(
            !format!("{token:?}").contains(&token.token),
            "Debug must redact the token"
        );
    }

    #[test]
    fn signs_a_connect_url_with_env_credentials() {
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "connect::msk_iam::tests::child_signs_with_env_credentials",
                "--ignored",
                "--nocapture",
            ])
            .env("AWS_ACCESS_KEY_ID", "AKIDKCPTEST")
            .env("AWS_SECRET_ACCESS_KEY", "kcp-test-secret-key")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "the child ran no test: {text}");
    }
}
