-- Seed 003's tables (bookings paid through Paystack, held in escrow), portable across SQLite,
-- PostgreSQL and MySQL: BIGINT epoch milliseconds, money in kobo, no generated ids.
--
-- `bookings.version` grows with every change to the booking or its payment: it is what the
-- sync endpoint's representation carries, and what a browser tab orders answers by.
CREATE TABLE bookings (
    id BIGINT NOT NULL PRIMARY KEY,
    customer BIGINT NOT NULL,
    reference VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL,
    version BIGINT NOT NULL,
    service_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE payments (
    reference VARCHAR(64) NOT NULL PRIMARY KEY,
    booking_id BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    escrow_credits BIGINT NOT NULL,
    releases BIGINT NOT NULL,
    refunds BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    changed_at BIGINT NOT NULL
);

-- Every payment status with the time it began: what "the server had" means to the invariants.
CREATE TABLE payment_history (
    reference VARCHAR(64) NOT NULL,
    seq BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (reference, seq)
);

-- charge.success webhooks already applied (Paystack sends no event id: dedupe on the reference).
CREATE TABLE webhook_refs (
    reference VARCHAR(64) NOT NULL PRIMARY KEY,
    at_ms BIGINT NOT NULL
);

-- The sync endpoint finds a customer's booking, and the jobs a booking's payment, on every
-- request: without these each is a scan of the whole table, and a poll costs more with every
-- customer.
CREATE INDEX bookings_customer ON bookings (customer);
CREATE INDEX payments_booking ON payments (booking_id);
