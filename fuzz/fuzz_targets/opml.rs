//! OPML import (`opml::read`) on any bytes, and on OPML documents built
//! from the input with feed outlines among junk in several encodings: must
//! never panic, and must return or report every feed outline (see
//! `fuzz/opml_input.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../opml_input.rs"]
mod opml_input;

fuzz_target!(|data: &[u8]| opml_input::check(data));
