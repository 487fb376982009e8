//! Simulated payment providers.
pub mod fanvue;
pub mod midtrans;
