-- A product's status may also be INACTIVE (hidden from everyone but admins), and a product
-- may have a thumbnail image URL (http or https, at most 2048 bytes; checked by the service).
ALTER TABLE product
    ADD COLUMN thumbnail_url VARCHAR(2048) NULL AFTER brand,
    ADD CONSTRAINT ck_product_status CHECK (status IN ('ACTIVE', 'INACTIVE', 'DELETED'));
