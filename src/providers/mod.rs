//! Simulated payment providers, each one model with its real wire formats, status machine,
//! retry schedule and APIs, built on the shared [`kit`].
//!
//! - [`kit`]: the runtime interface, webhook sender, retry schedules, signatures, ground-truth
//!   book, paginated lists, rate limits, idempotency keys and API faults.
//! - [`midtrans`]: Midtrans (seed 001).
//! - [`fanvue`]: Fanvue (seed 002).
//! - [`stripe`]: Stripe Checkout Sessions and PaymentIntents (seed 004).
//! - [`paystack`]: Paystack transactions, verify and `charge.success` webhooks (seed 003).
pub mod fanvue;
pub mod kit;
pub mod midtrans;
pub mod paystack;
pub mod stripe;
