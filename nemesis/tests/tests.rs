//! Integration tests of the nemesis crate, one module per area.

mod util;

mod executor;
mod names;
mod packet;
mod partition;
mod primitive;
mod schedule;
mod validation;
