//! Docker hosts named by `--docker-host`: what a URL may say, connecting to it, and the
//! address at which the host's published ports are reached.
//!
//! A URL is `unix:///path`, `tcp://HOST:PORT` (TLS when `DOCKER_TLS_VERIFY` is set, with
//! the certificates in `DOCKER_CERT_PATH`), `https://HOST:PORT`, or `ssh://USER@HOST`
//! (the `ssh` program and its configuration, which gives the port when it is not 22; the
//! remote user must be allowed to use docker, and the remote `docker` CLI is run as
//! `docker system dial-stdio`). A unix socket or a loopback address is a daemon on this machine: its nodes
//! are reached at the gateway of the run's network there, which only this machine's
//! containers and processes can reach. Any other host is reached at the address in its
//! URL, which the other hosts and the controller must be able to reach.

use std::time::Duration;

use bollard::Docker;

use super::RuntimeError;

/// How long one ping of a host may take before the host counts as not answering.
pub const HOST_PING_TIMEOUT_MS: u64 = 3000;

/// A `--docker-host` value, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostUrl {
    pub url: String,
    /// The host name or address in the URL (`None` for a unix socket).
    pub name: Option<String>,
}

impl HostUrl {
    /// Check one URL; the error says what is wrong with it.
    pub fn parse(s: &str) -> Result<HostUrl, String> {
        let s = s.trim();
        let bad = |why: &str| {
            Err(format!(
                "--docker-host {s:?}: {why}; expected unix:///PATH, tcp://HOST:PORT, https://HOST:PORT or ssh://USER@HOST"
            ))
        };
        let Some((scheme, rest)) = s.split_once("://") else {
            return bad("no scheme");
        };
        match scheme {
            "unix" => {
                if !rest.starts_with('/') || rest.len() < 2 {
                    return bad("a unix socket needs an absolute path");
                }
                Ok(HostUrl {
                    url: s.to_string(),
                    name: None,
                })
            }
            "tcp" | "http" | "https" => {
                let authority = rest.trim_end_matches('/');
                if authority.contains('/') || authority.contains('@') {
                    return bad("a TCP host is HOST:PORT and nothing else");
                }
                let Some((host, port)) = authority.rsplit_once(':') else {
                    return bad("no port");
                };
                if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
                    return bad("no host, or a port that is not 1 to 65535");
                }
                Ok(HostUrl {
                    url: s.to_string(),
                    name: Some(host.trim_matches(['[', ']']).to_string()),
                })
            }
            "ssh" => {
                let authority = rest.trim_end_matches('/');
                let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                if host.is_empty() || authority.contains('/') {
                    return bad("an ssh host is [USER@]HOST");
                }
                // The ssh transport hands `HOST:PORT` to ssh as one host name, which ssh
                // cannot resolve: the port has to come from ssh's own configuration.
                if host.contains(':') {
                    return bad(
                        "the port cannot be given in an ssh URL; set it in ssh's configuration \
                         (`Host NAME` then `Port N` in ~/.ssh/config) and give ssh://USER@NAME",
                    );
                }
                Ok(HostUrl {
                    url: s.to_string(),
                    name: Some(host.to_string()),
                })
            }
            _ => bad("unknown scheme"),
        }
    }

    /// A daemon on this machine: a unix socket, or TCP to a loopback address.
    pub fn is_local(&self) -> bool {
        match &self.name {
            None => true,
            Some(n) => {
                n == "localhost"
                    || n.parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        }
    }

    /// Connect (lazily: nothing is sent until the first call).
    pub fn connect(&self) -> Result<Docker, RuntimeError> {
        Docker::connect_with_host(&self.url)
            .map_err(|e| RuntimeError::Docker(format!("docker host {}: {e}", self.url)))
    }
}

/// Check every value and split comma lists; duplicates are refused.
pub fn parse_hosts(values: &[String]) -> Result<Vec<HostUrl>, String> {
    let mut out: Vec<HostUrl> = Vec::new();
    for v in values.iter().flat_map(|v| v.split(',')) {
        if v.trim().is_empty() {
            continue;
        }
        let h = HostUrl::parse(v)?;
        if out.iter().any(|o| o.url == h.url) {
            return Err(format!("--docker-host {:?} is given twice", h.url));
        }
        out.push(h);
    }
    Ok(out)
}

/// Whether a host answers within [`HOST_PING_TIMEOUT_MS`]; why not if it does not.
pub async fn ping(docker: &Docker) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_millis(HOST_PING_TIMEOUT_MS), docker.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {HOST_PING_TIMEOUT_MS} ms")),
    }
}

/// Connect and ask for the API version the daemon speaks, bounded.
pub async fn connect_checked(host: &HostUrl) -> Result<Docker, RuntimeError> {
    let d = host.connect()?;
    let negotiated = tokio::time::timeout(
        Duration::from_millis(HOST_PING_TIMEOUT_MS),
        d.negotiate_version(),
    )
    .await;
    match negotiated {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(RuntimeError::Docker(format!(
            "docker host {} does not answer as a Docker Engine API: {e}",
            host.url
        ))),
        Err(_) => Err(RuntimeError::Docker(format!(
            "docker host {} does not answer within {HOST_PING_TIMEOUT_MS} ms",
            host.url
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        let h = HostUrl::parse("tcp://10.0.0.5:2376").unwrap();
        assert_eq!(h.name.as_deref(), Some("10.0.0.5"));
        assert!(!h.is_local());
        assert!(HostUrl::parse("tcp://127.0.0.1:2375").unwrap().is_local());
        assert!(HostUrl::parse("unix:///var/run/docker.sock")
            .unwrap()
            .is_local());
        let s = HostUrl::parse("ssh://ops@rack1.example").unwrap();
        assert_eq!(s.name.as_deref(), Some("rack1.example"));
        let port = HostUrl::parse("ssh://ops@rack1.example:2222").unwrap_err();
        assert!(port.contains("~/.ssh/config"), "{port}");
        for bad in [
            "docker.example:2375",
            "tcp://host",
            "tcp://host:0",
            "tcp://:2375",
            "unix://relative",
            "ftp://x:1",
            "ssh://",
        ] {
            let e = HostUrl::parse(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn lists_split_on_commas_and_refuse_duplicates() {
        let v = vec![
            "unix:///var/run/docker.sock,tcp://127.0.0.1:2375".to_string(),
            "tcp://10.0.0.9:2375".to_string(),
        ];
        assert_eq!(parse_hosts(&v).unwrap().len(), 3);
        let twice = vec!["tcp://a:1".to_string(), "tcp://a:1".to_string()];
        assert!(parse_hosts(&twice).unwrap_err().contains("twice"));
    }
}
