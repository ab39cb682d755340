//! The connection: the URL read into the driver's `Config` (with `sslmode` read here, as the
//! driver knows only `disable`, `prefer` and `require`), TLS with rustls, error text without
//! secrets.
//!
//! `sslmode` works as in libpq: `disable` (no TLS), `prefer` (TLS when the server offers it),
//! `require` (TLS, certificate not checked), `verify-ca` (the certificate is signed by a trusted
//! CA), `verify-full` (and names the host). Trusted CAs are the system's roots plus
//! `tls.ca_file`. With `tls.ca_file`, `prefer` and `require` check the certificate as `verify-ca`
//! does (libpq does the same with a root certificate file), and no `sslmode` means
//! `verify-full`: a private CA is given to be checked against.

use std::fmt::Write as _;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::SslMode as DriverSslMode;
use postgres::{Client, Config, NoTls};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::Error;
use crate::table::{DatabaseUrl, PostgresTarget};

/// How long connecting may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `sslmode` of the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The URL, read.
#[derive(Debug)]
pub(super) struct Settings {
    pub(super) config: Config,
    /// `None`: not given.
    pub(super) ssl_mode: Option<SslMode>,
}

/// Reads `url` as the driver does, without connecting. The error is for people: it never
/// holds the password.
pub(super) fn settings(url: &DatabaseUrl) -> Result<Settings, String> {
    read_settings(url).map_err(|message| scrub(&message, url))
}

fn read_settings(url: &DatabaseUrl) -> Result<Settings, String> {
    let text = url.expose();
    let Some((scheme, _)) = text.split_once("://") else {
        return Err(format!(
            "`{}` is not a PostgreSQL URL: it starts with `postgres://` or `postgresql://`",
            url.masked()
        ));
    };
    if scheme != "postgres" && scheme != "postgresql" {
        return Err(format!(
            "`{scheme}://` is not a PostgreSQL URL: it starts with `postgres://` or `postgresql://`"
        ));
    }
    // The driver refuses `verify-ca` and `verify-full`: `sslmode` is taken out and read here.
    let (base, query) = text.split_once('?').unwrap_or((text, ""));
    let mut ssl_mode = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", value)) => {
                ssl_mode = Some(match value {
                    "disable" => SslMode::Disable,
                    "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => {
                        // Shown only if it looks like a word: never a piece of a password.
                        let shown = if other.len() <= 20
                            && other.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                        {
                            format!("`sslmode={other}` is not a mode")
                        } else {
                            "`sslmode` has a value that is not a mode".to_owned()
                        };
                        return Err(format!(
                            "{shown}: use `disable`, `prefer`, `require`, `verify-ca` or \
                             `verify-full`"
                        ));
                    }
                });
            }
            Some(("sslrootcert", _)) => {
                return Err(
                    "`sslrootcert` is not read by etl: give the CA file as `tls.ca_file`".into(),
                );
            }
            _ => rest.push(pair),
        }
    }
    let stripped = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let config =
        Config::from_str(&stripped).map_err(|e| format!("`{}`: {}", url.masked(), chain(&e)))?;
    if config.get_hosts().is_empty() {
        return Err(format!("`{}` names no host", url.masked()));
    }
    Ok(Settings { config, ssl_mode })
}

/// Connects to the server of `target`, with TLS as `sslmode` and `tls.ca_file` say.
pub(super) fn connect(target: &PostgresTarget, sink: &str) -> Result<Client, Error> {
    let url = &target.url;
    let failed = |message: String| Error::Connect {
        sink: sink.to_owned(),
        target: url.masked(),
        message: scrub(&message, url),
    };
    let Settings {
        mut config,
        ssl_mode,
    } = settings(url).map_err(failed)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("etl");
    }
    let ca_file = target.ca_file.as_deref();
    let mode = match (ssl_mode, ca_file) {
        (Some(mode), _) => mode,
        (None, Some(_)) => SslMode::VerifyFull,
        (None, None) => SslMode::Prefer,
    };
    let client = if mode == SslMode::Disable {
        config.ssl_mode(DriverSslMode::Disable);
        config.connect(NoTls)
    } else {
        config.ssl_mode(if mode == SslMode::Prefer {
            DriverSslMode::Prefer
        } else {
            DriverSslMode::Require
        });
        let tls = tls_config(mode, ca_file).map_err(failed)?;
        config.connect(MakeRustlsConnect::new(tls))
    };
    client.map_err(|e| failed(chain(&e)))
}

