//! One-line descriptions of messages, entries and responses for scripts and failures.

use checkers::ErrorCode;

use crate::core::{Command, Entry, EntryData, Message, MessageBody, Response};

pub fn describe_entry(e: &Entry) -> String {
    let what = match &e.data {
        EntryData::Noop => "noop".to_string(),
        EntryData::Command(c) => describe_command(c),
    };
    format!("{}/{} {what}", e.index, e.term)
}

fn describe_command(c: &Command) -> String {
    match c {
        Command::Acquire {
            election,
            client,
            ttl_ticks,
        } => format!("acquire {election} {client} ttl={ttl_ticks}"),
        Command::Release { election, token } => format!("release {election} {token}"),
        Command::Write {
            id,
            token,
            election,
        } => {
            let token = token.map_or("-".to_string(), |t| t.to_string());
            format!(
                "write {id} token={token} election={}",
                election.as_deref().unwrap_or("-")
            )
        }
        Command::Expire { election, token } => format!("expire {election} {token}"),
        Command::RegisterWrite { key, value } => format!("register-write {key}={value}"),
        Command::RegisterCas { key, from, to } => format!("register-cas {key} {from}->{to}"),
    }
}

pub fn describe_message(m: &Message) -> String {
    let head = format!("{}->{} {} t{}", m.from, m.to, m.body.kind(), m.term);
    let tail = match &m.body {
        MessageBody::PreVote {
            last_index,
            last_term,
        }
        | MessageBody::Vote {
            last_index,
            last_term,
        } => {
            format!("last={last_index}/{last_term}")
        }
        MessageBody::PreVoteResp { reject } | MessageBody::VoteResp { reject } => {
            if *reject { "rejected" } else { "granted" }.to_string()
        }
        MessageBody::Append {
            prev_index,
            prev_term,
            entries,
            commit,
        } => {
            let entries: Vec<_> = entries.iter().map(describe_entry).collect();
            format!(
                "prev={prev_index}/{prev_term} commit={commit} [{}]",
                entries.join(", ")
            )
        }
        MessageBody::AppendResp {
            reject: false,
            index,
            ..
        } => format!("ok index={index}"),
        MessageBody::AppendResp {
            reject: true,
            index,
            hint_index,
            hint_term,
        } => {
            format!("reject index={index} hint={hint_index}/{hint_term}")
        }
        MessageBody::Heartbeat { commit, seq, .. } => format!("commit={commit} seq={seq}"),
        MessageBody::HeartbeatResp { seq, .. } => format!("seq={seq}"),
    };
    format!("{head} {tail}")
}

pub fn describe_response(r: &Response) -> String {
    match r {
        Response::Acquired { token } => format!("acquired token={token}"),
        Response::Released => "released".to_string(),
        Response::Written { id, token } => {
            format!(
                "written {id} token={}",
                token.map_or("-".to_string(), |t| t.to_string())
            )
        }
        Response::Log { log } => {
            let ids: Vec<_> = log.iter().map(|w| w.id.as_str()).collect();
            format!("log [{}]", ids.join(" "))
        }
        Response::Holding { holding } => format!("holding={holding}"),
        Response::StaleToken => ErrorCode::StaleToken.to_string(),
        Response::Held { holder, token } => format!("held by {holder} token={token}"),
        Response::NotHolder => ErrorCode::NotHolder.to_string(),
        Response::NotLeader { leader } => {
            format!(
                "{} leader={}",
                ErrorCode::NotLeader,
                leader.as_deref().unwrap_or("-")
            )
        }
        Response::Dropped => "dropped".to_string(),
        Response::Register { value } => format!(
            "register={}",
            value.map_or("-".to_string(), |v| v.to_string())
        ),
        Response::RegisterSet => "register-set".to_string(),
        Response::CasMismatch { current } => format!(
            "{} current={}",
            ErrorCode::CasMismatch,
            current.map_or("-".to_string(), |v| v.to_string())
        ),
    }
}
