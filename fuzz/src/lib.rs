//! Harnesses for forge's cargo-fuzz targets, shared with the corpus replay
//! tests in the crates (which include these modules by path).

pub mod dispatch;
pub mod providers;