/// The rustls setup of `mode`.
fn tls_config(mode: SslMode, ca_file: Option<&Path>) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    let check = match (mode, ca_file) {
        (SslMode::VerifyFull, _) => Check::Full,
        (SslMode::VerifyCa, _) | (SslMode::Prefer | SslMode::Require, Some(_)) => Check::Chain,
        _ => Check::Nothing,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Nothing => Arc::new(AnyCertificate(provider)),
        Check::Chain | Check::Full => {
            let roots = Arc::new(roots(ca_file)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| format!("cannot set up TLS: {e}"))?;
            if check == Check::Full {
                webpki
            } else {
                Arc::new(AnyName(webpki))
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    Full,
}

/// The system's roots, and the certificates of `ca_file`.
fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    // Unreadable system certificates are skipped, as TLS clients do; `tls.ca_file` is not.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = ca_file {
        let shown = path.display();
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| format!("cannot read `tls.ca_file` `{shown}`: {e}"))?;
        if certs.is_empty() {
            return Err(format!("`tls.ca_file` `{shown}` holds no PEM certificate"));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("`tls.ca_file` `{shown}`: {e}"))?;
        }
    }
    Ok(roots)
}

/// `sslmode=require` without a CA: the connection is encrypted, the certificate not checked
/// (libpq's meaning). Signatures are still checked, so the handshake itself is sound.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain is checked against the trusted CAs, the host name is not.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The chain is checked before the name: a name error means the chain was trusted.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The driver's error for people: the server's own message (with its detail and hint) or the
/// error and its causes (`error connecting to server: Connection refused (os error 111)`).
pub(super) fn chain(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = db.message().to_owned();
        if let Some(detail) = db.detail() {
            let _ = write!(text, " ({detail})");
        }
        if let Some(hint) = db.hint() {
            let _ = write!(text, "; {hint}");
        }
        if let Some(place) = db.where_() {
            let _ = write!(text, " [{place}]");
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// `message` with the password of `url`, if it somehow appears, masked. The driver's messages
/// do not hold it; this keeps it so if one ever does.
pub(super) fn scrub(message: &str, url: &DatabaseUrl) -> String {
    match password(url.expose()) {
        Some(password) if password.len() >= 3 => message.replace(password, "***"),
        _ => message.to_owned(),
    }
}

/// The password of the user part of a URL (which ends at the last `@`, as in
/// `DatabaseUrl::masked`), or of a `password=` parameter.
fn password(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    if let Some((user, _)) = rest.rsplit_once('@') {
        if let Some((_, password)) = user.split_once(':') {
            return Some(password);
        }
    }
    let query = rest.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("password="))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> DatabaseUrl {
        DatabaseUrl::new(text)
    }

    #[test]
    fn sslmode_is_read_here_with_the_modes_the_driver_lacks() {
        for (text, mode) in [
            ("postgres://u:p@h/d", None),
            ("postgres://u:p@h/d?sslmode=disable", Some(SslMode::Disable)),
            (
                "postgresql://u@h:5433/d?sslmode=verify-ca",
                Some(SslMode::VerifyCa),
            ),
            (
                "postgres://u@h/d?application_name=x&sslmode=verify-full&connect_timeout=3",
                Some(SslMode::VerifyFull),
            ),
        ] {
            let s = settings(&url(text)).unwrap();
            assert_eq!(s.ssl_mode, mode, "{text}");
        }
        let s = settings(&url("postgres://u@h/d?application_name=x&sslmode=require")).unwrap();
        assert_eq!(s.config.get_application_name(), Some("x"));
    }

    #[test]
    fn bad_urls_are_refused_without_the_password() {
        for (text, expected) in [
            ("mysql://u:s3cret@h/d", "`mysql://` is not a PostgreSQL URL"),
            ("u:s3cret@h/d", "is not a PostgreSQL URL"),
            (
                "postgres://u:s3cret@h/d?sslmode=always",
                "`sslmode=always` is not a mode",
            ),
            (
                "postgres://u:s3cret@h/d?sslrootcert=/ca.pem",
                "`tls.ca_file`",
            ),
            ("postgres://u:s3cret@h/d?colour=blue", "unknown option"),
            ("postgres://u:s3cret@h:port/d", "postgres://u:***@h:port/d"),
            (
                "postgres://u?sslmode=verify-full:s3cret@h/d",
                "`sslmode` has a value that is not a mode",
            ),
        ] {
            let e = settings(&url(text)).unwrap_err();
            assert!(e.contains(expected), "{text}: {e}");
            assert!(!e.contains("s3cret"), "{text}: {e}");
        }
    }

    #[test]
    fn passwords_are_found_and_scrubbed() {
        assert_eq!(password("postgres://u:pw@h/d"), Some("pw"));
        assert_eq!(password("postgres://h/d?user=u&password=pw"), Some("pw"));
        assert_eq!(password("postgres://u@h/d"), None);
        assert_eq!(
            scrub("failed for s3cret!", &url("postgres://u:s3cret@h/d")),
            "failed for ***!"
        );
    }
}
