//! A notification body parsed in one pass ([`Notification::from_json`]).
//!
//! The derived `Deserialize` of [`Notification`] keeps unknown fields through `#[serde(flatten)]`,
//! which makes serde buffer the whole body as generic content and read it a second time. This
//! reader visits the object once: each known field straight into its place, each other field into
//! `extra`. It accepts exactly what the derived one accepts and builds the same value (a
//! differential test holds it to that); when it refuses a body, the derived parser is run on it
//! so the error, which a handler may answer with, is word for word the derived one's.
//!
//! A body in the plain shape the provider itself writes is read before any of this, by hand
//! (`super::plain`); this reader takes the others.
//!
//! What it does not do: replace the `Deserialize` impl (a `serde_json::Value` or another format
//! still goes through the derived one), or parse anything but a JSON object.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::Notification;

impl Notification {
    /// Parses a notification body from JSON bytes: the same result as
    /// `serde_json::from_slice::<Notification>`, errors included, read in one pass.
    pub fn from_json(body: &[u8]) -> Result<Notification, serde_json::Error> {
        // The shape the provider writes, read by hand; every other body through serde.
        if let Some(n) = super::plain::read(body) {
            return Ok(n);
        }
        match one_pass(body) {
            Ok(n) => Ok(n),
            // The derived parser's own words for what is wrong.
            Err(_) => serde_json::from_slice(body),
        }
    }
}

/// The one-pass read alone, whose errors are its own.
fn one_pass(body: &[u8]) -> Result<Notification, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let n = de.deserialize_map(OnePass)?;
    de.end()?;
    Ok(n)
}

/// The fields [`Notification`] names, and any other key.
enum Field {
    TransactionTime,
    TransactionStatus,
    TransactionId,
    StatusMessage,
    StatusCode,
    SignatureKey,
    PaymentType,
    OrderId,
    MerchantId,
    GrossAmount,
    FraudStatus,
    Currency,
    SettlementTime,
    Other(String),
}

impl<'de> serde::Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_identifier(FieldVisitor)
    }
}

struct FieldVisitor;

impl Visitor<'_> for FieldVisitor {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Field, E> {
        Ok(match key {
            "transaction_time" => Field::TransactionTime,
            "transaction_status" => Field::TransactionStatus,
            "transaction_id" => Field::TransactionId,
            "status_message" => Field::StatusMessage,
            "status_code" => Field::StatusCode,
            "signature_key" => Field::SignatureKey,
            "payment_type" => Field::PaymentType,
            "order_id" => Field::OrderId,
            "merchant_id" => Field::MerchantId,
            "gross_amount" => Field::GrossAmount,
            "fraud_status" => Field::FraudStatus,
            "currency" => Field::Currency,
            "settlement_time" => Field::SettlementTime,
            other => Field::Other(other.to_owned()),
        })
    }
}

struct OnePass;

/// Sets a field seen for the first time; a second sighting is an error, as in the derived parser.
fn once<E: de::Error, T>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = Some(value);
    Ok(())
}

impl<'de> Visitor<'de> for OnePass {
    type Value = Notification;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct Notification")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Notification, A::Error> {
        // Optional strings read `null` as empty (`null_as_default`); `Option` fields read it as
        // absent; the five required ones refuse it.
        let mut transaction_time = None;
        let mut transaction_status = None;
        let mut transaction_id = None;
        let mut status_message = None;
        let mut status_code = None;
        let mut signature_key = None;
        let mut payment_type = None;
        let mut order_id = None;
        let mut merchant_id = None;
        let mut gross_amount = None;
        let mut fraud_status: Option<Option<String>> = None;
        let mut currency = None;
        let mut settlement_time: Option<Option<String>> = None;
        let mut extra = serde_json::Map::new();
        let lenient = |v: Option<String>| v.unwrap_or_default();
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::TransactionTime => {
                    once(&mut transaction_time, lenient(map.next_value()?), "transaction_time")?;
                }
                Field::TransactionStatus => {
                    once(&mut transaction_status, map.next_value::<String>()?, "transaction_status")?;
                }
                Field::TransactionId => once(&mut transaction_id, lenient(map.next_value()?), "transaction_id")?,
                Field::StatusMessage => once(&mut status_message, lenient(map.next_value()?), "status_message")?,
                Field::StatusCode => once(&mut status_code, map.next_value::<String>()?, "status_code")?,
                Field::SignatureKey => once(&mut signature_key, map.next_value::<String>()?, "signature_key")?,
                Field::PaymentType => once(&mut payment_type, lenient(map.next_value()?), "payment_type")?,
                Field::OrderId => once(&mut order_id, map.next_value::<String>()?, "order_id")?,
                Field::MerchantId => once(&mut merchant_id, lenient(map.next_value()?), "merchant_id")?,
                Field::GrossAmount => once(&mut gross_amount, map.next_value::<String>()?, "gross_amount")?,
                Field::FraudStatus => once(&mut fraud_status, map.next_value()?, "fraud_status")?,
                Field::Currency => once(&mut currency, lenient(map.next_value()?), "currency")?,
                Field::SettlementTime => once(&mut settlement_time, map.next_value()?, "settlement_time")?,
                Field::Other(name) => {
                    let value: serde_json::Value = map.next_value()?;
                    extra.insert(name, value);
                }
            }
        }
        let required = |v: Option<String>, name| v.ok_or_else(|| de::Error::missing_field(name));
        Ok(Notification {
            transaction_time: transaction_time.unwrap_or_default(),
            transaction_status: required(transaction_status, "transaction_status")?,
            transaction_id: transaction_id.unwrap_or_default(),
            status_message: status_message.unwrap_or_default(),
            status_code: required(status_code, "status_code")?,
            signature_key: required(signature_key, "signature_key")?,
            payment_type: payment_type.unwrap_or_default(),
            order_id: required(order_id, "order_id")?,
            merchant_id: merchant_id.unwrap_or_default(),
            gross_amount: required(gross_amount, "gross_amount")?,
            fraud_status: fraud_status.flatten(),
            currency: currency.unwrap_or_default(),
            settlement_time: settlement_time.flatten(),
            extra,
        })
    }
}

#[cfg(test)]
mod tests;
