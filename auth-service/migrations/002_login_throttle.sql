-- Login throttling per (email, client address) and per client address, counted before the
-- password check (auth.h, "Login throttling"); replaces the per-email lock of 001.
DROP TABLE login_throttle;

CREATE TABLE login_pair (
    email    VARCHAR(254) NOT NULL,
    ip       VARCHAR(45) NOT NULL,
    failures INT NOT NULL DEFAULT 0,
    last_at  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (email, ip)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE login_address (
    ip           VARCHAR(45) NOT NULL PRIMARY KEY,
    attempts     INT NOT NULL DEFAULT 0,
    window_start BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
