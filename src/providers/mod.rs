//! Simulated payment providers.
pub mod midtrans;
