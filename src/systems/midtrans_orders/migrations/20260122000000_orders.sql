-- Seed 001's tables. Portable SQL for SQLite, PostgreSQL and MySQL/MariaDB: BIGINT money in
-- minor units (IDR × 100), BIGINT epoch milliseconds for times (same precision everywhere),
-- VARCHAR keys (MySQL cannot index TEXT without a prefix length).
CREATE TABLE orders (
    id BIGINT NOT NULL PRIMARY KEY,
    order_code VARCHAR(64) NOT NULL UNIQUE,
    status VARCHAR(16) NOT NULL,
    total_amount BIGINT NOT NULL,
    paid_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE order_payments (
    id BIGINT NOT NULL PRIMARY KEY,
    order_id BIGINT NOT NULL UNIQUE REFERENCES orders (id),
    transaction_id VARCHAR(64) NOT NULL,
    payment_method VARCHAR(32) NOT NULL,
    payment_status VARCHAR(16) NOT NULL,
    provider_status VARCHAR(32) NOT NULL,
    gross_amount BIGINT NOT NULL,
    paid_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE payment_sync_logs (
    id BIGINT NOT NULL PRIMARY KEY,
    order_code VARCHAR(64) NOT NULL,
    sync_type VARCHAR(16) NOT NULL,
    provider_status VARCHAR(32) NOT NULL,
    old_status VARCHAR(16) NULL,
    new_status VARCHAR(16) NULL,
    outcome VARCHAR(16) NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE fulfilments (
    id BIGINT NOT NULL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    source VARCHAR(16) NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX idx_order_payments_status ON order_payments (payment_status, created_at);
CREATE INDEX idx_sync_logs_order ON payment_sync_logs (order_code);
CREATE INDEX idx_fulfilments_order ON fulfilments (order_id);
