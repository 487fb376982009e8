-- Seed 004's tables (G|Barbers), portable across SQLite, PostgreSQL and MySQL: BIGINT epoch
-- milliseconds and money in minor units, VARCHAR keys and status words, no generated ids (every id
-- is the run's own number), so one file serves every backend.
--
-- Bookings and appointments point at each other (`appointment_id`, `booking_id`) as in the
-- seed; slots carry no reference to bookings (the seed queries them by index).
CREATE TABLE barbers (
    id BIGINT NOT NULL PRIMARY KEY,
    name VARCHAR(64) NOT NULL
);

CREATE TABLE slots (
    id BIGINT NOT NULL PRIMARY KEY,
    barber_id BIGINT NOT NULL,
    starts_at BIGINT NOT NULL,
    is_booked INTEGER NOT NULL,
    last_updated BIGINT NOT NULL
);

CREATE TABLE bookings (
    id BIGINT NOT NULL PRIMARY KEY,
    slot_id BIGINT NOT NULL,
    barber_id BIGINT NOT NULL,
    customer VARCHAR(64) NOT NULL,
    session_id VARCHAR(96) NOT NULL,
    payment_intent_id VARCHAR(64) NULL,
    status VARCHAR(16) NOT NULL,
    payment_status VARCHAR(16) NOT NULL,
    appointment_id BIGINT NULL,
    amount BIGINT NOT NULL,
    hold_expires_at BIGINT NOT NULL,
    last_event_created BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX bookings_by_slot ON bookings (slot_id, status);
CREATE INDEX bookings_by_session ON bookings (session_id);

CREATE TABLE appointments (
    id BIGINT NOT NULL PRIMARY KEY,
    booking_id BIGINT NULL,
    barber_id BIGINT NOT NULL,
    slot_id BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX appointments_by_booking ON appointments (booking_id);

CREATE TABLE processed_events (
    event_id VARCHAR(64) NOT NULL PRIMARY KEY,
    event_type VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE slot_refresh (
    barber_id BIGINT NOT NULL PRIMARY KEY,
    refreshed_at BIGINT NOT NULL
);
