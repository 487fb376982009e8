//! The server's booking logic, one function per unit of work: create a booking with its PENDING
//! payment, move a payment to ESCROW when Paystack says success, claim a refund, finish it,
//! release the escrow when the service is done, and read a customer's representation for the
//! sync endpoint.
//!
//! A payment moves only forward: PENDING → ESCROW → RELEASED, or ESCROW → REFUNDING →
//! REFUNDED. Every move is one guarded `UPDATE … WHERE status = …`, so the webhook, the callback's
//! verify and the stuck-payment detector may race and retry: the first moves it, the others
//! find it moved. The `double-credit` flaw drops the guard on the callback's path;
//! `refund-before-claim` refunds after a mere check and writes REFUNDED without a guard.
//!
//! What it does not do: talk to Paystack (the app and jobs do) or decide when to retry.

use serde::{Deserialize, Serialize};

use crate::store::{SqlError, Tx, Value};

pub const PENDING: &str = "PENDING";
pub const ESCROW: &str = "ESCROW";
pub const REFUNDING: &str = "REFUNDING";
pub const RELEASED: &str = "RELEASED";
pub const REFUNDED: &str = "REFUNDED";

/// What the sync endpoint answers for one customer's booking: every field a tab shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rep {
    pub booking: i64,
    pub reference: String,
    /// BOOKED, COMPLETED, CANCELLED (the payment's status is its own field).
    pub status: String,
    pub payment: String,
    pub version: i64,
    /// Server time the representation was read (not part of the ETag).
    #[serde(default)]
    pub served_at: u64,
}

impl Rep {
    /// The bytes the ETag covers: every shown field (`payment` too, unless the flaw leaves it
    /// out), never `served_at`.
    pub fn etag(&self, with_payment: bool) -> String {
        use sha2::{Digest, Sha256};
        let covered = if with_payment {
            format!("{}|{}|{}|{}", self.booking, self.status, self.payment, self.version)
        } else {
            format!("{}|{}", self.booking, self.status)
        };
        let digest = Sha256::digest(covered.as_bytes());
        format!("\"{}\"", &hex::encode(digest)[..16])
    }
}

fn history(tx: &mut Tx, reference: &str, status: &str, now: i64) -> Result<(), SqlError> {
    let seq = tx.query_int("SELECT COUNT(*) FROM payment_history WHERE reference = ?", &[Value::from(reference)])?;
    tx.execute(
        "INSERT INTO payment_history (reference, seq, status, at_ms) VALUES (?, ?, ?, ?)",
        &[Value::from(reference), seq.into(), status.into(), now.into()],
    )?;
    Ok(())
}

fn bump(tx: &mut Tx, booking: i64, status: Option<&str>, now: i64) -> Result<(), SqlError> {
    match status {
        Some(s) => tx.execute(
            "UPDATE bookings SET status = ?, version = version + 1, updated_at = ? WHERE id = ?",
            &[s.into(), now.into(), booking.into()],
        )?,
        None => tx.execute(
            "UPDATE bookings SET version = version + 1, updated_at = ? WHERE id = ?",
            &[now.into(), booking.into()],
        )?,
    };
    Ok(())
}

/// Creates booking `id` for `customer` and its PENDING payment; a retry finds it and does
/// nothing.
pub fn create(
    tx: &mut Tx,
    id: i64,
    customer: i64,
    reference: &str,
    amount: i64,
    service_at: i64,
    now: i64,
) -> Result<(), SqlError> {
    if tx.query_opt("SELECT 1 FROM bookings WHERE id = ?", &[id.into()])?.is_some() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO bookings (id, customer, reference, status, version, service_at, created_at, updated_at) VALUES (?, ?, ?, 'BOOKED', 1, ?, ?, ?)",
        &[id.into(), customer.into(), Value::from(reference), service_at.into(), now.into(), now.into()],
    )?;
    tx.execute(
        "INSERT INTO payments (reference, booking_id, amount, status, escrow_credits, releases, refunds, created_at, changed_at) VALUES (?, ?, ?, 'PENDING', 0, 0, 0, ?, ?)",
        &[Value::from(reference), id.into(), amount.into(), now.into(), now.into()],
    )?;
    history(tx, reference, PENDING, now)
}

/// What moving a payment to ESCROW did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escrow {
    Moved,
    /// Already past PENDING (another path moved it).
    Already,
    NoPayment,
}

/// Paystack said success for `reference`: PENDING → ESCROW (the booking stays BOOKED). With
/// `unguarded` (the `double-credit` flaw, callback path) an ESCROW payment is credited again.
pub fn escrow(tx: &mut Tx, reference: &str, now: i64, unguarded: bool) -> Result<Escrow, SqlError> {
    let Some(r) =
        tx.query_opt("SELECT booking_id, status FROM payments WHERE reference = ?", &[Value::from(reference)])?
    else {
        return Ok(Escrow::NoPayment);
    };
    let (booking, status) = (r.int(0)?, r.text(1)?);
    let guard = if unguarded { "status IN ('PENDING', 'ESCROW')" } else { "status = 'PENDING'" };
    let n = tx.execute(
        &format!("UPDATE payments SET status = 'ESCROW', escrow_credits = escrow_credits + 1, changed_at = ? WHERE reference = ? AND {guard}"),
        &[now.into(), Value::from(reference)],
    )?;
    if n == 0 {
        return Ok(Escrow::Already);
    }
    if status == PENDING {
        history(tx, reference, ESCROW, now)?;
    }
    bump(tx, booking, None, now)?;
    Ok(if status == PENDING { Escrow::Moved } else { Escrow::Already })
}

