//! ZooKeeper's `srvr` four-letter word: a server's own mode and last zxid, asked over a
//! plain TCP connection to the client port.

use checkers::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bound on a `srvr` answer; a real one is a few hundred bytes.
pub const SRVR_ANSWER_BYTES_MAX: u64 = 64 * 1024;

/// What a `srvr` answer says, as far as the adapter needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SrvrReport {
    /// `leader`, `follower`, `observer`, `standalone`; `None` when not serving.
    pub mode: Option<String>,
    /// The last zxid the server processed.
    pub zxid: Option<u64>,
}

impl SrvrReport {
    /// The epoch of the last zxid (its high 32 bits): each new leader starts a new one.
    pub fn epoch(&self) -> Option<u64> {
        self.zxid.map(|z| z >> 32)
    }
}

/// Sends `srvr` to `addr` and returns the whole answer; an error names the history's
/// `error` for a status op that did not answer.
pub async fn ask(addr: &str) -> Result<String, String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|_| ErrorCode::Unreachable.to_string())?;
    stream
        .write_all(b"srvr")
        .await
        .map_err(|_| ErrorCode::ConnectionLost.to_string())?;
    let mut answer = Vec::new();
    stream
        .take(SRVR_ANSWER_BYTES_MAX)
        .read_to_end(&mut answer)
        .await
        .map_err(|_| ErrorCode::ConnectionLost.to_string())?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Reads `Mode:` and `Zxid:` lines; a server that is not serving has neither.
pub fn parse(answer: &str) -> SrvrReport {
    let mut report = SrvrReport::default();
    for line in answer.lines() {
        if let Some(mode) = line.strip_prefix("Mode:") {
            report.mode = Some(mode.trim().to_string());
        } else if let Some(zxid) = line.strip_prefix("Zxid:") {
            let hex = zxid.trim().trim_start_matches("0x");
            report.zxid = u64::from_str_radix(hex, 16).ok();
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaders_answer_gives_mode_zxid_and_epoch() {
        let answer = "Zookeeper version: 3.8.0-debian, built on 2023-01-01\nLatency min/avg/max: 0/0.5/3\nReceived: 40\nSent: 39\nConnections: 2\nOutstanding: 0\nZxid: 0x300000007\nMode: leader\nNode count: 9\nProposal sizes last/min/max: 48/48/120\n";
        let report = parse(answer);
        assert_eq!(report.mode.as_deref(), Some("leader"));
        assert_eq!(report.zxid, Some(0x3_0000_0007));
        assert_eq!(report.epoch(), Some(3));
    }

    #[test]
    fn a_server_not_serving_has_no_mode() {
        let report = parse("This ZooKeeper instance is not currently serving requests\n");
        assert_eq!(report, SrvrReport::default());
        assert_eq!(report.epoch(), None);
    }
}
