//! Converters from splitbrain histories to linearizability operations.
