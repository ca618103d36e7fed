//! Integration tests of the checkers crate, one module per area.

mod support;

mod availability;
mod election;
mod fencing;
mod leaders;
mod lost;
mod property;
mod reader;
mod recorder;
mod results;
