//! `Tls::Trust`: the TLS configuration that trusts the certificates of one PEM file, both as
//! roots and as pinned server certificates.
//!
//! reqwest's own `tls_certs_only` trusts certificates as roots only, and webpki refuses a
//! CA-signed server certificate given as a root without its CA (the chain cannot be built).
//! The verifier here adds pinning: a server whose certificate is byte for byte one of the
//! file's is trusted whatever signed it. Everything else goes to the webpki verifier, so a
//! CA file (with intermediates sent by the server) works as before.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Cause, Error};

/// The rustls client configuration that trusts the PEM certificates in `path`, as roots and
/// pinned: [`Error::CertFile`] if it cannot be read, [`Error::BadCertFile`] if it holds no
/// usable certificate.
pub(crate) fn trust_file(path: &Path) -> Result<rustls::ClientConfig, Error> {
    let bad = |source: Option<Cause>| Error::BadCertFile {
        path: path.to_owned(),
        source,
    };
    let pem = std::fs::read(path).map_err(|source| Error::CertFile {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(Some(Box::new(e))))?;
    if certs.is_empty() {
        return Err(bad(None));
    }
    trust_config(certs).map_err(|e| bad(Some(e)))
}

/// The crypto provider of every connection: the process's default if the program installed one,
/// else ring, installed as the default, for reqwest (built without a provider of its own) takes
/// the default. ring rather than aws-lc-rs, reqwest's usual choice: aws-lc seeds its random
/// generator from CPU jitter, 65 ms of CPU at every start, 5% of a 512 MiB upload over HTTPS.
pub(crate) fn crypto_provider() -> Arc<CryptoProvider> {
    if let Some(provider) = CryptoProvider::get_default() {
        return provider.clone();
    }
    // Losing a race with another thread's install leaves that one the default: use it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The rustls client configuration for `Tls::Trust`, built as reqwest builds its own (same
/// crypto provider, TLS 1.2 and 1.3, SNI on, ALPN `http/1.1` since the client is HTTP/1 only)
/// but with [`PinnedOrWebPki`] as the verifier. `certs` must not be empty.
fn trust_config(certs: Vec<CertificateDer<'static>>) -> Result<rustls::ClientConfig, Cause> {
    let provider = crypto_provider();
    let mut roots = RootCertStore::empty();
    for cert in &certs {
        roots.add(cert.clone())?;
    }
    let webpki =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
    let verifier = PinnedOrWebPki {
        pinned: certs,
        webpki,
        provider: provider.clone(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Trusts a server certificate that is one of `pinned` (exactly), or that webpki verifies
/// against `pinned` as roots.
///
/// The rules, for the server's end-entity certificate:
///
/// - If its DER bytes equal one of the pinned certificates, its issuer is not looked at: the
///   user named this very certificate. It must still pass every check that does not depend
///   on the issuer (validity dates, server-authentication usage, not a CA certificate), and
///   it must be valid for the host name of the URL, exactly as a CA-verified certificate
///   must. The name check is kept because it costs nothing and keeps a pinned self-signed
///   certificate (which used to be verified through webpki as its own root) held to the
///   same rules as before; what pinning lifts is only the need for the issuer.
/// - Otherwise webpki verifies the chain to the pinned certificates as roots, the name and
///   the dates, as reqwest's `tls_certs_only` does; its errors (an unknown issuer for a
///   certificate that matches nothing) are returned unchanged, so they are classified as
///   verification failures.
/// - In both cases the handshake signatures are verified with the server certificate's key
///   by the crypto provider's algorithms: a server holding a pinned certificate but not its
///   private key fails the handshake.
#[derive(Debug)]
struct PinnedOrWebPki {
    pinned: Vec<CertificateDer<'static>>,
    webpki: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedOrWebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self
            .pinned
            .iter()
            .any(|pinned| pinned.as_ref() == end_entity.as_ref())
        {
            return self.webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
        }
        let cert = ParsedCertificate::try_from(end_entity)?;
        // With no roots and no intermediates webpki can only end in `UnknownIssuer`, and it
        // gets there only after the checks that do not depend on the issuer (dates, usage,
        // basic constraints) have passed; any other error is one of those checks failing.
        match verify_server_cert_signed_by_trust_anchor(
            &cert,
            &RootCertStore::empty(),
            &[],
            now,
            self.provider.signature_verification_algorithms.all,
        ) {
            Ok(()) | Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {}
            Err(other) => return Err(other),
        }
        rustls::client::verify_server_name(&cert, server_name)?;
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a default, ring's becomes it (reqwest, built without a provider, would panic
    /// on finding none); once there is one, every call gives that same provider.
    #[test]
    fn a_default_provider_is_installed_once_and_then_kept() {
        let first = crypto_provider();
        let installed = CryptoProvider::get_default().expect("a default is installed");
        assert!(Arc::ptr_eq(&first, installed));
        assert!(Arc::ptr_eq(&crypto_provider(), &first));
    }
}
