//! The exit codes every subcommand ends with (docs/design.md, "Exit codes"): one type,
//! so that a code is named where it is chosen and converted to a number in one place.

use std::process::ExitCode;

use checkers::Validity;

/// How a subcommand ends. Commands that give no verdict (`report`, `serve`, `clean`) end
/// [`Exit::Valid`] when they did what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exit {
    /// 0: valid, or done.
    Valid,
    /// 1: violations found.
    Violations,
    /// 2: bad usage or input, before anything ran.
    Usage,
    /// 3: unknown: no verdict could be reached.
    Unknown,
}

impl Exit {
    pub const ALL: [Exit; 4] = [Exit::Valid, Exit::Violations, Exit::Usage, Exit::Unknown];

    /// The process's exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Valid => 0,
            Exit::Violations => 1,
            Exit::Usage => 2,
            Exit::Unknown => 3,
        }
    }

    /// The exit named by a child's status, if it is one of ours.
    pub fn from_code(code: i32) -> Option<Exit> {
        Exit::ALL.into_iter().find(|e| i32::from(e.code()) == code)
    }
}

impl From<Validity> for Exit {
    fn from(valid: Validity) -> Exit {
        match valid {
            Validity::Valid => Exit::Valid,
            Validity::Invalid => Exit::Violations,
            Validity::Unknown => Exit::Unknown,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones_and_read_back() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3]);
        for exit in Exit::ALL {
            assert_eq!(Exit::from_code(i32::from(exit.code())), Some(exit));
        }
        assert_eq!(Exit::from_code(4), None);
        assert_eq!(Exit::from_code(-1), None);
    }

    #[test]
    fn a_verdict_becomes_its_exit() {
        assert_eq!(Exit::from(Validity::Valid), Exit::Valid);
        assert_eq!(Exit::from(Validity::Invalid), Exit::Violations);
        assert_eq!(Exit::from(Validity::Unknown), Exit::Unknown);
    }
}
