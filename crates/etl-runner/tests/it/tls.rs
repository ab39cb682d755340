//! https with a private CA and a client certificate, and the standard proxy variables.

use etl_mockapi::{MockConfig, TlsServer};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use crate::{etl, expected_report, mock, report_in, run_variant};

struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()]);
    let (client_cert, client_key) = leaf(vec!["etl-client".into()]);
    Pki {
        ca: ca.pem(),
        server_cert,
        server_key,
        client_cert,
        client_key,
    }
}

#[test]
fn https_with_a_private_ca_and_a_client_certificate() {
    let pki = pki();
    let api = mock(MockConfig {
        tls: Some(TlsServer {
            cert_chain_pem: pki.server_cert.clone(),
            key_pem: pki.server_key.clone(),
            client_ca_pem: Some(pki.ca.clone()),
        }),
        ..MockConfig::default()
    });
    assert!(api.url().starts_with("https://"));
    let files = tempfile::tempdir().unwrap();
    let path = |name: &str, text: &str| {
        let p = files.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let (ca, cert, key) = (
        path("ca.pem", &pki.ca),
        path("client.pem", &pki.client_cert),
        path("client.key", &pki.client_key),
    );
    let accept = "  headers: { Accept: application/json }";

    let tls = format!(
        "{accept}\n  tls: {{ ca_file: \"{ca}\", client_cert: \"{cert}\", client_key: \"{key}\" }}"
    );
    let (dir, out) = run_variant(&api, &[(accept, &tls)], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(report_in(dir.path()), expected_report());

    // Without the client certificate, the server refuses the handshake.
    let failures = api.stats().tls_failures;
    let no_client = format!("{accept}\n  tls: {{ ca_file: \"{ca}\" }}");
    let (_, out) = run_variant(
        &api,
        &[(accept, &no_client), ("max_attempts: 5", "max_attempts: 1")],
        &[],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(api.stats().tls_failures > failures);

    // Without the CA, the client does not trust the server.
    let (_, out) = run_variant(&api, &[("max_attempts: 5", "max_attempts: 1")], &[]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.to_lowercase().contains("certificate"),
        "{}",
        out.stderr
    );
}

#[test]
fn tls_files_are_checked_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.pem"), "not a certificate").unwrap();
    let yaml = "version: 1\nhttp:\n  base_url: https://api.example.com\n  tls: { ca_file: bad.pem, client_cert: missing.pem }\nsources:\n  s: { endpoint: /x }\nsinks:\n  o: { from: s, format: csv, path: o.csv }\n";
    std::fs::write(dir.path().join("p.yaml"), yaml).unwrap();
    let out = etl(dir.path(), &["validate", "p.yaml"], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("`http.tls.ca_file`: `bad.pem` holds no PEM certificate"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_standard_proxy_variables_are_honoured() {
    let proxy = mock(MockConfig::default());
    let replacement = "  base_url: http://api.example.invalid";
    let (dir, out) = run_variant(
        &proxy,
        &[(
            "  base_url: ${API_BASE_URL:-https://jsonplaceholder.typicode.com}",
            replacement,
        )],
        &[("HTTP_PROXY", &proxy.url())],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(report_in(dir.path()), expected_report());
    let stats = proxy.stats();
    assert_eq!(stats.proxied, stats.requests, "{stats:?}");
}