/// Records a `charge.success` reference; true when it was already applied.
pub fn seen_webhook(tx: &mut Tx, reference: &str, now: i64) -> Result<bool, SqlError> {
    if tx.query_opt("SELECT 1 FROM webhook_refs WHERE reference = ?", &[Value::from(reference)])?.is_some() {
        return Ok(true);
    }
    tx.execute("INSERT INTO webhook_refs (reference, at_ms) VALUES (?, ?)", &[Value::from(reference), now.into()])?;
    Ok(false)
}

/// Moves booking `booking`'s payment to `to`, counting the move in `count`, guarded by
/// `status = from`; `from = None` writes whatever the status is now (`refund-before-claim`).
fn move_payment(
    tx: &mut Tx,
    booking: i64,
    from: Option<&str>,
    to: &str,
    booking_status: Option<&str>,
    count: &str,
    now: i64,
) -> Result<bool, SqlError> {
    let Some(r) = tx.query_opt("SELECT reference FROM payments WHERE booking_id = ?", &[booking.into()])? else {
        return Ok(false);
    };
    let reference = r.text(0)?;
    let mut params = vec![to.into(), now.into(), Value::from(&reference)];
    let guard = match from {
        Some(from) => {
            params.push(from.into());
            " AND status = ?"
        }
        None => "",
    };
    let n = tx.execute(
        &format!("UPDATE payments SET status = ?, {count} = {count} + 1, changed_at = ? WHERE reference = ?{guard}"),
        &params,
    )?;
    if n == 0 {
        return Ok(false);
    }
    history(tx, &reference, to, now)?;
    bump(tx, booking, booking_status, now)?;
    Ok(true)
}

/// The service was done: ESCROW → RELEASED, the booking COMPLETED. False when not in escrow.
pub fn release(tx: &mut Tx, booking: i64, now: i64) -> Result<bool, SqlError> {
    move_payment(tx, booking, Some(ESCROW), RELEASED, Some("COMPLETED"), "releases", now)
}

/// The customer cancels: ESCROW → REFUNDING (claimed before Paystack is asked, so a release
/// cannot slip in between). False when not in escrow.
pub fn claim_refund(tx: &mut Tx, booking: i64, now: i64) -> Result<bool, SqlError> {
    move_payment(tx, booking, Some(ESCROW), REFUNDING, Some("CANCELLED"), "refunds", now)
}

/// The payment's status for booking `booking` (`refund-before-claim`'s check before it refunds).
pub fn payment_status(tx: &mut Tx, booking: i64) -> Result<Option<String>, SqlError> {
    tx.query_opt("SELECT status FROM payments WHERE booking_id = ?", &[booking.into()])?.map(|r| r.text(0)).transpose()
}

/// `refund-before-claim`: Paystack refunded a payment checked to be in escrow a moment before,
/// so it is written REFUNDED (and the booking CANCELLED) whatever it is now: the check is
/// trusted, the write has no guard.
pub fn refunded_unclaimed(tx: &mut Tx, booking: i64, now: i64) -> Result<bool, SqlError> {
    move_payment(tx, booking, None, REFUNDED, Some("CANCELLED"), "refunds", now)
}

/// Paystack accepted the refund: REFUNDING → REFUNDED.
pub fn refunded(tx: &mut Tx, booking: i64, now: i64) -> Result<bool, SqlError> {
    let Some(r) = tx.query_opt("SELECT reference FROM payments WHERE booking_id = ?", &[booking.into()])? else {
        return Ok(false);
    };
    let reference = r.text(0)?;
    let n = tx.execute(
        "UPDATE payments SET status = 'REFUNDED', changed_at = ? WHERE reference = ? AND status = 'REFUNDING'",
        &[now.into(), Value::from(&reference)],
    )?;
    if n == 1 {
        history(tx, &reference, REFUNDED, now)?;
        bump(tx, booking, None, now)?;
    }
    Ok(n == 1)
}

/// The customer's booking as the sync endpoint answers it.
pub fn rep(tx: &mut Tx, customer: i64) -> Result<Option<Rep>, SqlError> {
    let row = tx.query_opt(
        "SELECT b.id, b.reference, b.status, p.status, b.version FROM bookings b JOIN payments p ON p.booking_id = b.id WHERE b.customer = ?",
        &[customer.into()],
    )?;
    row.map(|r| {
        Ok(Rep {
            booking: r.int(0)?,
            reference: r.text(1)?,
            status: r.text(2)?,
            payment: r.text(3)?,
            version: r.int(4)?,
            served_at: 0,
        })
    })
    .transpose()
}

/// Payments the stuck-payment detector looks at: PENDING longer than `after` ms, and refunds
/// claimed but not finished.
pub fn stuck(tx: &mut Tx, now: i64, after: i64) -> Result<Vec<(i64, String, String)>, SqlError> {
    let rows = tx.query(
        "SELECT booking_id, reference, status FROM payments WHERE (status = 'PENDING' AND created_at <= ?) OR status = 'REFUNDING' ORDER BY booking_id LIMIT 100",
        &[(now - after).into()],
    )?;
    rows.iter().map(|r| Ok((r.int(0)?, r.text(1)?, r.text(2)?))).collect()
}

/// Bookings whose service time has come and whose payment is in escrow.
pub fn due_release(tx: &mut Tx, now: i64) -> Result<Vec<i64>, SqlError> {
    let rows = tx.query(
        "SELECT b.id FROM bookings b JOIN payments p ON p.booking_id = b.id WHERE p.status = 'ESCROW' AND b.service_at <= ? ORDER BY b.id LIMIT 100",
        &[now.into()],
    )?;
    rows.iter().map(|r| r.int(0)).collect()
}
