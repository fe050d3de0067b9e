//! TLS for ractor_cluster's node-to-node connections (the `cluster_tls_*`
//! keys). Mutual: every node presents a certificate signed by the cluster's
//! CA and accepts only peers that do, so a stranger on the network can
//! neither read the traffic nor join it, with or without the cookie.
//!
//! A node dials a peer at the address the peer listens on (its `cluster`
//! key), so a node's certificate names that address: an IP address SAN for
//! an IP, a DNS name otherwise.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Where a node's TLS material is: PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTls {
    /// This node's certificate chain.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The CA that signs every node's certificate.
    pub ca: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}: {1}")]
    Pem(PathBuf, String),
    #[error("{0}: no certificate in the file")]
    NoCertificate(PathBuf),
    #[error("the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("the CA: {0}")]
    Verifier(String),
    #[error("{0:?} is not a host name or IP address a certificate can name")]
    ServerName(String),
}

/// Both ends of node-to-node TLS, built once at start.
#[derive(Clone)]
pub struct PeerTls {
    pub acceptor: TlsAcceptor,
    pub connector: TlsConnector,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerTls")
    }
}

impl PeerTls {
    pub fn load(files: &ClusterTls) -> Result<PeerTls, TlsError> {
        let chain = certificates(&files.cert)?;
        let key = PrivateKeyDer::from_pem_file(&files.key)
            .map_err(|e| TlsError::Pem(files.key.clone(), e.to_string()))?;
        let mut roots = rustls::RootCertStore::empty();
        for ca in certificates(&files.ca)? {
            roots.add(ca)?;
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())?;
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        Ok(PeerTls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }
}

/// The name a peer's certificate must carry: the host of its cluster address.
pub fn server_name(addr: &str) -> Result<ServerName<'static>, TlsError> {
    let host = match addr.rsplit_once(':') {
        Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
        None => addr,
    };
    ServerName::try_from(host.to_string()).map_err(|_| TlsError::ServerName(addr.to_string()))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::Pem(path.to_path_buf(), e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(path.to_path_buf(), e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Ca {
        issuer: Issuer<'static, KeyPair>,
        pem: String,
    }

    fn ca() -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A node's files: its certificate for 127.0.0.1 signed by `ca`, its key
    /// and the CA `trusts`.
    fn node_files(dir: &Path, name: &str, ca: &Ca, trusts: &Ca) -> ClusterTls {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        let cert = params.signed_by(&key, &ca.issuer).unwrap();
        let files = ClusterTls {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
            ca: dir.join(format!("{name}-ca.crt")),
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        std::fs::write(&files.ca, &trusts.pem).unwrap();
        files
    }

    /// One TLS exchange over loopback between a server and a client; `Ok`
    /// when a byte crossed both ways.
    async fn exchange(server: &PeerTls, client: &PeerTls) -> Result<(), String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = server.acceptor.clone();
        let serving = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
            let mut b = [0u8; 1];
            tls.read_exact(&mut b).await.map_err(|e| e.to_string())?;
            tls.write_all(&b).await.map_err(|e| e.to_string())?;
            tls.flush().await.map_err(|e| e.to_string())
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = server_name(&addr.to_string()).unwrap();
        let dialled = async {
            let mut tls = client
                .connector
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())?;
            tls.write_all(b"x").await.map_err(|e| e.to_string())?;
            let mut b = [0u8; 1];
            tls.read_exact(&mut b).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(())
        }
        .await;
        let served = serving.await.unwrap();
        dialled.and(served)
    }

    #[tokio::test]
    async fn nodes_of_one_ca_talk_and_strangers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (ours, theirs) = (ca(), ca());
        let a = PeerTls::load(&node_files(dir.path(), "a", &ours, &ours)).unwrap();
        let b = PeerTls::load(&node_files(dir.path(), "b", &ours, &ours)).unwrap();
        exchange(&a, &b).await.expect("two nodes of the cluster");
        exchange(&b, &a).await.expect("either way round");
        // A certificate from another CA is refused by the server...
        let stranger = PeerTls::load(&node_files(dir.path(), "s", &theirs, &ours)).unwrap();
        assert!(exchange(&a, &stranger).await.is_err());
        // ...and a server with one is refused by the client.
        assert!(exchange(&stranger, &a).await.is_err());
    }

    #[test]
    fn missing_or_wrong_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let ours = ca();
        let good = node_files(dir.path(), "a", &ours, &ours);
        let missing = ClusterTls {
            cert: dir.path().join("nope.crt"),
            ..good.clone()
        };
        let e = PeerTls::load(&missing).unwrap_err().to_string();
        assert!(e.contains("nope.crt"), "{e}");
        let swapped = ClusterTls {
            cert: good.key.clone(),
            ..good.clone()
        };
        let e = PeerTls::load(&swapped).unwrap_err().to_string();
        assert!(e.contains("a.key") && e.contains("no certificate"), "{e}");
    }

    #[test]
    fn the_server_name_is_the_host_of_the_cluster_address() {
        assert!(matches!(
            server_name("10.0.0.5:9090").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[::1]:9090").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("node1.internal:9090").unwrap(),
            ServerName::DnsName(_)
        ));
        assert!(server_name("bad host:1").is_err());
    }
}
